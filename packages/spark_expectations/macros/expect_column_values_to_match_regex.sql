{#- Spark's rlike takes a Java regex. The pattern reaches SQL as a string
    literal, so its backslashes and quotes are escaped for Spark's parser. -#}
{% test expect_column_values_to_match_regex(model, column_name, regex, row_condition=none) %}
select *
from {{ model }}
where {{ column_name }} is not null
    {%- if row_condition %} and ({{ row_condition }}){% endif %}
    and not cast({{ column_name }} as string) rlike {{ spark_expectations.spark_expectations_string(regex) }}
{% endtest %}
