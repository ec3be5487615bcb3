{#- on-run-start guard: refuse to hash with an unset pepper. Spark leaves an
    unknown ${...} reference as literal text, which would make every hash a
    plain, guessable SHA-256. -#}
{% macro assert_pii_pepper() %}
    {% if execute %}
        {% set result = run_query(
            "select length('${spark.retailnova.pii_pepper}') as n, "
            ~ "'${spark.retailnova.pii_pepper}' like '$%' as unset"
        ) %}
        {% if result.columns['unset'].values()[0] or result.columns['n'].values()[0] < 32 %}
            {{ exceptions.raise_compiler_error(
                "The PII pepper is not set in this Spark session (spark.retailnova.pii_pepper, "
                ~ "from RETAILNOVA_PII_PEPPER); run dbt through `retailnova run`."
            ) }}
        {% endif %}
    {% endif %}
{% endmacro %}
