"""extract/unchanged.py on a small graph of its own, over real Bronze Delta
tables: what a run leaves alone, and what it records after a build. The
pipeline's own graph is exercised end to end in tests/e2e/test_pipeline.py
(the simulated days leave the stores' chain and the seeds alone) and
tests/extract/test_dq_defects.py."""

from __future__ import annotations

import json

import pytest

from extract import unchanged
from extract.transform import NodeResult, state_dir

CODE = "code-v1"
STORES, CUSTOMERS = "source.rn.retailnova.stores", "source.rn.retailnova.customers"

# stores -> stg_stores -> dim_store; customers -> dim_customer; a seed -> dim_date;
# a relationships test reads dim_customer and dim_store.
PARENTS = {
    "model.rn.stg_stores": [STORES],
    "model.rn.dim_store": ["model.rn.stg_stores"],
    "model.rn.dim_customer": [CUSTOMERS],
    "seed.rn.holidays": [],
    "model.rn.dim_date": ["seed.rn.holidays"],
    "test.rn.not_null_dim_store": ["model.rn.dim_store"],
    "test.rn.source_not_null_stores": [STORES],
    "test.rn.source_not_null_customers": [CUSTOMERS],
    "test.rn.relationships_customer_store": ["model.rn.dim_customer", "model.rn.dim_store"],
    "test.rn.not_null_dim_date": ["model.rn.dim_date"],
}
KINDS = {uid: uid.split(".")[0] for uid in PARENTS}
SCHEMAS = {"seed": "silver", "model": "gold"}


def manifest() -> dict:
    """The parts of dbt's manifest.json that unchanged reads."""
    return {
        "nodes": {
            uid: {
                "resource_type": kind,
                "name": uid.split(".")[-1],
                "schema": SCHEMAS.get(kind, "dq_failures"),
                "alias": uid.split(".")[-1],
            }
            for uid, kind in KINDS.items()
        },
        "parent_map": PARENTS,
        "sources": {
            uid: {
                "source_name": "retailnova",
                "name": uid.split(".")[-1],
                "schema": "bronze",
                "identifier": uid.split(".")[-1],
            }
            for uid in (STORES, CUSTOMERS)
        },
    }


def node(uid: str, status: str | None = None, sql: str | None = "select 1") -> NodeResult:
    kind = KINDS[uid]
    return NodeResult(
        unique_id=uid,
        resource_type=kind,
        name=uid.split(".")[-1],
        relation=None,
        materialized=None,
        status=status or ("pass" if kind == "test" else "success"),
        seconds=0.1,
        compiled_code=None if kind == "seed" else sql,
    )


@pytest.fixture
def lake(catalog, settings):
    """Two Bronze tables, a build recorded over every node, and a function
    that lands a row in one of them (a new Delta version)."""
    catalog.sql("CREATE DATABASE bronze")
    for table in ("stores", "customers"):
        catalog.sql(f"CREATE TABLE bronze.{table} (id INT) USING delta")
        catalog.sql(f"INSERT INTO bronze.{table} VALUES (1)")
    target = settings.home / "dbt" / "target"
    target.mkdir(parents=True)
    (target / "manifest.json").write_text(json.dumps(manifest()))

    def land(table: str) -> None:
        catalog.sql(f"INSERT INTO bronze.{table} VALUES (2)")

    return land


def record(spark, settings, nodes: list[NodeResult], code: str = CODE) -> None:
    versions = unchanged.plan(spark, settings, code=code, rebuild_all=False).versions
    unchanged.record(settings, spark, nodes, code=code, versions=versions)


def test_nothing_is_left_alone_before_a_build_is_recorded(spark, lake, settings):
    plan = unchanged.plan(spark, settings, code=CODE, rebuild_all=False)

    assert plan.exclude == [] and plan.tests == 0


def test_what_reads_only_unchanged_inputs_is_left_alone(spark, lake, settings):
    record(spark, settings, [node(uid) for uid in PARENTS])
    lake("customers")

    plan = unchanged.plan(spark, settings, code=CODE, rebuild_all=False)

    assert plan.models == ["dim_date", "dim_store", "holidays", "stg_stores"]
    assert plan.relations == {
        "dim_date": "gold.dim_date",
        "dim_store": "gold.dim_store",
        "stg_stores": "gold.stg_stores",
        "holidays": "silver.holidays",
    }
    # The stores' own test is left out by its source; the customers' runs.
    assert plan.sources == ["retailnova.stores"]
    assert plan.exclude[-1] == "source:retailnova.stores"
    # not_null_dim_store, not_null_dim_date, source_not_null_stores; the
    # relationships test reads dim_customer, which runs.
    assert plan.tests == 3


def test_a_new_bronze_version_runs_everything_downstream(spark, lake, settings):
    record(spark, settings, [node(uid) for uid in PARENTS])
    lake("stores")

    plan = unchanged.plan(spark, settings, code=CODE, rebuild_all=False)

    assert plan.models == ["dim_customer", "dim_date", "holidays"]
    assert plan.sources == ["retailnova.customers"]


def test_changed_code_a_full_refresh_or_a_forgotten_record_leave_nothing_alone(
    spark, lake, settings
):
    record(spark, settings, [node(uid) for uid in PARENTS])

    assert unchanged.plan(spark, settings, code=CODE, rebuild_all=False).tests == 5
    assert unchanged.plan(spark, settings, code="code-v2", rebuild_all=False).exclude == []
    assert unchanged.plan(spark, settings, code=CODE, rebuild_all=True).exclude == []
    unchanged.forget(settings)
    assert not (state_dir(settings) / unchanged.RECORD).exists()
    assert unchanged.plan(spark, settings, code=CODE, rebuild_all=False).exclude == []


def test_a_test_that_did_not_pass_runs_again_with_what_it_reads(spark, lake, settings):
    nodes = [node(uid) for uid in PARENTS if uid != "test.rn.not_null_dim_date"]
    record(spark, settings, [*nodes, node("test.rn.not_null_dim_date", status="warn")])

    plan = unchanged.plan(spark, settings, code=CODE, rebuild_all=False)

    # dbt runs a test only beside a parent: dim_date is rebuilt (same seed,
    # same rows) so its warning is looked at again; the seed stays.
    assert "dim_date" not in plan.models
    assert "holidays" in plan.models
    assert plan.tests == 4


def test_a_node_that_reads_the_clock_is_never_left_alone(spark, lake, settings):
    aging = "select customer_id, datediff(current_date(), birth_date) as age from c"
    nodes = [node(uid) for uid in PARENTS if uid != "model.rn.dim_customer"]
    record(spark, settings, [*nodes, node("model.rn.dim_customer", sql=aging)])

    plan = unchanged.plan(spark, settings, code=CODE, rebuild_all=False)

    assert "dim_customer" not in plan.models
    # Everything else read nothing new.
    assert "dim_store" in plan.models and plan.sources == [
        "retailnova.customers",
        "retailnova.stores",
    ]


def test_a_failed_node_is_forgotten_and_one_left_alone_keeps_its_record(spark, lake, settings):
    record(spark, settings, [node(uid) for uid in PARENTS])
    lake("stores")
    # The next build ran the stores' chain only, and dim_store failed.
    ran = [
        node("model.rn.stg_stores"),
        node("model.rn.dim_store", status="error"),
        node("test.rn.not_null_dim_store", status="skipped"),
        node("test.rn.source_not_null_stores"),
    ]
    record(spark, settings, ran)

    plan = unchanged.plan(spark, settings, code=CODE, rebuild_all=False)

    assert "stg_stores" in plan.models  # rebuilt clean from the new version
    assert "dim_store" not in plan.models
    assert "dim_customer" in plan.models  # left alone, recorded before
    saved = json.loads((state_dir(settings) / unchanged.RECORD).read_text())
    assert "model.rn.dim_store" not in saved["nodes"]
    assert saved["nodes"]["model.rn.stg_stores"] == {STORES: plan.versions[STORES]}


@pytest.mark.parametrize(
    ("sql", "clock"),
    [
        ("select current_date() as d", True),
        ("select * from t where ts > current_timestamp - interval 1 day", True),
        ("select now()", True),
        ("select current_dates from t", False),
        ("select order_date from t", False),
    ],
)
def test_reads_clock(sql, clock):
    assert unchanged.reads_clock(node("model.rn.dim_store", sql=sql)) is clock
