-- Nothing is silently dropped (contract 2). Per entity: every distinct Bronze
-- key is in its cleaned model or in the quarantine (the counts add up and no
-- key comes from nowhere), no published key is also rejected by a rule on
-- its current version, and every keyless Bronze row is quarantined.
-- Returns one row per entity where that fails.

with

bronze_rows as (

    select
        'customers' as entity,
        cast(customer_id as string) as record_key
    from {{ source('retailnova', 'customers') }}

    union all

    select
        'products' as entity,
        cast(product_id as string) as record_key
    from {{ source('retailnova', 'products') }}

    union all

    select
        'stores' as entity,
        cast(store_id as string) as record_key
    from {{ source('retailnova', 'stores') }}

    union all

    select
        'sales_orders' as entity,
        cast(order_id as string) as record_key
    from {{ source('retailnova', 'sales_orders') }}

    union all

    select
        'sales_order_lines' as entity,
        cast(order_line_id as string) as record_key
    from {{ source('retailnova', 'sales_order_lines') }}

),

cleaned_keys as (

    select
        'customers' as entity,
        cast(customer_id as string) as record_key
    from {{ ref('int_customers_cleaned') }}

    union all

    select
        'products' as entity,
        cast(product_id as string) as record_key
    from {{ ref('int_products_cleaned') }}

    union all

    select
        'stores' as entity,
        cast(store_id as string) as record_key
    from {{ ref('int_stores_cleaned') }}

    union all

    select
        'sales_orders' as entity,
        cast(order_id as string) as record_key
    from {{ ref('int_orders_enriched') }}

    union all

    select
        'sales_order_lines' as entity,
        cast(order_line_id as string) as record_key
    from {{ ref('int_order_lines_cleaned') }}

),

quarantined as (

    select * from {{ ref('int_records_quarantined') }}

),

bronze_keys as (

    select distinct
        entity,
        record_key
    from bronze_rows
    where record_key is not null

),

bronze_counts as (

    select
        entity,
        count(distinct record_key) as bronze_keys,
        count(*) - count(record_key) as keyless_rows
    from bronze_rows
    group by entity

),

cleaned_counts as (

    select
        entity,
        count(*) as cleaned_keys
    from cleaned_keys
    group by entity

),

quarantined_keys as (

    select distinct
        entity,
        record_key
    from quarantined
    where reason != 'null_key'

),

quarantined_only_counts as (

    select
        quarantined_keys.entity,
        count(*) as quarantined_only_keys
    from quarantined_keys
    left join cleaned_keys
        on
            quarantined_keys.entity = cleaned_keys.entity
            and quarantined_keys.record_key = cleaned_keys.record_key
    where cleaned_keys.record_key is null
    group by quarantined_keys.entity

),

keyless_counts as (

    select
        entity,
        count(*) as quarantined_keyless_rows
    from quarantined
    where reason = 'null_key'
    group by entity

),

published_and_rejected as (

    select
        quarantined.entity,
        count(*) as conflicting_keys
    from quarantined
    inner join cleaned_keys
        on
            quarantined.entity = cleaned_keys.entity
            and quarantined.record_key = cleaned_keys.record_key
    where quarantined.reason not in ('null_key', 'null_last_modified')
    group by quarantined.entity

),

unknown_keys as (

    select
        silver_keys.entity,
        count(*) as keys_not_in_bronze
    from (
        select
            entity,
            record_key
        from cleaned_keys
        union
        select
            entity,
            record_key
        from quarantined_keys
    ) as silver_keys
    left join bronze_keys
        on
            silver_keys.entity = bronze_keys.entity
            and silver_keys.record_key = bronze_keys.record_key
    where bronze_keys.record_key is null
    group by silver_keys.entity

),

reconciled as (

    select
        bronze_counts.entity,
        bronze_counts.bronze_keys,
        bronze_counts.keyless_rows,
        coalesce(cleaned_counts.cleaned_keys, 0) as cleaned_keys,
        coalesce(quarantined_only_counts.quarantined_only_keys, 0) as quarantined_only_keys,
        coalesce(keyless_counts.quarantined_keyless_rows, 0) as quarantined_keyless_rows,
        coalesce(published_and_rejected.conflicting_keys, 0) as conflicting_keys,
        coalesce(unknown_keys.keys_not_in_bronze, 0) as keys_not_in_bronze
    from bronze_counts
    left join cleaned_counts
        on bronze_counts.entity = cleaned_counts.entity
    left join quarantined_only_counts
        on bronze_counts.entity = quarantined_only_counts.entity
    left join keyless_counts
        on bronze_counts.entity = keyless_counts.entity
    left join published_and_rejected
        on bronze_counts.entity = published_and_rejected.entity
    left join unknown_keys
        on bronze_counts.entity = unknown_keys.entity

)

select * from reconciled
where
    bronze_keys != cleaned_keys + quarantined_only_keys
    or keyless_rows != quarantined_keyless_rows
    or conflicting_keys > 0
    or keys_not_in_bronze > 0
