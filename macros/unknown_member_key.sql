{#- The surrogate key of every dimension's explicit unknown member (contract
    3: a missing dimension member maps to it, never drops the fact). The
    member's natural id is -1. -#}
{% macro unknown_member_key() -%}
    '-1'
{%- endmacro %}
