-- Contract 3: every day from 2020-01-01 to 2030-12-31, 4,018 rows.
with

dim_date as (

    select * from {{ ref('dim_date') }}

),

summary as (

    select
        count(*) as day_count,
        count(distinct date_day) as distinct_days,
        min(date_day) as first_day,
        max(date_day) as last_day
    from dim_date

)

select * from summary
where
    day_count != 4018
    or distinct_days != 4018
    or first_day != cast('2020-01-01' as date)
    or last_day != cast('2030-12-31' as date)
