-- fact_sales holds exactly the revenue-bearing lines of Silver (contract 3),
-- after any sequence of incremental runs: no line missing, no line of an order
-- that stopped being revenue-bearing or of a quarantined line, and each fact's
-- measures equal Silver's current values.
with

fact_sales as (

    select * from {{ ref('fact_sales') }}

),

int_order_lines_cleaned as (

    select * from {{ ref('int_order_lines_cleaned') }}

),

int_orders_enriched as (

    select * from {{ ref('int_orders_enriched') }}

),

expected as (

    select
        int_order_lines_cleaned.order_line_id,
        int_order_lines_cleaned.order_id,
        int_orders_enriched.customer_id,
        int_orders_enriched.order_date,
        int_order_lines_cleaned.quantity,
        int_order_lines_cleaned.unit_price,
        int_orders_enriched.discount_pct,
        cast(
            int_order_lines_cleaned.quantity
            * int_order_lines_cleaned.unit_price
            * (1 - int_orders_enriched.discount_pct / 100)
            as decimal(18, 6)
        ) as net_amount
    from int_order_lines_cleaned
    inner join int_orders_enriched
        on int_order_lines_cleaned.order_id = int_orders_enriched.order_id
    where int_orders_enriched.is_revenue_bearing

),

final as (

    select
        coalesce(expected.order_line_id, fact_sales.order_line_id) as order_line_id,
        case
            when fact_sales.order_line_id is null then 'missing from fact_sales'
            when expected.order_line_id is null then 'not a revenue-bearing line'
            else 'differs from Silver'
        end as problem
    from expected
    full outer join fact_sales
        on expected.order_line_id = fact_sales.order_line_id
    where
        fact_sales.order_line_id is null
        or expected.order_line_id is null
        or not (
            expected.order_id <=> fact_sales.order_id
            and expected.customer_id <=> fact_sales.customer_id
            and expected.order_date <=> fact_sales.order_date
            and expected.quantity <=> fact_sales.quantity
            and expected.unit_price <=> fact_sales.unit_price
            and expected.discount_pct <=> fact_sales.discount_pct
            and expected.net_amount <=> fact_sales.net_amount
        )

)

select * from final
