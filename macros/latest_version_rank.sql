{#- Rank of a row among the versions of its key, 1 = the current version
    (contract 2: latest by last_modified, ties broken deterministically).
    Order: last_modified desc, then extracted_at desc (the later landing),
    then a SHA-256 of the whole row, so the same Bronze rows always elect the
    same version whatever the physical order Spark reads them in. Use it in
    the select list of a relation whose rows have non-null ordering columns:
        select *, {{ latest_version_rank('customer_id') }} as version_rank -#}
{% macro latest_version_rank(key_column, order_columns=['last_modified', 'extracted_at']) -%}
    row_number() over (
        partition by {{ key_column }}
        order by
            {%- for column in order_columns %}
            {{ column }} desc,
            {%- endfor %}
            sha2(to_json(struct(*)), 256) desc
    )
{%- endmacro %}
