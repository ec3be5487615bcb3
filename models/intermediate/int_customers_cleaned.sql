{#- Ages are taken at var as_of_date when it is set, else today. -#}
{%- set as_of_date = var('as_of_date') -%}
{%- set as_of_date_sql = "current_date()" -%}
{%- if as_of_date -%}
    {%- set as_of_date_sql = "cast('" ~ as_of_date ~ "' as date)" -%}
{%- endif -%}

with

customers as (

    select * from {{ ref('stg_retailnova__customers') }}

),

reference_date as (

    select {{ as_of_date_sql }} as as_of_date

),

versions_ranked as (

    select
        *,
        {{ latest_version_rank('customer_id') }} as version_rank
    from customers
    where customer_id is not null and last_modified is not null

),

current_versions as (

    select * from versions_ranked
    where version_rank = 1

),

cleaned as (

    select
        current_versions.customer_id,
        current_versions.email_hash,
        current_versions.phone_hash,
        current_versions.is_email_valid,
        current_versions.date_of_birth,
        current_versions.address,
        current_versions.city,
        current_versions.postal_code,
        current_versions.loyalty_tier,
        current_versions.is_active,
        current_versions.created_at,
        current_versions.last_modified,
        initcap(trim(current_versions.first_name)) as first_name,
        initcap(trim(current_versions.last_name)) as last_name,
        upper(trim(current_versions.country)) as country,
        -- Whole years: one less while this year's birthday is still to come
        -- (a 29 February birthday comes on 1 March in other years).
        year(reference_date.as_of_date) - year(current_versions.date_of_birth)
        - case
            when
                month(reference_date.as_of_date) * 100 + day(reference_date.as_of_date)
                < month(current_versions.date_of_birth) * 100
                + day(current_versions.date_of_birth)
                then 1
            else 0
        end as age_years
    from current_versions
    cross join reference_date

),

final as (

    select
        customer_id,
        first_name,
        last_name,
        email_hash,
        phone_hash,
        is_email_valid,
        date_of_birth,
        age_years,
        address,
        city,
        postal_code,
        country,
        loyalty_tier,
        is_active,
        created_at,
        last_modified
    from cleaned

)

select * from final
