with

source as (

    select * from {{ source('retailnova', 'products') }}

),

renamed as (

    select
        product_id,
        product_code,
        product_name,
        unit_price,
        unit_cost,
        is_active,
        created_at,
        last_modified,
        _extracted_at as extracted_at,
        _run_id as extract_run_id,
        trim(category) as category,
        trim(brand) as brand
    from source

)

select * from renamed
