-- The versions of a customer tile time: the first starts at the floor date,
-- each ends where the next starts, the last (the current one) is open-ended.
with

dim_customer as (

    select * from {{ ref('dim_customer') }}

),

versions as (

    select
        customer_id,
        customer_key,
        valid_from,
        valid_to,
        is_current,
        lag(valid_to) over (
            partition by customer_id order by valid_from asc
        ) as previous_valid_to,
        row_number() over (
            partition by customer_id order by valid_from asc
        ) as version_rank,
        count(*) over (partition by customer_id) as version_count
    from dim_customer

),

final as (

    select *
    from versions
    where
        valid_from >= valid_to
        or (version_rank = 1 and valid_from != cast('1900-01-01 00:00:00' as timestamp))
        or (version_rank > 1 and valid_from != previous_valid_to)
        or (
            version_rank = version_count
            and (valid_to != cast('9999-12-31 00:00:00' as timestamp) or not is_current)
        )
        or (version_rank < version_count and is_current)

)

select * from final
