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

{#- Whether a Silver relation's rows are each written once from their Bronze
    landing, so a whole-history scan of it may read only those landed since
    its scope: an incremental model (it writes only rows landed since its last
    run) or a view over append-only Bronze, with `extracted_at`. A table
    model or a snapshot is rewritten by runs and read whole. -#}
{% macro written_by_landing(relation, columns=none) -%}
    {%- set materialized = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.schema == relation.schema and node.alias == relation.identifier -%}
            {%- do materialized.append(node.config.materialized) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if materialized | select('in', ['incremental', 'view']) | list | length == 0 -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set columns = columns if columns is not none
        else adapter.get_columns_in_relation(relation) -%}
    {{ return('extracted_at' in columns | map(attribute='name') | list) }}
{%- endmacro %}
