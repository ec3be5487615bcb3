with

orders as (

    select * from {{ ref('stg_retailnova__orders') }}

),

versions_ranked as (

    select
        *,
        {{ latest_version_rank('order_id') }} as version_rank
    from orders
    where order_id is not null and last_modified is not null

),

current_versions as (

    select * from versions_ranked
    where version_rank = 1

),

cleaned as (

    select
        order_id,
        customer_id,
        store_id,
        order_date,
        status,
        payment_method,
        created_at,
        last_modified,
        -- A negative (or missing) shipping cost becomes 0.
        cast(
            case when shipping_cost >= 0 then shipping_cost else 0 end as decimal(10, 2)
        ) as shipping_cost,
        -- A discount outside [0, 100] (or missing) becomes 0; 0 and 100 are kept.
        cast(
            case when discount_pct between 0 and 100 then discount_pct else 0 end
            as decimal(5, 2)
        ) as discount_pct
    from current_versions

),

final as (

    select
        order_id,
        customer_id,
        store_id,
        order_date,
        status,
        payment_method,
        shipping_cost,
        discount_pct,
        created_at,
        last_modified
    from cleaned

)

select * from final
