-- The extractor's promise (Bronze): the same (key, last_modified) never lands
-- twice, so a key's versions can be ordered. Returns the duplicated versions.

with

versions as (

    select
        'customers' as entity,
        customer_id as record_key,
        last_modified
    from {{ ref('stg_retailnova__customers') }}

    union all

    select
        'products' as entity,
        product_id as record_key,
        last_modified
    from {{ ref('stg_retailnova__products') }}

    union all

    select
        'stores' as entity,
        store_id as record_key,
        last_modified
    from {{ ref('stg_retailnova__stores') }}

    union all

    select
        'sales_orders' as entity,
        order_id as record_key,
        last_modified
    from {{ ref('stg_retailnova__orders') }}

    union all

    select
        'sales_order_lines' as entity,
        order_line_id as record_key,
        last_modified
    from {{ ref('stg_retailnova__order_lines') }}

),

duplicated as (

    select
        entity,
        record_key,
        last_modified,
        count(*) as versions
    from versions
    where record_key is not null
    group by entity, record_key, last_modified
    having count(*) > 1

)

select * from duplicated
