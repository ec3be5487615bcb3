-- Every fact points to the members a full rebuild would pick today: the
-- customer version valid at order time, the product and the store, or the
-- unknown member when there is none. Catches facts left on the unknown member
-- after their member arrived (the incremental repair) and stale versions.
with

fact_sales as (

    select * from {{ ref('fact_sales') }}

),

dim_customer as (

    select * from {{ ref('dim_customer') }}

),

dim_product as (

    select * from {{ ref('dim_product') }}

),

dim_store as (

    select * from {{ ref('dim_store') }}

),

resolved as (

    select
        fact_sales.order_line_id,
        fact_sales.customer_key,
        fact_sales.product_key,
        fact_sales.store_key,
        coalesce(
            dim_customer.customer_key, {{ unknown_member_key() }}
        ) as expected_customer_key,
        coalesce(dim_product.product_key, {{ unknown_member_key() }}) as expected_product_key,
        coalesce(dim_store.store_key, {{ unknown_member_key() }}) as expected_store_key
    from fact_sales
    left join dim_customer
        on
            fact_sales.customer_id = dim_customer.customer_id
            and fact_sales.order_date >= dim_customer.valid_from
            and fact_sales.order_date < dim_customer.valid_to
    left join dim_product
        on fact_sales.product_id = dim_product.product_id
    left join dim_store
        on fact_sales.store_id = dim_store.store_id

)

select * from resolved
where
    customer_key != expected_customer_key
    or product_key != expected_product_key
    or store_key != expected_store_key
