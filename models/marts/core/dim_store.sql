with

int_stores_cleaned as (

    select * from {{ ref('int_stores_cleaned') }}

),

stores as (

    select
        store_id,
        store_code,
        store_name,
        channel,
        city,
        region,
        opened_date,
        is_active,
        last_modified,
        md5(cast(store_id as string)) as store_key
    from int_stores_cleaned

),

unknown_member as (

    select
        cast(-1 as int) as store_id,
        'UNKNOWN' as store_code,
        'Unknown store' as store_name,
        'Unknown' as channel,
        'Unknown' as city,
        'Unknown' as region,
        cast(null as date) as opened_date,
        cast(null as boolean) as is_active,
        cast(null as timestamp) as last_modified,
        {{ unknown_member_key() }} as store_key

),

unioned as (

    select * from stores
    union all
    select * from unknown_member

),

final as (

    select
        store_key,
        store_id,
        store_code,
        store_name,
        channel,
        city,
        region,
        opened_date,
        is_active,
        last_modified
    from unioned

)

select * from final
