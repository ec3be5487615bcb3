{#- The rows a generic test reads (dbt calls this for the tested model only,
    never for a relationships test's parent): dbt's `where` config and, for a
    test tagged landed_scope whose meta names a landed_column, the rows
    written since the test last passed in a pipeline run (landed_rows; for
    `unique`, every row of a key written since; for a model's grouped column
    checks with unique columns, both: the rows written since and every row
    of each unique column's keys among them). The column must be set on
    every write that changes a row, so a row not written since was checked
    then, and no other row can change its outcome: a row-by-row test
    (not_null, accepted values, unique, a relationships test whose parents
    keep their keys or whose table has a whole-table check besides). -#}
{% macro spark__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- if config.get('where') -%}
        {%- do conditions.append('(' ~ config.get('where') ~ ')') -%}
    {%- endif -%}
    {%- set landed_column = (config.get('meta') or {}).get('landed_column') -%}
    {%- if landed_column and 'landed_scope' in model.tags -%}
        {%- set test = model.get('test_metadata') or {} -%}
        {%- set key = test.kwargs.column_name if test.get('name') == 'unique' else none -%}
        {%- set landed = landed_rows(relation, landed_column, key) -%}
        {%- if landed is not none and test.get('name') == 'expect_column_checks_to_pass' -%}
            {#- One superset for both passes: a row written since has every
                check, and a unique column's whole group of each key written
                since is in, so no duplicate made since is cut in half. Its
                semi-joins scan the key columns, not group every row by them. -#}
            {%- set groups = [landed] -%}
            {%- for column in test.kwargs.get('unique') or [] -%}
                {%- do groups.append(landed_rows(relation, landed_column, column)) -%}
            {%- endfor -%}
            {%- set landed = '(' ~ groups | join(' or ') ~ ')' -%}
        {%- endif -%}
        {%- if landed is not none -%}
            {%- do conditions.append(landed) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return(
            '(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ')
            ~ ') dbt_subquery'
        ) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
