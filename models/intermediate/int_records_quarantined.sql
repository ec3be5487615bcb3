with

customers as (

    select * from {{ ref('stg_retailnova__customers') }}

),

products as (

    select * from {{ ref('stg_retailnova__products') }}

),

stores as (

    select * from {{ ref('stg_retailnova__stores') }}

),

orders as (

    select * from {{ ref('stg_retailnova__orders') }}

),

order_lines as (

    select * from {{ ref('stg_retailnova__order_lines') }}

),

-- Rows without a key or without last_modified cannot be versioned. A row
-- without a key is identified by a hash of the whole row instead.
unversionable_rows as (

    select
        'customers' as entity,
        last_modified,
        coalesce(
            cast(customer_id as string), concat('row:', sha2(to_json(struct(*)), 256))
        ) as record_key,
        customer_id is null as is_key_missing
    from customers
    where customer_id is null or last_modified is null

    union all

    select
        'products' as entity,
        last_modified,
        coalesce(
            cast(product_id as string), concat('row:', sha2(to_json(struct(*)), 256))
        ) as record_key,
        product_id is null as is_key_missing
    from products
    where product_id is null or last_modified is null

    union all

    select
        'stores' as entity,
        last_modified,
        coalesce(
            cast(store_id as string), concat('row:', sha2(to_json(struct(*)), 256))
        ) as record_key,
        store_id is null as is_key_missing
    from stores
    where store_id is null or last_modified is null

    union all

    select
        'sales_orders' as entity,
        last_modified,
        coalesce(
            cast(order_id as string), concat('row:', sha2(to_json(struct(*)), 256))
        ) as record_key,
        order_id is null as is_key_missing
    from orders
    where order_id is null or last_modified is null

    union all

    select
        'sales_order_lines' as entity,
        last_modified,
        coalesce(
            cast(order_line_id as string), concat('row:', sha2(to_json(struct(*)), 256))
        ) as record_key,
        order_line_id is null as is_key_missing
    from order_lines
    where order_line_id is null or last_modified is null

),

unversionable_rejected as (

    select
        entity,
        record_key,
        last_modified,
        case when is_key_missing then 'null_key' else 'null_last_modified' end as reason
    from unversionable_rows

),

-- Only a key with a failing version can have a failing current one, so only
-- those keys' versions are ranked (a day's lines are ranked in seconds, not
-- the whole history's).
products_with_a_failing_version as (

    select distinct product_id
    from products
    where
        product_id is not null and last_modified is not null
        and not coalesce(unit_price > 0, false)

),

product_versions_ranked as (

    select
        *,
        {{ latest_version_rank('product_id') }} as version_rank
    from products
    where
        last_modified is not null
        -- Broadcast: few keys, which Spark would size as the whole table.
        and product_id in (
            select /*+ broadcast(failing) */ failing.product_id
            from products_with_a_failing_version as failing
        )

),

-- Same versions as int_products_cleaned: the current one decides.
unpriced_products as (

    select
        'products' as entity,
        last_modified,
        cast(product_id as string) as record_key,
        case
            when unit_price is null then 'null_unit_price' else 'non_positive_unit_price'
        end as reason
    from product_versions_ranked
    where version_rank = 1 and not coalesce(unit_price > 0, false)

),

order_lines_with_a_failing_version as (

    select distinct order_line_id
    from order_lines
    where
        order_line_id is not null and last_modified is not null
        and not coalesce(quantity > 0, false)

),

order_line_versions_ranked as (

    select
        *,
        {{ latest_version_rank('order_line_id') }} as version_rank
    from order_lines
    where
        last_modified is not null
        -- Broadcast: few keys, which Spark would size as the whole table.
        and order_line_id in (
            select /*+ broadcast(failing) */ failing.order_line_id
            from order_lines_with_a_failing_version as failing
        )

),

-- Same versions as int_order_lines_cleaned: the current one decides.
unquantified_order_lines as (

    select
        'sales_order_lines' as entity,
        last_modified,
        cast(order_line_id as string) as record_key,
        case
            when quantity is null then 'null_quantity' else 'non_positive_quantity'
        end as reason
    from order_line_versions_ranked
    where version_rank = 1 and not coalesce(quantity > 0, false)

),

rejected as (

    select
        entity,
        record_key,
        reason,
        last_modified
    from unversionable_rejected
    union all
    select
        entity,
        record_key,
        reason,
        last_modified
    from unpriced_products
    union all
    select
        entity,
        record_key,
        reason,
        last_modified
    from unquantified_order_lines

),

final as (

    select
        entity,
        record_key,
        reason,
        '{{ run_var("run_id") }}' as run_id,
        last_modified,
        current_timestamp() as quarantined_at
    from rejected

)

select * from final
