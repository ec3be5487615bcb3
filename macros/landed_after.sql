{#- The scope of a whole-history check (a data test tagged landed_scope): the
    rows landed after the Bronze landing up to which this test last passed,
    with the same project code, in a pipeline run. The pipeline passes those
    landings as check_scopes (macro run_var), one per test (extract/checks.py),
    or by hand `--vars '{"check_scopes": {...}}'`; a test it
    names none for (a first run, a full refresh, changed code, the periodic
    full check, or `dbt test` by hand) checks everything:
        where {{ landed_after('extracted_at') }}
    Rendered as a literal in epoch microseconds, so Delta skips the files
    landed before it by their statistics. -#}
{% macro landed_after(column) -%}
    {%- set since = check_scope() -%}
    {%- if since is none -%}
        true
    {%- else -%}
        {{ column }} > timestamp_micros({{ since }})
    {%- endif -%}
{%- endmacro %}

{#- This test's scope in epoch microseconds, or none for the whole history. -#}
{% macro check_scope() -%}
    {%- set since = run_var('check_scopes', {}).get(model.name) -%}
    {{ return(none if since is none else since | int) }}
{%- endmacro %}

{#- The rows of a Silver relation a scoped whole-history scan must read, as
    a condition on it, or none to read it whole (no scope, or rows a run may
    rewrite). An incremental model writes only rows landed since its last run
    and a view over append-only Bronze maps each row on its own: with
    `extracted_at`, the rows landed since the scope. A model or snapshot whose
    config meta names a `landed_key` (`column`, and the `landing` relation
    that carries `extracted_at`) holds, per key, rows its code derives from
    that key's landed rows alone: a key with no row landed since holds what
    the scan read when it last passed with the same code, so only the keys
    landed since are read. Anything else, whole. -#}
{% macro landed_filter(relation, columns=none) -%}
    {%- if check_scope() is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set nodes = graph.nodes.values()
        | selectattr('schema', 'equalto', relation.schema)
        | selectattr('alias', 'equalto', relation.identifier) | list -%}
    {%- set landed_key = nodes | map(attribute='config.meta')
        | map('default', {}, true) | selectattr('landed_key', 'defined')
        | map(attribute='landed_key') | first -%}
    {%- if landed_key -%}
        {%- set landing = graph.nodes.values()
            | selectattr('resource_type', 'in', ['model', 'snapshot'])
            | selectattr('name', 'equalto', landed_key.landing) | first -%}
        {%- if landing is undefined -%}
            {{ exceptions.raise_compiler_error(
                relation ~ ": landed_key names landing " ~ landed_key.landing
                ~ ", which is not a model of this project"
            ) }}
        {%- endif -%}
        {%- set landing_relation = api.Relation.create(
            database=landing.database, schema=landing.schema, identifier=landing.alias
        ) -%}
        {{ return(landed_rows(landing_relation, 'extracted_at', landed_key.column)) }}
    {%- endif -%}
    {%- if nodes | map(attribute='config.materialized')
        | select('in', ['incremental', 'view']) | list | length == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set columns = columns if columns is not none
        else adapter.get_columns_in_relation(relation) -%}
    {{ return(landed_after('extracted_at')
        if 'extracted_at' in columns | map(attribute='name') | list else none) }}
{%- endmacro %}
