-- Exactly one current version (dbt_valid_to null) per customer, for every
-- customer of int_customers_cleaned and no other, and it holds the cleaned
-- model's values of the tracked columns. Returns one row per customer where
-- that fails.

with

customers as (

    select * from {{ ref('int_customers_cleaned') }}

),

snapshot_versions as (

    select * from {{ ref('snap_customers') }}

),

current_versions as (

    select * from snapshot_versions
    where dbt_valid_to is null

),

current_counts as (

    select
        customer_id,
        count(*) as current_versions
    from current_versions
    group by customer_id

),

compared as (

    select
        coalesce(customers.customer_id, current_versions.customer_id) as customer_id,
        customers.customer_id is not null as is_in_cleaned_model,
        coalesce(
            customers.address <=> current_versions.address
            and customers.city <=> current_versions.city
            and customers.postal_code <=> current_versions.postal_code
            and customers.country <=> current_versions.country
            and customers.email_hash <=> current_versions.email_hash
            and customers.loyalty_tier <=> current_versions.loyalty_tier
            and customers.is_active <=> current_versions.is_active,
            false
        ) as is_tracked_state_equal
    from customers
    full outer join current_versions
        on customers.customer_id = current_versions.customer_id

),

counted as (

    select
        compared.customer_id,
        compared.is_in_cleaned_model,
        compared.is_tracked_state_equal,
        coalesce(current_counts.current_versions, 0) as current_versions
    from compared
    left join current_counts
        on compared.customer_id = current_counts.customer_id

)

select * from counted
where
    current_versions != 1
    or not is_in_cleaned_model
    or not is_tracked_state_equal
