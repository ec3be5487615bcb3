with

stores as (

    select * from {{ ref('stg_retailnova__stores') }}

),

versions_ranked as (

    select
        *,
        {{ latest_version_rank('store_id') }} as version_rank
    from stores
    where store_id is not null and last_modified is not null

),

current_versions as (

    select * from versions_ranked
    where version_rank = 1

),

final as (

    select
        store_id,
        store_code,
        store_name,
        channel,
        city,
        region,
        opened_date,
        is_active,
        last_modified
    from current_versions

)

select * from final
