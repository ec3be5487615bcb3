{#- The rows a scoped row-by-row test of `relation` reads, as a condition
    (none while the test has no scope, so it reads every row): those written
    since it last passed, by `column`, a time set on every write of a row.
    With `key`, for a uniqueness test, every row whose key was written since:
    a new row's duplicate may be an old row, and a duplicate made since
    always holds a row written since, so its whole group is read. The keys
    written since are broadcast: Spark sizes a filtered table as the whole
    table, so it would sort-merge the semi-join and shuffle every key of the
    tested table (scale 100, 12.5 million lines). -#}
{% macro landed_rows(relation, column, key=none) -%}
    {%- if check_scope() is none -%}
        {{ return(none) }}
    {%- elif key is none -%}
        {{ return(landed_after(column)) }}
    {%- else -%}
        {{ return(
            key ~ ' in (select /*+ broadcast(landed) */ ' ~ key ~ ' from ' ~ relation
            ~ ' as landed where ' ~ landed_after(column) ~ ')'
        ) }}
    {%- endif -%}
{%- endmacro %}
