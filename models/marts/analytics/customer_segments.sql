{#- As-of date (contract 3): var as_of_date when set, else the latest order
    date among revenue-bearing orders. -#}
{%- set as_of_date = var('as_of_date') -%}
{%- set as_of_date_sql = (
    "cast('" ~ as_of_date ~ "' as date)" if as_of_date else "cast(null as date)"
) -%}

with

fact_orders as (

    select * from {{ ref('fact_orders') }}

),

reference_date as (

    select
        coalesce(
            {{ as_of_date_sql }}, cast(max(order_date) as date)
        ) as as_of_date
    from fact_orders

),

customer_totals as (

    select
        customer_id,
        cast(max(order_date) as date) as last_order_date,
        count(*) as frequency,
        sum(net_amount) as monetary
    from fact_orders
    where customer_id is not null
    group by customer_id

),

with_recency as (

    select
        customer_totals.customer_id,
        customer_totals.last_order_date,
        customer_totals.frequency,
        customer_totals.monetary,
        reference_date.as_of_date,
        datediff(reference_date.as_of_date, customer_totals.last_order_date) as recency_days
    from customer_totals
    cross join reference_date

),

scored as (

    select
        *,
        case
            when recency_days <= 30 then 4
            when recency_days <= 60 then 3
            when recency_days <= 90 then 2
            else 1
        end as r_score,
        case
            when frequency >= 5 then 4
            when frequency >= 3 then 3
            when frequency >= 2 then 2
            else 1
        end as f_score,
        case
            when monetary >= 2000 then 4
            when monetary >= 1000 then 3
            when monetary >= 300 then 2
            else 1
        end as m_score
    from with_recency

),

segmented as (

    select
        *,
        case
            when r_score >= 3 and f_score >= 3 and m_score >= 3 then 'Champions'
            when r_score >= 3 and f_score >= 2 then 'Loyal Customers'
            when r_score >= 3 and f_score = 1 then 'Promising'
            when r_score = 2 and f_score >= 2 then 'At Risk'
            else 'Need Attention'
        end as segment
    from scored

),

final as (

    select
        customer_id,
        last_order_date,
        as_of_date,
        segment,
        cast(recency_days as int) as recency_days,
        cast(frequency as int) as frequency,
        cast(monetary as decimal(18, 2)) as monetary,
        cast(r_score as int) as r_score,
        cast(f_score as int) as f_score,
        cast(m_score as int) as m_score
    from segmented

)

select * from final
