{#- The source query of snap_customers (its config and columns:
    _snapshots__models.yml). A check-strategy snapshot compares every row its
    query returns with the current versions, and a customer it does not return
    keeps its current version. So once the snapshot has succeeded it is fed
    only the customers with a Bronze version landed since (scoped like the
    whole-history checks, extract/checks.py; tag landed_scope): a day's few
    thousand instead of every customer. By landing, not last_modified, so a
    version committed late with an older last_modified is still compared.
    Every customer is compared again after a full refresh, a change to the
    project's code (a cleaning change must reach every current version), a
    GDPR erasure, and every RETAILNOVA_FULL_CHECK_DAYS days. -#}
{% snapshot snap_customers %}

    {{ config(tags=['landed_scope']) }}

    {%- set scoped = check_scope() is not none %}

    -- Read on scoped runs only; dbt needs the edge either way.
    -- depends_on: {{ ref('stg_retailnova__customers') }}

    with

    customers as (

        select * from {{ ref('int_customers_cleaned') }}

    ){%- if scoped %},

        landed_customers as (

            select distinct customer_id
            from {{ ref('stg_retailnova__customers') }}
            where {{ landed_after('extracted_at') }}

        )

    {%- endif %}

    -- customers.*: the snapshot follows the cleaned model's columns.
    select customers.*  -- noqa: AM04
    from customers
    {%- if scoped %}
        left semi join landed_customers
            on customers.customer_id = landed_customers.customer_id
    {%- endif %}

{% endsnapshot %}
