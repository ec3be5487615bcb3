-- PII leak guard for Silver (contract 2: raw email and phone exist only in
-- Bronze): every string column of every model, snapshot and seed in the silver
-- schema, found through the graph so a new model is covered without a YAML
-- change. Gold models carry the same check as the generic test no_pii_values.
-- (pii_values_query honours a column's digits_are_ids meta.) A whole-history
-- check: an incremental model only ever writes the rows that landed since its
-- last run, and a view over append-only Bronze maps each row on its own, so of
-- those (when they carry extracted_at) only the rows landed since this test
-- last passed are read (landed_after); a table model or a snapshot is
-- rewritten by runs and read whole.
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
                {%- do relations.append((relation, written_by_landing(relation))) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}

with

hits as (

    {% for relation, landed in relations -%}
        select * from ({{ pii_values_query(
            relation, landed_after('extracted_at') if landed else none
        ) }}) as relation_hits
        {% if not loop.last %}union all{% endif %}
    {% else -%}
        {{ pii_values_query(none) }}
    {%- endfor %}

)

select * from hits
