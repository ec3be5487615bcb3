{#- The rows a scoped row-by-row test of `relation` reads, as a condition
    (none while the test has no scope, so it reads every row): those written
    since it last passed, by `column`, a time set on every write of a row.
    With `key`, for a uniqueness test, every row whose key was written since:
    a new row's duplicate may be an old row, and a duplicate made since
    always holds a row written since, so its whole group is read. -#}
{% macro landed_rows(relation, column, key=none) -%}
    {%- if check_scope() is none -%}
        {{ return(none) }}
    {%- elif key is none -%}
        {{ return(landed_after(column)) }}
    {%- else -%}
        {{ return(
            key ~ ' in (select ' ~ key ~ ' from ' ~ relation
            ~ ' where ' ~ landed_after(column) ~ ')'
        ) }}
    {%- endif -%}
{%- endmacro %}
