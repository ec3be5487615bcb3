-- Month 0 of every cohort retains the whole cohort, and the cohorts together
-- hold every customer with a revenue-bearing order exactly once.
with

cohort_analysis as (

    select * from {{ ref('cohort_analysis') }}

),

fact_sales as (

    select * from {{ ref('fact_sales') }}

),

month_zero as (

    select
        count(*) as cohort_count,
        sum(cohort_size) as customers_in_cohorts,
        count_if(active_customers != cohort_size) as incomplete_month_zero
    from cohort_analysis
    where month_number = 0

),

cohorts as (

    select count(distinct cohort_month) as cohort_count
    from cohort_analysis

),

buyers as (

    select count(distinct customer_id) as buyer_count
    from fact_sales

),

final as (

    select
        month_zero.cohort_count as cohorts_with_month_zero,
        cohorts.cohort_count,
        month_zero.customers_in_cohorts,
        buyers.buyer_count,
        month_zero.incomplete_month_zero
    from month_zero
    cross join cohorts
    cross join buyers
    where
        month_zero.cohort_count != cohorts.cohort_count
        or month_zero.customers_in_cohorts != buyers.buyer_count
        or month_zero.incomplete_month_zero > 0

)

select * from final
