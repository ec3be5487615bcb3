with

products as (

    select * from {{ ref('stg_retailnova__products') }}

),

versions_ranked as (

    select
        *,
        {{ latest_version_rank('product_id') }} as version_rank
    from products
    where product_id is not null and last_modified is not null

),

current_versions as (

    select * from versions_ranked
    where version_rank = 1

),

-- A product whose current price is not positive is quarantined
-- (int_records_quarantined), not published.
priced as (

    select * from current_versions
    where unit_price > 0

),

cleaned as (

    select
        product_id,
        category,
        brand,
        unit_price,
        unit_cost,
        is_active,
        created_at,
        last_modified,
        upper(trim(product_code)) as product_code,
        trim(product_name) as product_name
    from priced

),

final as (

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
        last_modified
    from cleaned

)

select * from final
