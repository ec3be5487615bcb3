with

source as (

    select * from {{ source('retailnova', 'sales_order_lines') }}

),

renamed as (

    select
        order_line_id,
        order_id,
        product_id,
        quantity,
        unit_price,
        created_at,
        last_modified,
        _extracted_at as extracted_at,
        _run_id as extract_run_id
    from source

)

select * from renamed
