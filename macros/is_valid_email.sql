{#- The contract's email check (contract 2): ^[^@\s]+@[^@\s]+\.[^@\s]+$
    over the whole value. Java's `$` also matches before a final line break,
    which the contract's \s excludes, so the pattern ends with \z (end of
    input). The backslashes are doubled for Spark's string literals. Null or
    empty is not a valid email: the result is never null. -#}
{% macro is_valid_email(value) -%}
    coalesce({{ value }} rlike '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+\\z', false)
{%- endmacro %}
