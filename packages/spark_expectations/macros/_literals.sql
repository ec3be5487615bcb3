{#- A string as a Spark SQL literal: backslashes and quotes escaped for
    Spark's parser. -#}
{% macro spark_expectations_string(value) -%}
    '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{#- Values as Spark literals: strings quoted, numbers and booleans as they are. -#}
{% macro spark_expectations_literals(values) -%}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- if value is string -%}
            {%- do literals.append(spark_expectations.spark_expectations_string(value)) -%}
        {%- elif value is sameas true or value is sameas false -%}
            {%- do literals.append(value | string | lower) -%}
        {%- else -%}
            {%- do literals.append(value | string) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ literals | join(", ") }}
{%- endmacro %}
