{#- dbt-spark's merge, plus deletes and skipped no-op updates.
    Deletes: an incremental model that keeps only the keys whose current
    version passes a rule (a cleaned Silver table) must drop a key whose
    newer version fails it. Such a model selects, on an incremental run, the
    current version of every changed key, passing or not, and sets
    `merge_delete_condition`: a predicate on DBT_INTERNAL_SOURCE that is true
    for a version the table must not hold. A matched key then leaves the
    table, an unmatched one is not inserted. A null predicate counts as true,
    as the full build's `where` drops such a row too.
    No-op updates: a model whose selection re-reads rows it already holds (a
    lookback for late commits) sets `merge_skip_unchanged` to the columns
    that only say when a row was written (or true for none). A matched row
    equal to its source in every other column is then left as it is: it
    keeps its write time, and the change data feed does not report it, so
    what reads the feed or scopes its tests by that time sees only the rows
    whose values moved.
    Without either config this is dbt-spark's own merge. -#}
{% macro spark__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) %}
    {%- set delete_condition = config.get('merge_delete_condition') -%}
    {%- set skip_unchanged = config.get('merge_skip_unchanged') -%}
    {%- if not delete_condition and skip_unchanged is none -%}
        {{ return(dbt.spark__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates)) }}
    {%- endif -%}
    {%- if not unique_key or unique_key is not string -%}
        {% do exceptions.raise_compiler_error(
            "merge_delete_condition and merge_skip_unchanged need a single-column unique_key, got: "
            ~ unique_key) %}
    {%- endif -%}
    {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
    {%- do predicates.append(
        'DBT_INTERNAL_SOURCE.' ~ unique_key ~ ' = DBT_INTERNAL_DEST.' ~ unique_key) -%}
    {%- set update_condition = merge_changed_condition(target, skip_unchanged) if skip_unchanged is not none else none -%}
    merge into {{ target }} as DBT_INTERNAL_DEST
    using {{ source }} as DBT_INTERNAL_SOURCE
        on {{ predicates | join(' and ') }}
    {%- if delete_condition %}
    when matched and not coalesce(not ({{ delete_condition }}), false) then delete
    {%- endif %}
    when matched{% if update_condition %} and {{ update_condition }}{% endif %} then update set *
    when not matched{% if delete_condition %} and coalesce(not ({{ delete_condition }}), false){% endif %} then insert *
{% endmacro %}


{#- True for a matched row that differs from its source in a column other
    than the ignored ones (null-safe: null against null is no change). -#}
{% macro merge_changed_condition(target, ignored) %}
    {%- set ignored = [] if ignored is sameas true else ignored -%}
    {%- if ignored is string or ignored is not iterable -%}
        {% do exceptions.raise_compiler_error(
            "merge_skip_unchanged is true or a list of column names, got: " ~ ignored) %}
    {%- endif -%}
    {%- set ignored = ignored | map('lower') | list -%}
    {%- set names = adapter.get_columns_in_relation(target) | map(attribute='name') | map('lower') | list -%}
    {%- set unknown = ignored | reject('in', names) | list -%}
    {%- if unknown -%}
        {% do exceptions.raise_compiler_error(
            "merge_skip_unchanged names columns " ~ target ~ " does not have: " ~ unknown | join(', ')) %}
    {%- endif -%}
    {%- set compared = [] -%}
    {%- for name in names if name not in ignored -%}
        {%- do compared.append(
            'DBT_INTERNAL_SOURCE.' ~ adapter.quote(name) ~ ' <=> DBT_INTERNAL_DEST.' ~ adapter.quote(name)) -%}
    {%- endfor -%}
    {{ return('not (' ~ compared | join(' and ') ~ ')') }}
{% endmacro %}
