{% test expect_table_row_count_to_be_between(
    model, min_value=none, max_value=none, row_condition=none
) %}
with counted as (
    select count(*) as row_count
    from {{ model }}
    {{ spark_expectations.spark_expectations_where(row_condition) }}
)
select row_count
from counted
where false
    {%- if min_value is not none %} or row_count < {{ min_value }}{% endif %}
    {%- if max_value is not none %} or row_count > {{ max_value }}{% endif %}
{% endtest %}
