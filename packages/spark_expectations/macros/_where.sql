{#- The rows a test looks at: all, or those matching a row_condition. -#}
{% macro spark_expectations_where(row_condition) -%}
    {%- if row_condition %} where {{ row_condition }}{% endif -%}
{%- endmacro %}
