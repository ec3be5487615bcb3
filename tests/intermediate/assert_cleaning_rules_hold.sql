-- The contract's cleaning rules hold on the real data, not only on the unit
-- tests' fixtures. Returns one row per model, rule and offending key.

with

customers as (

    select * from {{ ref('int_customers_cleaned') }}

),

products as (

    select * from {{ ref('int_products_cleaned') }}

),

order_lines as (

    select * from {{ ref('int_order_lines_cleaned') }}

),

orders as (

    select * from {{ ref('int_orders_enriched') }}

),

violations as (

    select
        'int_customers_cleaned' as model_name,
        'names trimmed and initcapped' as rule_name,
        customer_id as record_key
    from customers
    where
        first_name != initcap(trim(first_name))
        or last_name != initcap(trim(last_name))

    union all

    select
        'int_customers_cleaned' as model_name,
        'country trimmed and upper-cased' as rule_name,
        customer_id as record_key
    from customers
    where country != upper(trim(country))

    union all

    select
        'int_customers_cleaned' as model_name,
        'a valid email has a hash' as rule_name,
        customer_id as record_key
    from customers
    where is_email_valid and email_hash is null

    union all

    select
        'int_products_cleaned' as model_name,
        'code trimmed and upper-cased, name trimmed' as rule_name,
        product_id as record_key
    from products
    where
        product_code != upper(trim(product_code))
        or product_name != trim(product_name)

    union all

    select
        'int_products_cleaned' as model_name,
        'unit_price > 0' as rule_name,
        product_id as record_key
    from products
    where not unit_price > 0

    union all

    select
        'int_order_lines_cleaned' as model_name,
        'quantity > 0' as rule_name,
        order_line_id as record_key
    from order_lines
    where not quantity > 0

    union all

    select
        'int_orders_enriched' as model_name,
        'shipping_cost >= 0' as rule_name,
        order_id as record_key
    from orders
    where not shipping_cost >= 0

    union all

    select
        'int_orders_enriched' as model_name,
        'discount_pct in [0, 100]' as rule_name,
        order_id as record_key
    from orders
    where not discount_pct between 0 and 100

    union all

    select
        'int_orders_enriched' as model_name,
        'is_suspicious iff net amount above the threshold' as rule_name,
        order_id as record_key
    from orders
    where is_suspicious != (order_net_amount > {{ var('suspicious_order_threshold') }})

    union all

    select
        'int_orders_enriched' as model_name,
        'is_revenue_bearing iff Shipped or Delivered with a line' as rule_name,
        order_id as record_key
    from orders
    where
        is_revenue_bearing
        != (status in ('Shipped', 'Delivered') and line_count >= 1)

)

select * from violations
