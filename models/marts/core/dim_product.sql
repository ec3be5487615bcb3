with

int_products_cleaned as (

    select * from {{ ref('int_products_cleaned') }}

),

products as (

    select
        product_id,
        product_code,
        product_name,
        category,
        brand,
        unit_price,
        unit_cost,
        is_active,
        created_at,
        last_modified,
        md5(cast(product_id as string)) as product_key
    from int_products_cleaned

),

unknown_member as (

    select
        cast(-1 as int) as product_id,
        'UNKNOWN' as product_code,
        'Unknown product' as product_name,
        'Unknown' as category,
        'Unknown' as brand,
        cast(null as decimal(10, 2)) as unit_price,
        cast(null as decimal(10, 2)) as unit_cost,
        cast(null as boolean) as is_active,
        cast(null as timestamp) as created_at,
        cast(null as timestamp) as last_modified,
        {{ unknown_member_key() }} as product_key

),

unioned as (

    select * from products
    union all
    select * from unknown_member

),

final as (

    select
        product_key,
        product_id,
        product_code,
        product_name,
        category,
        brand,
        is_active,
        created_at,
        last_modified,
        cast(unit_price as decimal(10, 2)) as unit_price,
        cast(unit_cost as decimal(10, 2)) as unit_cost
    from unioned

)

select * from final
