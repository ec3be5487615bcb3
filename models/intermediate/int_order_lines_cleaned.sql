{#- Incremental: a day touches about 1% of the lines, so a run ranks only the
    versions of the keys with a version landed in Bronze since the newest
    landing this table holds (late older versions included: the rank still
    sees every version of such a key) and merges their current versions. A
    key whose current version now fails the quantity rule leaves the table
    (merge_delete_condition, macros/spark__get_merge_sql.sql). Shared config
    in dbt_project.yml. -#}
{{
    config(
        unique_key='order_line_id',
        merge_delete_condition='not DBT_INTERNAL_SOURCE.quantity > 0',
    )
}}

with

order_lines as (

    select * from {{ ref('stg_retailnova__order_lines') }}

),

{% if is_incremental() %}

changed_keys as (

    select distinct order_line_id
    from order_lines
    where extracted_at > {{ last_landing() }}

),

{% endif %}

versions_ranked as (

    select
        *,
        {{ latest_version_rank('order_line_id') }} as version_rank
    from order_lines
    where order_line_id is not null and last_modified is not null
    {% if is_incremental() %}
        -- Broadcast: a day's keys, which Spark would size as the whole table.
        and order_line_id in (
            select /*+ broadcast(changed_keys) */ changed_keys.order_line_id
            from changed_keys
        )
    {% endif %}

),

current_versions as (

    select * from versions_ranked
    where version_rank = 1

),

-- A line whose current quantity is not positive is quarantined
-- (int_records_quarantined), not counted; on an incremental run the merge
-- drops it.
final as (

    select
        order_line_id,
        order_id,
        product_id,
        quantity,
        unit_price,
        created_at,
        last_modified,
        extracted_at
    from current_versions
    {% if not is_incremental() %}
        where quantity > 0
    {% endif %}

)

select * from final
