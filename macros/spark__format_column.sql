{#- A column's type as dbt's model contracts compare it. Over a Thrift server
    the types are the driver's type codes, and a column read from Bronze
    reports VARCHAR_TYPE (Spark keeps the source's varchar(n) as metadata of a
    string) where the contract's `string` reports STRING_TYPE: in Spark both are
    strings, and the session target sees `string` for both. -#}
{% macro spark__format_column(column) -%}
    {%- set data_type = column.dtype -%}
    {%- if data_type in ('VARCHAR_TYPE', 'CHAR_TYPE') -%}
        {%- set data_type = 'STRING_TYPE' -%}
    {%- endif -%}
    {%- set formatted = column.column.lower() ~ " " ~ data_type -%}
    {{ return({'name': column.name, 'data_type': data_type, 'formatted': formatted}) }}
{%- endmacro %}
