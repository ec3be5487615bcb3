{#- Incremental, as int_order_lines_cleaned: a run ranks only the versions of
    the orders with a version landed in Bronze since the newest landing this
    table holds, and merges their current versions. No rule drops an order,
    so the merge never deletes. Shared config in dbt_project.yml. -#}
{{
    config(
        unique_key='order_id',
    )
}}

with

orders as (

    select * from {{ ref('stg_retailnova__orders') }}

),

{% if is_incremental() %}

changed_keys as (

    select distinct order_id
    from orders
    where extracted_at > {{ last_landing() }}

),

{% endif %}

versions_ranked as (

    select
        *,
        {{ latest_version_rank('order_id') }} as version_rank
    from orders
    where order_id is not null and last_modified is not null
    {% if is_incremental() %}
        -- Broadcast: a day's keys, which Spark would size as the whole table.
        and order_id in (
            select /*+ broadcast(changed_keys) */ changed_keys.order_id
            from changed_keys
        )
    {% endif %}

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
        extracted_at,
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
        last_modified,
        extracted_at
    from cleaned

)

select * from final
