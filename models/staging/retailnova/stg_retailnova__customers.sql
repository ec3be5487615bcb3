-- A table, not a view: Spark substitutes the pepper into the SQL text before
-- it stores a view's definition, so a view here would keep the secret in the
-- metastore. A table keeps only the hashes.
{{ config(materialized='table') }}

with

source as (

    select * from {{ source('retailnova', 'customers') }}

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
