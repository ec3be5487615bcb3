"""Data-quality results of a run reach the metadata store, one row per rule."""

from __future__ import annotations

from extract import dq
from extract.metadata import MetadataStore, data_quality_rules
from extract.pipeline import RunSummary, _count_rows, _record_quality
from extract.spark import ensure_schema
from extract.transform import NodeResult


def test_every_rule_of_the_run_is_logged_with_its_status(catalog, settings):
    ensure_schema(catalog, settings, "silver")
    catalog.sql(
        "CREATE TABLE silver.int_customers_cleaned USING DELTA AS "
        "SELECT id AS customer_id FROM range(1, 41)"
    )
    rules = [r for r in dq.load_rules() if r.target_table == "int_customers_cleaned"]
    nodes = [
        NodeResult("model.x", "model", "int_customers_cleaned", "silver.int_customers_cleaned",
                   "table", "success", 1.0),
        NodeResult("test.a", "test", "customers_id_unique", None, "test", "pass", 0.1, failures=0),
        NodeResult("test.b", "test", "customers_phone_completeness", None, "test", "warn", 0.1,
                   failures=1),
        NodeResult("test.c", "test", "customers_id_not_null", None, "test", "fail", 0.1,
                   failures=3),
    ]  # fmt: skip
    store = MetadataStore(settings.metadata_url)

    with store.run("run", "dq-run") as run:
        results = _record_quality(catalog, store, run.run_id, nodes)
        summary = RunSummary(run, nodes=nodes, quality=results)

    logged = {r["rule_name"]: r for r in store.latest_quality()}
    assert set(logged) == {r.rule_name for r in rules if r.is_active}
    assert logged["customers_id_unique"]["status"] == "PASS"
    assert logged["customers_id_unique"]["checked_rows"] == 40
    assert logged["customers_phone_completeness"]["status"] == "WARNING"
    assert logged["customers_id_not_null"]["status"] == "FAIL"
    assert logged["customers_id_not_null"]["failing_rows"] == 3
    # A rule whose test never ran is not a pass.
    assert logged["customers_row_count"]["status"] == "ERROR"
    assert summary.blocked_by_quality == ["customers_id_not_null"]
    assert len(store.recent(data_quality_rules, data_quality_rules.c.rule_name, 100)) == 18


def test_every_built_table_is_counted(catalog, settings):
    ensure_schema(catalog, settings, "silver")
    for name, rows in (("a", 3), ("b", 0), ("c", 5)):
        catalog.sql(f"CREATE TABLE silver.{name} USING DELTA AS SELECT id FROM range({rows})")
    nodes = [
        NodeResult("model.a", "model", "a", "silver.a", "table", "success", 1.0),
        NodeResult("model.b", "model", "b", "silver.b", "incremental", "success", 1.0),
        NodeResult("model.c", "model", "c", "silver.c", "table", "error", 1.0),
        NodeResult("model.v", "model", "v", "silver.v", "view", "success", 1.0),
        NodeResult("test.t", "test", "t", None, "test", "pass", 0.1),
    ]  # fmt: skip

    _count_rows(catalog, nodes)

    # A failed build and a view are not counted (a view would be read whole).
    assert [n.rows for n in nodes] == [3, 0, None, None, None]


def test_a_rule_reuses_the_count_of_the_model_it_checks(catalog, settings):
    # The model's table is not in the catalog: counting it again would fail.
    nodes = [
        NodeResult("model.x", "model", "int_customers_cleaned", "silver.int_customers_cleaned",
                   "table", "success", 1.0, rows=40),
        NodeResult("test.a", "test", "customers_id_unique", None, "test", "pass", 0.1, failures=0),
    ]  # fmt: skip
    settings.ensure_dirs()
    store = MetadataStore(settings.metadata_url)

    with store.run("run", "dq-run") as run:
        _record_quality(catalog, store, run.run_id, nodes)

    logged = {r["rule_name"]: r for r in store.latest_quality()}
    assert logged["customers_id_unique"]["checked_rows"] == 40
