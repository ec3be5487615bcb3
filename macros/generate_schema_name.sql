{#- The layers are schemas named bronze, silver and gold in every target:
    no target prefix, so the lake's layout is the same everywhere. Slim CI
    (`retailnova slim-ci`) sets var schema_prefix so an analyst's change builds
    into ci_silver / ci_gold beside production, never over it. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set prefix = var('schema_prefix', '') -%}
    {%- if custom_schema_name is none -%}
        {{ prefix ~ target.schema }}
    {%- else -%}
        {{ prefix ~ (custom_schema_name | trim) }}
    {%- endif -%}
{%- endmacro %}
