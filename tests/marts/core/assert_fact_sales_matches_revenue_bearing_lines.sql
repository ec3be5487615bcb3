-- fact_sales holds exactly the revenue-bearing lines of Silver (contract 3),
-- after any sequence of incremental runs: no line missing, no line of an order
-- that stopped being revenue-bearing or of a quarantined line, and each fact's
-- measures equal Silver's current values. A whole-history check, scoped
-- (landed_after) once it has passed: a fact's measures and presence follow
-- its line and its order, so only the orders with an order or line version
-- landed in Bronze since this test last passed are reconciled, all their lines
-- (and the orders any version of a landed line belonged to).
{{ config(tags=['landed_scope']) }}
-- The scoped form's refs, for a parse made while the check had no scope
-- (dbt parses once, then only what changed: macro run_var).
-- depends_on: {{ ref('stg_retailnova__order_lines') }}
-- depends_on: {{ ref('stg_retailnova__orders') }}
{%- set scoped = check_scope() is not none %}

with
{%- if scoped %}

landed_lines as (

    select order_line_id
    from {{ ref('stg_retailnova__order_lines') }}
    where {{ landed_after('extracted_at') }}

),

-- Every order a landed line belongs or belonged to (a line may change order).
orders_in_scope as (

    select order_id
    from {{ ref('stg_retailnova__orders') }}
    where {{ landed_after('extracted_at') }}

    union

    select /*+ broadcast(landed_lines) */ order_lines.order_id
    from {{ ref('stg_retailnova__order_lines') }} as order_lines
    left semi join landed_lines
        on order_lines.order_line_id = landed_lines.order_line_id

),
{%- endif %}

fact_sales as (

    select {% if scoped %}/*+ broadcast(orders_in_scope) */ {% endif %}fact_sales.*
    from {{ ref('fact_sales') }} as fact_sales
    {%- if scoped %}
    left semi join orders_in_scope
        on fact_sales.order_id = orders_in_scope.order_id
    {%- endif %}

),

int_order_lines_cleaned as (

    select {% if scoped %}/*+ broadcast(orders_in_scope) */ {% endif %}int_order_lines_cleaned.*
    from {{ ref('int_order_lines_cleaned') }} as int_order_lines_cleaned
    {%- if scoped %}
    left semi join orders_in_scope
        on int_order_lines_cleaned.order_id = orders_in_scope.order_id
    {%- endif %}

),

int_orders_enriched as (

    select {% if scoped %}/*+ broadcast(orders_in_scope) */ {% endif %}int_orders_enriched.*
    from {{ ref('int_orders_enriched') }} as int_orders_enriched
    {%- if scoped %}
    left semi join orders_in_scope
        on int_orders_enriched.order_id = orders_in_scope.order_id
    {%- endif %}

),

expected as (

    select
        int_order_lines_cleaned.order_line_id,
        int_order_lines_cleaned.order_id,
        int_orders_enriched.customer_id,
        int_orders_enriched.order_date,
        int_order_lines_cleaned.quantity,
        int_order_lines_cleaned.unit_price,
        int_orders_enriched.discount_pct,
        cast(
            int_order_lines_cleaned.quantity
            * int_order_lines_cleaned.unit_price
            * (1 - int_orders_enriched.discount_pct / 100)
            as decimal(18, 6)
        ) as net_amount
    from int_order_lines_cleaned
    inner join int_orders_enriched
        on int_order_lines_cleaned.order_id = int_orders_enriched.order_id
    where int_orders_enriched.is_revenue_bearing

),

final as (

    select
        coalesce(expected.order_line_id, fact_sales.order_line_id) as order_line_id,
        case
            when fact_sales.order_line_id is null then 'missing from fact_sales'
            when expected.order_line_id is null then 'not a revenue-bearing line'
            else 'differs from Silver'
        end as problem
    from expected
    full outer join fact_sales
        on expected.order_line_id = fact_sales.order_line_id
    where
        fact_sales.order_line_id is null
        or expected.order_line_id is null
        or not (
            expected.order_id <=> fact_sales.order_id
            and expected.customer_id <=> fact_sales.customer_id
            and expected.order_date <=> fact_sales.order_date
            and expected.quantity <=> fact_sales.quantity
            and expected.unit_price <=> fact_sales.unit_price
            and expected.discount_pct <=> fact_sales.discount_pct
            and expected.net_amount <=> fact_sales.net_amount
        )

)

select * from final
