with

greek_public_holidays as (

    select * from {{ ref('greek_public_holidays') }}

),

days as (

    select
        explode(
            sequence(to_date('2020-01-01'), to_date('2030-12-31'), interval 1 day)
        ) as date_day

),

calendar as (

    select
        date_day,
        cast(date_format(date_day, 'yyyyMMdd') as int) as date_key,
        cast(year(date_day) as int) as year,  -- noqa: RF04
        cast(quarter(date_day) as int) as quarter,  -- noqa: RF04
        cast(month(date_day) as int) as month,  -- noqa: RF04
        cast(trunc(date_day, 'MM') as date) as month_start,
        cast(dayofmonth(date_day) as int) as day_of_month,
        cast(dayofyear(date_day) as int) as day_of_year,
        cast(date_part('YEAROFWEEK', date_day) as int) as iso_year,
        cast(weekofyear(date_day) as int) as iso_week,
        -- ISO day of week: 1 = Monday ... 7 = Sunday.
        cast(weekday(date_day) + 1 as int) as weekday,  -- noqa: RF04
        date_format(date_day, 'MMMM') as month_name,
        date_format(date_day, 'EEEE') as weekday_name,
        coalesce(weekday(date_day) >= 5, false) as is_weekend
    from days

),

holidays_by_date as (

    -- One row per date, should two holidays ever share one.
    select
        holiday_date,
        concat_ws(' / ', sort_array(collect_list(holiday_name))) as holiday_name
    from greek_public_holidays
    group by holiday_date

),

final as (

    select
        calendar.date_key,
        calendar.date_day,
        calendar.year,
        calendar.quarter,
        calendar.month,
        calendar.month_name,
        calendar.month_start,
        calendar.day_of_month,
        calendar.day_of_year,
        calendar.iso_year,
        calendar.iso_week,
        calendar.weekday,
        calendar.weekday_name,
        calendar.is_weekend,
        holidays_by_date.holiday_name,
        holidays_by_date.holiday_date is not null as is_holiday
    from calendar
    left join holidays_by_date
        on calendar.date_day = holidays_by_date.holiday_date

)

select * from final
