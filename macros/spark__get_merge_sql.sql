{#- dbt-spark's merge, plus deletes. An incremental model that keeps only the
    keys whose current version passes a rule (a cleaned Silver table) must
    drop a key whose newer version fails it. Such a model selects, on an
    incremental run, the current version of every changed key, passing or
    not, and sets `merge_delete_condition`: a predicate on DBT_INTERNAL_SOURCE
    that is true for a version the table must not hold. A matched key then
    leaves the table, an unmatched one is not inserted. A null predicate
    counts as true, as the full build's `where` drops such a row too. Without
    the config this is dbt-spark's own merge. -#}
{% macro spark__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) %}
    {%- set delete_condition = config.get('merge_delete_condition') -%}
    {%- if not delete_condition -%}
        {{ return(dbt.spark__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates)) }}
    {%- endif -%}
    {%- if not unique_key or unique_key is not string -%}
        {% do exceptions.raise_compiler_error(
            "merge_delete_condition needs a single-column unique_key, got: " ~ unique_key) %}
    {%- endif -%}
    {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
    {%- do predicates.append(
        'DBT_INTERNAL_SOURCE.' ~ unique_key ~ ' = DBT_INTERNAL_DEST.' ~ unique_key) -%}
    merge into {{ target }} as DBT_INTERNAL_DEST
    using {{ source }} as DBT_INTERNAL_SOURCE
        on {{ predicates | join(' and ') }}
    when matched and not coalesce(not ({{ delete_condition }}), false) then delete
    when matched then update set *
    when not matched and coalesce(not ({{ delete_condition }}), false) then insert *
{% endmacro %}
