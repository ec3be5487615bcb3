{#- A value of the pipeline run this dbt invocation is part of: run_id, and
    the check_scopes of extract/checks.py. The pipeline passes them in the
    environment (RETAILNOVA_DBT_RUN, a JSON object, extract/transform.py), not
    as dbt vars: vars that change every run make dbt parse the whole project
    again every run, while an environment variable read only when a node
    runs is invisible to parsing, so partial parsing holds. A name the
    environment does not give falls back to the dbt var (`--vars` by hand). -#}
{% macro run_var(name, default=none) -%}
    {%- set given = fromjson(env_var('RETAILNOVA_DBT_RUN', '{}')) if execute else {} -%}
    {%- if name in given -%}
        {{ return(given[name]) }}
    {%- endif -%}
    {{ return(var(name, default)) }}
{%- endmacro %}
