-- Contract 3: exactly one current row per customer (the unknown member,
-- customer_id -1, included).
with

dim_customer as (

    select * from {{ ref('dim_customer') }}

),

current_rows as (

    select
        customer_id,
        count_if(is_current) as current_row_count
    from dim_customer
    group by customer_id

)

select * from current_rows
where current_row_count != 1
