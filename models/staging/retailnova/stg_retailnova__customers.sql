-- A table, not a view: Spark substitutes the pepper into the SQL text before
-- it stores a view's definition, so a view here would keep the secret in the
-- metastore. A table keeps only the hashes. Incremental, appending the Bronze
-- versions landed since its newest: Bronze is append-only and each row maps
-- on its own, so hashing every version again each run bought nothing. A new
-- pepper needs every version rehashed: `retailnova pii rotate` rebuilds it
-- with --full-refresh; an erasure masks its rows in place.
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

source as (

    select * from {{ source('retailnova', 'customers') }}
    {%- if is_incremental() %}
    where _extracted_at > {{ last_landing() }}
    {%- endif %}

),

contact_cleaned as (

    select
        *,
        nullif(lower(trim(email)), '') as email_cleaned,
        nullif(regexp_replace(phone, '[\\s().-]', ''), '') as phone_cleaned
    from source

),

renamed as (

    select
        customer_id,
        first_name,
        last_name,
        date_of_birth,
        address,
        city,
        postal_code,
        country,
        is_active,
        created_at,
        last_modified,
        _extracted_at as extracted_at,
        _run_id as extract_run_id,
        trim(loyalty_tier) as loyalty_tier,
        {{ is_valid_email('email_cleaned') }} as is_email_valid,
        {{ hash_pii('email_cleaned') }} as email_hash,
        {{ hash_pii('phone_cleaned') }} as phone_hash
    from contact_cleaned

)

select * from renamed
