with

source as (

    select * from {{ source('retailnova', 'sales_orders') }}

),

renamed as (

    select
        order_id,
        customer_id,
        store_id,
        shipping_cost,
        discount_pct,
        order_date,
        created_at,
        last_modified,
        _extracted_at as extracted_at,
        _run_id as extract_run_id,
        trim(status) as status,
        trim(payment_method) as payment_method
    from source

)

select * from renamed
