{#- dbt's test materialization (dbt-core 1.11, macros/materializations/tests/test.sql)
    for Spark, changed in one place: with store_failures, a test's rows are
    stored only when it finds failures. dbt writes the table for every test,
    passing or not, and then counts it; on Spark that is a Delta table created
    and its log loaded again, about 1 s a rule every run, for an empty table.
    Here the test's query is counted first and written out only when it finds
    something. A passing test still drops the table an earlier failure left:
    what is stored is what the test found the last time it ran. -#}
{%- materialization test, adapter='spark' -%}

  {% set relations = [] %}
  {% set limit = config.get('limit') %}
  {% set sql_header = config.get('sql_header') if flags.REQUIRE_SQL_HEADER_IN_TEST_CONFIGS else none %}

  {% set sql_with_limit %}
    {{ get_limit_subquery_sql(sql, limit) }}
  {% endset %}

  {% set fail_calc = config.get('fail_calc') %}
  {% set warn_if = config.get('warn_if') %}
  {% set error_if = config.get('error_if') %}

  {% call statement('main', fetch_result=True) -%}
    {% if sql_header %}{{ sql_header }}{% endif %}
    {{ get_test_sql(sql_with_limit, fail_calc, warn_if, error_if, limit=none) }}
  {%- endcall %}

  {% if should_store_failures() %}

    {% set identifier = model['alias'] %}
    {% set old_relation = adapter.get_relation(database=database, schema=schema, identifier=identifier) %}

    {% set store_failures_as = config.get('store_failures_as') %}
    {% if store_failures_as == none %}{% set store_failures_as = 'table' %}{% endif %}
    {% if store_failures_as not in ['table', 'view'] %}
        {{ exceptions.raise_compiler_error(
            "'" ~ store_failures_as ~ "' is not a valid value for `store_failures_as`. "
            "Accepted values are: ['ephemeral', 'table', 'view']"
        ) }}
    {% endif %}

    {% if old_relation %}
        {% do adapter.drop_relation(old_relation) %}
    {% endif %}

    {% set failures = load_result('main')['table'].rows[0][0] %}
    {% if failures is not none and failures != 0 %}
      {% set target_relation = api.Relation.create(
          identifier=identifier, schema=schema, database=database, type=store_failures_as) -%}
      {% call statement(auto_begin=True) %}
          {% if sql_header %}{{ sql_header }}{% endif %}
          {{ get_create_sql(target_relation, sql_with_limit) }}
      {% endcall %}
      {% do relations.append(target_relation) %}
      {{ adapter.commit() }}
    {% endif %}

  {% endif %}

  {{ return({'relations': relations}) }}

{%- endmaterialization -%}
