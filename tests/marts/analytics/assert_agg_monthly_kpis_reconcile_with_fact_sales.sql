-- The monthly KPIs add up to fact_sales: revenue and orders over all months,
-- and the last month's cumulative clv_to_date and repeat_purchase_rate equal
-- the lifetime figures computed directly from the facts. Each month's revenue
-- is rounded to the cent once, so the facts are summed per month first.
with

agg_monthly_kpis as (

    select * from {{ ref('agg_monthly_kpis') }}

),

fact_sales as (

    select * from {{ ref('fact_sales') }}

),

fact_months as (

    select
        sum(net_amount) as revenue,
        count(distinct order_id) as order_count
    from fact_sales
    group by trunc(order_date, 'MM')

),

fact_totals as (

    select
        sum(cast(revenue as decimal(18, 2))) as total_revenue,
        sum(order_count) as order_count,
        sum(revenue) as exact_revenue
    from fact_months

),

customer_order_counts as (

    select
        customer_id,
        count(distinct order_id) as order_count
    from fact_sales
    where customer_id is not null
    group by customer_id

),

buyer_totals as (

    select
        count(*) as buyers,
        count_if(order_count >= 2) as repeat_buyers
    from customer_order_counts

),

lifetime as (

    select
        fact_totals.total_revenue,
        fact_totals.exact_revenue,
        fact_totals.order_count,
        buyer_totals.buyers,
        buyer_totals.repeat_buyers
    from fact_totals
    cross join buyer_totals

),

months as (

    select
        sum(total_revenue) as total_revenue,
        sum(order_count) as order_count,
        max_by(clv_to_date, month_start) as last_clv_to_date,
        max_by(repeat_purchase_rate, month_start) as last_repeat_purchase_rate
    from agg_monthly_kpis

),

final as (

    select
        months.*,
        lifetime.total_revenue as fact_total_revenue,
        lifetime.order_count as fact_order_count,
        cast(lifetime.exact_revenue / lifetime.buyers as decimal(18, 2)) as fact_clv,
        cast(
            cast(lifetime.repeat_buyers as decimal(18, 0)) / lifetime.buyers as decimal(9, 6)
        ) as fact_repeat_purchase_rate
    from months
    cross join lifetime

)

select * from final
where
    not (
        total_revenue <=> fact_total_revenue
        and order_count <=> fact_order_count
        and last_clv_to_date <=> fact_clv
        and last_repeat_purchase_rate <=> fact_repeat_purchase_rate
    )
