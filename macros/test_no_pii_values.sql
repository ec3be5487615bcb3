{#- PII leak guard (contract 2: raw email and phone exist only in Bronze):
    fails when any string column of the model holds an email- or
    phone-shaped value. Hash columns (hex) do not match. With landed_column
    (a timestamp set on every write of a row) and tag landed_scope, it reads
    only the rows written since it last passed in a pipeline run
    (landed_after): a row-by-row check. An argument, not dbt's `where`: the
    scan needs the model's relation for its columns, not a subquery. -#}
{% test no_pii_values(model, landed_column=none) %}
    {{ pii_values_query(model, landed_after(landed_column) if landed_column else none) }}
{% endtest %}
