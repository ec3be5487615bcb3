-- The extractor's promise (Bronze): the same (key, last_modified) never lands
-- twice, so a key's versions can be ordered. Returns the duplicated versions.
-- A whole-history check on append-only Bronze: a duplicate that was not there
-- when this test last passed has a row landed since, so only the keys of rows
-- landed since are checked, against all their versions (landed_after).
{{ config(tags=['landed_scope']) }}
{%- set scoped = check_scope() is not none %}

with

versions as (

    select
        'customers' as entity,
        customer_id as record_key,
        last_modified,
        extracted_at
    from {{ ref('stg_retailnova__customers') }}

    union all

    select
        'products' as entity,
        product_id as record_key,
        last_modified,
        extracted_at
    from {{ ref('stg_retailnova__products') }}

    union all

    select
        'stores' as entity,
        store_id as record_key,
        last_modified,
        extracted_at
    from {{ ref('stg_retailnova__stores') }}

    union all

    select
        'sales_orders' as entity,
        order_id as record_key,
        last_modified,
        extracted_at
    from {{ ref('stg_retailnova__orders') }}

    union all

    select
        'sales_order_lines' as entity,
        order_line_id as record_key,
        last_modified,
        extracted_at
    from {{ ref('stg_retailnova__order_lines') }}

),

{%- if scoped %}

landed_keys as (

    select distinct
        entity,
        record_key
    from versions
    where {{ landed_after('extracted_at') }}

),
{%- endif %}

duplicated as (

    select {% if scoped %}/*+ broadcast(landed_keys) */{% endif %}
        versions.entity,
        versions.record_key,
        versions.last_modified,
        count(*) as versions
    from versions
    {%- if scoped %}
    left semi join landed_keys
        on
            versions.entity = landed_keys.entity
            and versions.record_key = landed_keys.record_key
    {%- endif %}
    where versions.record_key is not null
    group by versions.entity, versions.record_key, versions.last_modified
    having count(*) > 1

)

select * from duplicated
