-- Analyst question: who are the five most valuable customers of each RFM
-- segment, and where do they live today? (No PII: ids, city and tier only.)
with

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

dim_customer as (

    select * from {{ ref('dim_customer') }}

),

current_customers as (

    select
        customer_id,
        city,
        loyalty_tier
    from dim_customer
    where is_current

),

ranked as (

    select
        customer_segments.segment,
        customer_segments.customer_id,
        current_customers.city,
        current_customers.loyalty_tier,
        customer_segments.monetary,
        customer_segments.frequency,
        customer_segments.recency_days,
        row_number() over (
            partition by customer_segments.segment
            order by customer_segments.monetary desc, customer_segments.customer_id asc
        ) as rank_in_segment
    from customer_segments
    left join current_customers
        on customer_segments.customer_id = current_customers.customer_id

)

select * from ranked
where rank_in_segment <= 5
order by segment asc, rank_in_segment asc
