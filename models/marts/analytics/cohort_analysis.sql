with

fact_orders as (

    select * from {{ ref('fact_orders') }}

),

-- Months are taken from order_date as the source stores it (contract 3).
customer_months as (

    select distinct
        customer_id,
        cast(date_trunc('MONTH', order_date) as date) as activity_month
    from fact_orders
    where customer_id is not null

),

cohorts as (

    select
        customer_id,
        min(activity_month) as cohort_month
    from customer_months
    group by customer_id

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_size
    from cohorts
    group by cohort_month

),

customer_month_numbers as (

    select
        cohorts.cohort_month,
        customer_months.customer_id,
        (year(customer_months.activity_month) - year(cohorts.cohort_month)) * 12
        + month(customer_months.activity_month)
        - month(cohorts.cohort_month) as month_number
    from customer_months
    inner join cohorts
        on customer_months.customer_id = cohorts.customer_id

),

cohort_activity as (

    select
        cohort_month,
        month_number,
        count(distinct customer_id) as active_customers
    from customer_month_numbers
    group by cohort_month, month_number

),

final as (

    select
        cohort_activity.cohort_month,
        cast(cohort_activity.month_number as int) as month_number,
        cast(cohort_sizes.cohort_size as int) as cohort_size,
        cast(cohort_activity.active_customers as int) as active_customers,
        cast(
            cast(cohort_activity.active_customers as decimal(18, 0)) / cohort_sizes.cohort_size
            as decimal(9, 6)
        ) as retention_rate
    from cohort_activity
    inner join cohort_sizes
        on cohort_activity.cohort_month = cohort_sizes.cohort_month

)

select * from final
