{#- One failing row when the newest value is older than `interval` `datepart`s
    (or the table is empty), none otherwise. -#}
{% test expect_row_values_to_have_recent_data(
    model, column_name, datepart="day", interval=1, row_condition=none
) %}
with latest as (
    select max({{ column_name }}) as latest_value
    from {{ model }}
    {{ spark_expectations.spark_expectations_where(row_condition) }}
)
select
    latest_value,
    current_timestamp() - interval {{ interval }} {{ datepart }} as oldest_allowed
from latest
where latest_value is null
    or cast(latest_value as timestamp) < current_timestamp() - interval {{ interval }} {{ datepart }}
{% endtest %}
