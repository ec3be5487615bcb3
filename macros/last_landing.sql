{#- The watermark of an incremental Silver model: the newest `extracted_at`
    its rows hold, as a scalar subquery over {{ this }} (1900-01-01 while it
    is empty). Every Bronze row the model has seen landed by then, and one
    write stamps all its rows with one time, so the rows that landed after
    it are exactly the ones still to merge:
        where extracted_at > {{ last_landing() }} -#}
{% macro last_landing() -%}
    (select coalesce(max(extracted_at), cast('1900-01-01' as timestamp)) from {{ this }})
{%- endmacro %}
