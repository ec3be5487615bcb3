-- Raw email and phone exist only in Bronze (contract 2). For every Silver
-- relation this project builds: no column is named email or phone, and no
-- string column holds an '@' (one scan per relation). Returns one row per
-- offending relation. A whole-history check, scoped as
-- assert_no_pii_in_silver is (macro landed_filter): the rows landed since it
-- last passed, or the rows of the keys landed since, or a table whole.
{{ config(tags=['landed_scope']) }}
{%- set silver_relations = [
    ref('stg_retailnova__customers'),
    ref('stg_retailnova__products'),
    ref('stg_retailnova__stores'),
    ref('stg_retailnova__orders'),
    ref('stg_retailnova__order_lines'),
    ref('int_customers_cleaned'),
    ref('int_products_cleaned'),
    ref('int_stores_cleaned'),
    ref('int_order_lines_cleaned'),
    ref('int_orders_cleaned'),
    ref('int_orders_enriched'),
    ref('int_records_quarantined'),
    ref('snap_customers'),
] -%}
{%- set checks = [
    "select cast(null as string) as relation_name, cast(null as string) as raw_pii_columns, "
    ~ "cast(null as string) as columns_with_at where false"
] -%}
{%- if execute -%}
    {%- for relation in silver_relations -%}
        {%- set pii_columns = [] -%}
        {%- set string_columns = [] -%}
        {%- set columns = adapter.get_columns_in_relation(relation) -%}
        {%- set landed = landed_filter(relation, columns) -%}
        {%- for column in columns -%}
            {%- set dtype = column.dtype | lower -%}
            {%- if column.name | lower in ('email', 'phone') -%}
                {%- do pii_columns.append(column.name) -%}
            {%- elif dtype == 'string' or dtype.startswith(('varchar', 'char')) -%}
                {%- do string_columns.append(column.name) -%}
            {%- endif -%}
        {%- endfor -%}
        {#- An aggregate even without string columns: one row per relation. -#}
        {%- set flags = ["cast(max(null) as string)"] -%}
        {%- for name in string_columns -%}
            {%- do flags.append("if(max(`" ~ name ~ "` like '%@%'), '" ~ name ~ "', null)") -%}
        {%- endfor -%}
        {%- do checks.append(
            "select '" ~ relation ~ "' as relation_name, "
            ~ "'" ~ (pii_columns | join(', ')) ~ "' as raw_pii_columns, "
            ~ "concat_ws(', ', " ~ (flags | join(', ')) ~ ")"
            ~ " as columns_with_at from " ~ relation
            ~ (" where " ~ landed if landed else "")
        ) -%}
    {%- endfor -%}
{%- endif %}

with

scanned as (

    {{ checks | join('\n    union all\n    ') }}

)

select * from scanned
where raw_pii_columns != '' or columns_with_at != ''
