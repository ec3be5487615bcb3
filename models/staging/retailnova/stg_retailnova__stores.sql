with

source as (

    select * from {{ source('retailnova', 'stores') }}

),

renamed as (

    select
        store_id,
        opened_date,
        is_active,
        last_modified,
        _extracted_at as extracted_at,
        _run_id as extract_run_id,
        trim(store_code) as store_code,
        trim(store_name) as store_name,
        trim(channel) as channel,
        trim(city) as city,
        trim(region) as region
    from source

)

select * from renamed
