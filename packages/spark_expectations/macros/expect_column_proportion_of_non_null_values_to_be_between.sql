{#- Completeness: the share of non-null values, between min_value and
    max_value (fractions, 0..1). An empty table fails: nothing is complete. -#}
{% test expect_column_proportion_of_non_null_values_to_be_between(
    model, column_name, min_value=none, max_value=1, row_condition=none
) %}
with shares as (
    select
        count(*) as row_count,
        count({{ column_name }}) as non_null_count,
        count({{ column_name }}) / nullif(count(*), 0) as non_null_share
    from {{ model }}
    {{ spark_expectations.spark_expectations_where(row_condition) }}
)
select *
from shares
where non_null_share is null
    {%- if min_value is not none %} or non_null_share < {{ min_value }}{% endif %}
    {%- if max_value is not none %} or non_null_share > {{ max_value }}{% endif %}
{% endtest %}
