{% test expect_column_values_to_be_unique(model, column_name, row_condition=none) %}
select
    {{ column_name }} as duplicated_value,
    count(*) as occurrences
from {{ model }}
where {{ column_name }} is not null
    {%- if row_condition %} and ({{ row_condition }}){% endif %}
group by {{ column_name }}
having count(*) > 1
{% endtest %}
