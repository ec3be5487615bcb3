-- PII leak guard for Silver (contract 2: raw email and phone exist only in
-- Bronze): every string column of every model, snapshot and seed in the silver
-- schema, found through the graph so a new model is covered without a YAML
-- change. Gold models carry the same check as the generic test no_pii_values.
-- (pii_values_query honours a column's digits_are_ids meta.) A whole-history
-- check, scoped by macro landed_filter once it has passed: of an incremental
-- model or a view over Bronze, the rows landed since; of a model or snapshot
-- whose meta names a landed_key (the customers'), the rows of the keys landed
-- since; any other table, whole.
-- The refs below only order this test after the Silver models.
-- depends_on: {{ ref('int_customers_cleaned') }}
-- depends_on: {{ ref('int_products_cleaned') }}
-- depends_on: {{ ref('int_stores_cleaned') }}
-- depends_on: {{ ref('int_order_lines_cleaned') }}
-- depends_on: {{ ref('int_orders_enriched') }}
-- depends_on: {{ ref('int_records_quarantined') }}
-- depends_on: {{ ref('snap_customers') }}
{{ config(tags=['landed_scope']) }}
{%- set relations = [] -%}
{%- if execute -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type in ['model', 'snapshot', 'seed']
            and node.schema == 'silver'
            and node.config.materialized != 'ephemeral' -%}
            {%- set relation = adapter.get_relation(
                database=node.database, schema=node.schema, identifier=node.alias
            ) -%}
            {%- if relation is not none -%}
                {%- do relations.append((relation, landed_filter(relation))) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}

with

hits as (

    {% for relation, landed in relations -%}
        select * from ({{ pii_values_query(relation, landed) }}) as relation_hits
        {% if not loop.last %}union all{% endif %}
    {% else -%}
        {{ pii_values_query(none) }}
    {%- endfor %}

)

select * from hits
