{#- SCD Type 2 on the snapshot's check columns (address, city, postal_code,
    country, email_hash, loyalty_tier, is_active); the other attributes are
    Type 1, taken from the customer's current row. -#}
{%- set floor_timestamp = "cast('1900-01-01 00:00:00' as timestamp)" -%}
{%- set open_end_timestamp = "cast('9999-12-31 00:00:00' as timestamp)" -%}

with

snap_customers as (

    select * from {{ ref('snap_customers') }}

),

int_customers_cleaned as (

    select * from {{ ref('int_customers_cleaned') }}

),

versions_ordered as (

    select
        customer_id,
        dbt_scd_id,
        dbt_valid_from,
        email_hash,
        is_email_valid,
        address,
        city,
        postal_code,
        country,
        loyalty_tier,
        is_active,
        row_number() over (
            partition by customer_id
            order by dbt_valid_from asc, dbt_updated_at asc, dbt_scd_id asc
        ) as version_number,
        lead(dbt_valid_from) over (
            partition by customer_id
            order by dbt_valid_from asc, dbt_updated_at asc, dbt_scd_id asc
        ) as next_valid_from
    from snap_customers

),

-- Validity comes from the order of the versions, not from dbt_valid_to, so
-- the intervals of a customer never overlap and the latest version is always
-- the one current row. The first version reaches back to the floor date:
-- orders placed before the customer's first recorded change still join.
customer_versions as (

    select
        versions_ordered.dbt_scd_id as customer_key,
        versions_ordered.customer_id,
        int_customers_cleaned.first_name,
        int_customers_cleaned.last_name,
        versions_ordered.email_hash,
        int_customers_cleaned.phone_hash,
        versions_ordered.is_email_valid,
        int_customers_cleaned.date_of_birth,
        int_customers_cleaned.age_years,
        versions_ordered.address,
        versions_ordered.city,
        versions_ordered.postal_code,
        versions_ordered.country,
        versions_ordered.loyalty_tier,
        versions_ordered.is_active,
        int_customers_cleaned.created_at,
        versions_ordered.version_number,
        case
            when versions_ordered.version_number = 1 then {{ floor_timestamp }}
            else versions_ordered.dbt_valid_from
        end as valid_from,
        coalesce(versions_ordered.next_valid_from, {{ open_end_timestamp }}) as valid_to,
        versions_ordered.next_valid_from is null as is_current
    from versions_ordered
    left join int_customers_cleaned
        on versions_ordered.customer_id = int_customers_cleaned.customer_id

),

unknown_member as (

    select
        {{ unknown_member_key() }} as customer_key,
        cast(-1 as int) as customer_id,
        'Unknown' as first_name,
        'Unknown' as last_name,
        cast(null as string) as email_hash,
        cast(null as string) as phone_hash,
        false as is_email_valid,
        cast(null as date) as date_of_birth,
        cast(null as int) as age_years,
        cast(null as string) as address,
        'Unknown' as city,
        cast(null as string) as postal_code,
        'Unknown' as country,
        'Unknown' as loyalty_tier,
        cast(null as boolean) as is_active,
        cast(null as timestamp) as created_at,
        1 as version_number,
        {{ floor_timestamp }} as valid_from,
        {{ open_end_timestamp }} as valid_to,
        true as is_current

),

unioned as (

    select * from customer_versions
    union all
    select * from unknown_member

),

final as (

    select
        customer_key,
        customer_id,
        first_name,
        last_name,
        email_hash,
        phone_hash,
        is_email_valid,
        date_of_birth,
        address,
        city,
        postal_code,
        country,
        loyalty_tier,
        is_active,
        created_at,
        valid_from,
        valid_to,
        is_current,
        cast(age_years as int) as age_years,
        cast(version_number as int) as version_number
    from unioned

)

select * from final
