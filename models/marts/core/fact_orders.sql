{#- fact_sales rolled up to the order: one row per revenue-bearing order, with
    its lines, units and exact net amount. The analytics marts read it instead
    of the lines: a third of the rows, summed once.
    Incremental, merged on order_id. A run recomputes only the orders that
    fact_sales' change data feed names since this model last read it (a fact
    inserted, updated or deleted; an update names the order before and after,
    so a line that moved to another order recomputes both), reading only
    those orders' months of fact_sales. An order left without facts leaves
    the table (merge_delete_condition). Without usable change data (the feed
    off, or the log past it) the run recomputes every order. Partitioned by
    order month like fact_sales, and without deletion vectors for the same
    reason: the app reads Gold through deltalake. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='order_id',
        merge_delete_condition='DBT_INTERNAL_SOURCE.line_count is null',
        file_format='delta',
        partition_by=['order_month'],
        on_schema_change='fail',
        post_hook="{{ record_read_version(ref('fact_sales')) }}",
    )
}}

{%- set changes = changed_rows(ref('fact_sales')) if is_incremental() else none %}

with

fact_sales as (

    select * from {{ ref('fact_sales') }}

),

{%- if is_incremental() %}

-- With a month each, so the read of fact_sales below skips the other months.
changed_orders as (

    {%- if changes is not none %}
        select distinct
            order_id,
            order_month
        from ({{ changes }})
    {%- else %}
        select
            order_id,
            order_month
        from fact_sales
        union
        select
            order_id,
            order_month
        from {{ this }}
    {%- endif %}

),
{%- endif %}

sales as (

    select {% if changes is not none %}/*+ broadcast(changed_orders) */{% endif %}
        fact_sales.order_id,
        fact_sales.customer_id,
        fact_sales.store_id,
        fact_sales.order_date,
        fact_sales.order_month,
        fact_sales.quantity,
        fact_sales.net_amount
    from fact_sales
    {%- if is_incremental() %}
        inner join changed_orders
            on
                fact_sales.order_month = changed_orders.order_month
                and fact_sales.order_id = changed_orders.order_id
    {%- endif %}

),

-- Customer, store and date are the order's, the same on each of its lines.
final as (

    select
        order_id,
        cast(count(*) as int) as line_count,
        cast(sum(quantity) as int) as quantity,
        -- Exact: a sum of exact line amounts (6 decimals), rounded by nobody.
        cast(sum(net_amount) as decimal(18, 6)) as net_amount,
        min(customer_id) as customer_id,
        min(store_id) as store_id,
        min(order_date) as order_date,
        min(order_month) as order_month
    from sales
    group by order_id

){% if is_incremental() %},

-- One row per changed order: its new figures, or only its key when none of
-- its facts is left (merge_delete_condition).
merged as (

    select
        changed_order_ids.order_id,
        final.customer_id,
        final.store_id,
        final.order_date,
        final.order_month,
        final.line_count,
        final.quantity,
        final.net_amount
    from (select distinct order_id from changed_orders) as changed_order_ids
    left join final
        on changed_order_ids.order_id = final.order_id

){% endif %}

select * from {{ 'merged' if is_incremental() else 'final' }}
