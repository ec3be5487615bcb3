-- Analyst question: how much does each store and channel (Physical / Online)
-- sell per year, and what share of the year's revenue is that?
-- `retailnova dbt compile -s revenue_by_store_and_channel`, then run the SQL
-- in target/compiled (or paste it into `retailnova dbt show --inline`).
with

fact_sales as (

    select * from {{ ref('fact_sales') }}

),

dim_store as (

    select * from {{ ref('dim_store') }}

),

dim_date as (

    select * from {{ ref('dim_date') }}

),

store_year_revenue as (

    select
        dim_date.year as sales_year,
        dim_store.channel,
        dim_store.store_name,
        sum(fact_sales.net_amount) as revenue,
        count(distinct fact_sales.order_id) as order_count
    from fact_sales
    inner join dim_store
        on fact_sales.store_key = dim_store.store_key
    inner join dim_date
        on fact_sales.date_key = dim_date.date_key
    group by dim_date.year, dim_store.channel, dim_store.store_name

),

final as (

    select
        sales_year,
        channel,
        store_name,
        revenue,
        order_count,
        cast(revenue / order_count as decimal(18, 2)) as avg_order_value,
        cast(
            revenue / sum(revenue) over (partition by sales_year) as decimal(9, 6)
        ) as share_of_year_revenue
    from store_year_revenue

)

select * from final
order by sales_year asc, revenue desc
