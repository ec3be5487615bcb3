{#- PII leak guard (contract 2: raw email and phone exist only in Bronze):
    fails when any string column of the model holds an email- or
    phone-shaped value. Hash columns (hex) do not match. -#}
{% test no_pii_values(model) %}
    {{ pii_values_query(model) }}
{% endtest %}
