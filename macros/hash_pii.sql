{#- Keyed SHA-256 of a PII value (contract 2). The pepper is never in the SQL
    text, so never in dbt's artifacts: Spark substitutes it from the session
    conf spark.retailnova.pii_pepper, set by `retailnova run`. (A conf named
    like *secret* would not do: Spark substitutes its redacted value.) -#}
{% macro hash_pii(value) -%}
    case
        when {{ value }} is null then null
        else sha2(concat('${spark.retailnova.pii_pepper}', ':', {{ value }}), 256)
    end
{%- endmacro %}
