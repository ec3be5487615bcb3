{#- The SQL that finds email- or phone-shaped values in every string column
    of a relation (one scan): one row per (column, kind) with its number of
    hits, no rows when the relation is clean or none. Values are never
    selected, so a failing test does not print the PII it found. In a
    column whose YAML meta says digits_are_ids (integer keys as text) a value
    of digits alone is an id: read from the model's node, so every caller
    (the Silver scan, Gold's no_pii_values) honours it. An optional where
    limits the scan (the Silver scan's landed_after scope). -#}
{% macro pii_values_query(relation, where=none) %}
    {#- `@` followed by a dotted domain, e.g. "x@mail.gr" or a bare "@mail.gr". -#}
    {%- set email_pattern = "@[^@ ]+[.][^@ .]+" -%}
    {#- 8 to 15 digits, optionally led by + and separated by single spaces,
        dots, dashes or brackets, not touching another letter or digit (so a
        64-hex hash or an id like 20260630T180000Z does not match) and not
        shaped like a date (2026-06-30, 30/06/2026). -#}
    {%- set phone_pattern = (
        "(?<![0-9A-Za-z])"
        ~ "(?![0-9]{4}[-/.][0-9]{2}[-/.][0-9]{2})"
        ~ "(?![0-9]{2}[-/.][0-9]{2}[-/.][0-9]{4})"
        ~ "[+]?[0-9](?:[ ().-]{0,2}[0-9]){7,14}"
        ~ "(?![0-9A-Za-z])"
    ) -%}
    {%- set id_columns = [] -%}
    {%- if execute and relation is not none -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.schema == relation.schema and node.alias == relation.identifier -%}
                {%- for column in node.columns.values() -%}
                    {%- if column.meta.get('digits_are_ids') -%}
                        {%- do id_columns.append(column.name) -%}
                    {%- endif -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set string_columns = [] -%}
    {%- if execute and relation is not none -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- set dtype = column.dtype | lower -%}
            {%- if dtype == 'string' or dtype.startswith('varchar') or dtype.startswith('char') -%}
                {%- do string_columns.append(column.name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if string_columns | length == 0 %}
    select
        cast(null as string) as relation_name,
        cast(null as string) as column_name,
        cast(null as string) as pii_kind,
        cast(0 as bigint) as hits
    where 1 = 0
    {%- else %}
    select
        '{{ relation }}' as relation_name,
        column_name,
        case
            when column_value rlike '{{ email_pattern }}' then 'email'
            else 'phone'
        end as pii_kind,
        count(*) as hits
    from (
        -- One scan: every string column unpivoted to (column_name, column_value).
        select
            stack(
                {{ string_columns | length }},
                {%- for column_name in string_columns %}
                '{{ column_name }}', `{{ column_name }}`{{ "," if not loop.last }}
                {%- endfor %}
            ) as (column_name, column_value)
        from {{ relation }}
        {%- if where %}
        where {{ where }}
        {%- endif %}
    ) as column_values
    where
        -- Letters and digits alone, longer than 15, hold neither kind: no `@`,
        -- and a phone needs a non-alphanumeric or the value's edge on both
        -- sides with at most 15 digits between. Hashes and keys are such
        -- values, and this test is far cheaper than the phone pattern's
        -- lookarounds (scale 100, Gold's fact_sales: 29.6 s -> 14.5 s).
        not (length(column_value) > 15 and column_value rlike '^[0-9A-Za-z]+$')
        and (
            column_value rlike '{{ email_pattern }}'
            or (
                column_value rlike '{{ phone_pattern }}'
                {%- if id_columns %}
                and not (
                    column_name in ('{{ id_columns | join("', '") }}')
                    and column_value rlike '^[0-9]+$'
                )
                {%- endif %}
            )
        )
    group by 1, 2, 3
    {%- endif -%}
{% endmacro %}
