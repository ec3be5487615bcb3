{#-
    A model's column checks in one query. On Spark every test is a job with a
    fixed cost (planning, the table's Delta snapshot, scheduling) that dwarfs
    the scan of a small or scoped table, so one query for a model's not-null,
    accepted-values and unique checks costs about what one of them does, plus
    a scan and a group-by per unique column (one pass checks every row's
    not-null and accepted-values checks).
    One row per failing (check, column, value); fail_calc sums failing_rows,
    so the test's failure count is the number of failing rows, as it would be
    across the separate tests.
-#}
{% test expect_column_checks_to_pass(
    model, not_null=[], unique=[], accepted_values={}, row_condition=none
) %}
{{ config(fail_calc="coalesce(sum(failing_rows), 0)") }}
{%- if not (not_null or unique or accepted_values) -%}
    {{ exceptions.raise_compiler_error(
        "expect_column_checks_to_pass on " ~ model ~ ": no checks given (not_null, unique or accepted_values)"
    ) }}
{%- endif -%}
{%- set row_checks = [] -%}
{%- for column in not_null -%}
    {%- do row_checks.append(
        "if(" ~ column ~ " is null, named_struct('check_name', 'not_null', 'column_name', '"
        ~ column ~ "', 'failing_value', cast(null as string)), null)"
    ) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {#- A null is not checked, as in dbt's accepted_values. -#}
    {%- do row_checks.append(
        "if(" ~ column ~ " not in (" ~ spark_expectations.spark_expectations_literals(values) ~ "), named_struct("
        ~ "'check_name', 'accepted_values', 'column_name', '" ~ column
        ~ "', 'failing_value', cast(" ~ column ~ " as string)), null)"
    ) -%}
{%- endfor %}
with checked as (
    select * from {{ model }}{{ spark_expectations.spark_expectations_where(row_condition) }}
)

{%- set branches = [] -%}
{%- if row_checks %}
    {%- do branches.append(
        "select failure.check_name, failure.column_name, failure.failing_value, count(*) as failing_rows\n"
        ~ "from checked\n"
        ~ "lateral view explode(filter(array(\n    " ~ row_checks | join(",\n    ")
        ~ "\n), f -> f is not null)) failures as failure\n"
        ~ "group by failure.check_name, failure.column_name, failure.failing_value"
    ) -%}
{%- endif -%}
{%- for column in unique -%}
    {%- do branches.append(
        "select 'unique' as check_name, '" ~ column ~ "' as column_name, cast(" ~ column
        ~ " as string) as failing_value, count(*) as failing_rows\n"
        ~ "from checked\nwhere " ~ column ~ " is not null\n"
        ~ "group by " ~ column ~ "\nhaving count(*) > 1"
    ) -%}
{%- endfor %}

{{ branches | join("\n\nunion all\n\n") }}
{% endtest %}
