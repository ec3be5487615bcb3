-- A customer's versions follow each other without gap or overlap: each one
-- ends where the next begins, starts before it ends, and only the last is
-- open. Returns the versions where that fails.

with

snapshot_versions as (

    select * from {{ ref('snap_customers') }}

),

sequenced as (

    select
        customer_id,
        dbt_scd_id,
        dbt_valid_from,
        dbt_valid_to,
        lead(dbt_valid_from) over (
            partition by customer_id
            order by dbt_valid_from
        ) as next_valid_from
    from snapshot_versions

)

select * from sequenced
where
    not dbt_valid_to <=> next_valid_from
    or dbt_valid_from >= dbt_valid_to
