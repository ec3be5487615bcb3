with

order_lines as (

    select * from {{ ref('stg_retailnova__order_lines') }}

),

versions_ranked as (

    select
        *,
        {{ latest_version_rank('order_line_id') }} as version_rank
    from order_lines
    where order_line_id is not null and last_modified is not null

),

current_versions as (

    select * from versions_ranked
    where version_rank = 1

),

-- A line whose current quantity is not positive is quarantined
-- (int_records_quarantined), not counted.
final as (

    select
        order_line_id,
        order_id,
        product_id,
        quantity,
        unit_price,
        created_at,
        last_modified
    from current_versions
    where quantity > 0

)

select * from final
