with

fact_orders as (

    select * from {{ ref('fact_orders') }}

),

-- Months are taken from order_date as the source stores it (contract 3).
orders as (

    select
        order_id,
        customer_id,
        order_date,
        quantity,
        net_amount,
        cast(date_trunc('MONTH', order_date) as date) as month_start
    from fact_orders

),

monthly as (

    select
        month_start,
        sum(net_amount) as total_revenue,
        count(*) as order_count,
        count(distinct customer_id) as unique_customers,
        sum(quantity) as total_quantity
    from orders
    group by month_start

),

customer_order_sequence as (

    select
        month_start,
        row_number() over (
            partition by customer_id
            order by order_date asc, order_id asc
        ) as order_number
    from orders
    where customer_id is not null

),

-- A customer becomes a buyer in the month of their first order and a repeat
-- buyer in the month of their second; counting those events up to a month
-- gives the buyers (and repeat buyers) up to that month's end.
buyer_milestones as (

    select
        month_start,
        count_if(order_number = 1) as new_buyers,
        count_if(order_number = 2) as new_repeat_buyers
    from customer_order_sequence
    where order_number <= 2
    group by month_start

),

cumulative as (

    select
        monthly.month_start,
        monthly.total_revenue,
        monthly.order_count,
        monthly.unique_customers,
        monthly.total_quantity,
        sum(monthly.total_revenue) over (
            order by monthly.month_start asc
            rows between unbounded preceding and current row
        ) as revenue_to_date,
        sum(coalesce(buyer_milestones.new_buyers, 0)) over (
            order by monthly.month_start asc
            rows between unbounded preceding and current row
        ) as buyers_to_date,
        sum(coalesce(buyer_milestones.new_repeat_buyers, 0)) over (
            order by monthly.month_start asc
            rows between unbounded preceding and current row
        ) as repeat_buyers_to_date
    from monthly
    left join buyer_milestones
        on monthly.month_start = buyer_milestones.month_start

),

final as (

    select
        month_start,
        cast(total_revenue as decimal(18, 2)) as total_revenue,
        cast(order_count as int) as order_count,
        cast(unique_customers as int) as unique_customers,
        cast(total_revenue / order_count as decimal(18, 2)) as avg_order_value,
        cast(
            cast(total_quantity as decimal(18, 0)) / order_count as decimal(18, 4)
        ) as avg_basket_size,
        cast(
            case when buyers_to_date > 0 then revenue_to_date / buyers_to_date end
            as decimal(18, 2)
        ) as clv_to_date,
        cast(
            case
                when buyers_to_date > 0
                    then cast(repeat_buyers_to_date as decimal(18, 0)) / buyers_to_date
            end
            as decimal(9, 6)
        ) as repeat_purchase_rate
    from cumulative

)

select * from final
