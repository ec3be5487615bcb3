-- customer_segments has one row per customer with a revenue-bearing order,
-- and its lifetime monetary values add up to the revenue of those customers.
with

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

fact_sales as (

    select * from {{ ref('fact_sales') }}

),

buyers as (

    select
        customer_id,
        sum(net_amount) as monetary,
        count(distinct order_id) as frequency
    from fact_sales
    where customer_id is not null
    group by customer_id

),

final as (

    select
        buyers.monetary as fact_monetary,
        customer_segments.monetary,
        buyers.frequency as fact_frequency,
        customer_segments.frequency,
        coalesce(buyers.customer_id, customer_segments.customer_id) as customer_id
    from buyers
    full outer join customer_segments
        on buyers.customer_id = customer_segments.customer_id
    where
        buyers.customer_id is null
        or customer_segments.customer_id is null
        or cast(buyers.monetary as decimal(18, 2)) != customer_segments.monetary
        or buyers.frequency != customer_segments.frequency

)

select * from final
