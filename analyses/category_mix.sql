-- Analyst question: what is the category mix of revenue and units per
-- quarter, and how much margin does each category leave at today's costs?
with

fact_sales as (

    select * from {{ ref('fact_sales') }}

),

dim_product as (

    select * from {{ ref('dim_product') }}

),

dim_date as (

    select * from {{ ref('dim_date') }}

),

category_quarter as (

    select
        dim_date.year as sales_year,
        dim_date.quarter as sales_quarter,
        dim_product.category,
        sum(fact_sales.net_amount) as revenue,
        sum(fact_sales.quantity) as units,
        -- Unknown products (missing or quarantined) have no cost.
        sum(fact_sales.quantity * dim_product.unit_cost) as cost_at_current_prices
    from fact_sales
    inner join dim_product
        on fact_sales.product_key = dim_product.product_key
    inner join dim_date
        on fact_sales.date_key = dim_date.date_key
    group by dim_date.year, dim_date.quarter, dim_product.category

),

final as (

    select
        sales_year,
        sales_quarter,
        category,
        revenue,
        units,
        cast(
            revenue / sum(revenue) over (partition by sales_year, sales_quarter)
            as decimal(9, 6)
        ) as revenue_share,
        cast((revenue - cost_at_current_prices) / revenue as decimal(9, 6)) as margin_rate
    from category_quarter

)

select * from final
order by sales_year asc, sales_quarter asc, revenue desc
