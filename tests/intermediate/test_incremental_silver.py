"""The incremental Silver models on real runs: a small source, a first run,
changes aimed at every path of the merge (a line that turns quarantined, a
quarantined line that comes back, an order that changes status, a line that
moves to a cancelled order, a line whose quantity changes, a day of new
orders), the incremental run, and then the same models rebuilt in full from
the same Bronze. Both builds must hold the same rows, and the incremental one
must have merged, not rewritten. Gold is built too: fact_sales's merge must
delete the facts those changes made stale (its reconciliation test, run by
the build, checks every fact) and update only the facts whose values moved,
and fact_orders, fed by fact_sales' change data feed, must recompute only the
orders those facts belong to and still equal its full rebuild.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from extract.pipeline import run
from extract.source import schema
from extract.source.generate import init_source, simulate
from extract.spark import LAYERS
from tests.conftest import make_settings, update_versions

SCALE = 0.01
SEED = 777
PEPPER = "3c5e7a9b1d2f4e6a8c0b2d4f6e8a1c3e5b7d9f0a2c4e6b8d1f3a5c7e9b0d2f4a"
INCREMENTAL = ("int_order_lines_cleaned", "int_orders_cleaned", "int_orders_enriched")
# Appends the customer versions landed since (one row per Bronze version).
STAGING = "stg_retailnova__customers"
# Rebuilt on every run; compared without the columns that say when.
QUARANTINE = "int_records_quarantined"
WHEN_COLUMNS = ("run_id", "quarantined_at")


def rows(spark, table: str) -> set[tuple]:
    frame = spark.table(f"silver.{table}")
    frame = frame.drop(*[c for c in WHEN_COLUMNS if c in frame.columns])
    return {tuple(row) for row in frame.collect()}


def last_operation(spark, table: str, layer: str = "silver") -> dict:
    history = spark.sql(f"DESCRIBE HISTORY {layer}.{table} LIMIT 1").collect()[0]
    return {"operation": history["operation"], **history["operationMetrics"]}


def last_merge(spark, table: str) -> dict:
    # fact_orders' post-hook records the version it read after its merge.
    history = spark.sql(f"DESCRIBE HISTORY gold.{table}").where("operation = 'MERGE'")
    return history.orderBy("version", ascending=False).first()["operationMetrics"]


def fact_rows(spark) -> dict[int, dict]:
    return {row["order_line_id"]: row.asDict() for row in spark.table("gold.fact_sales").collect()}


def order_rows(spark) -> dict[int, dict]:
    return {row["order_id"]: row.asDict() for row in spark.table("gold.fact_orders").collect()}


@pytest.fixture(scope="module")
def builds(request, tmp_path_factory):
    spark = request.getfixturevalue("spark")
    for layer in LAYERS:  # what the `catalog` fixture does, for the module
        spark.sql(f"DROP DATABASE IF EXISTS {layer} CASCADE")
    settings = make_settings(
        tmp_path_factory.mktemp("incremental") / "home", RETAILNOVA_PII_PEPPER=PEPPER
    )
    settings.ensure_dirs()
    engine = sa.create_engine(settings.source_url)
    init_source(engine, scale=SCALE, seed=SEED)

    def build(**options) -> None:
        for layer in ("bronze", "silver", "gold"):
            summary = run(settings, layer=layer, **options)
            assert not summary.failed, summary.failed

    build()
    lines, orders = schema.sales_order_lines, schema.sales_orders
    with engine.begin() as conn:

        def first(key: sa.Column, *conditions, n: int = 1) -> list[int]:
            query = sa.select(key).where(*conditions).order_by(key).limit(n)
            return list(conn.execute(query).scalars())

        (counted,) = first(lines.c.order_line_id, lines.c.quantity > 0)
        (quarantined,) = first(lines.c.order_line_id, lines.c.quantity <= 0)
        delivered, moved_from = first(orders.c.order_id, orders.c.status == "Delivered", n=2)
        (cancelled,) = first(orders.c.order_id, orders.c.status == "Cancelled")
        (moved,) = first(
            lines.c.order_line_id, lines.c.order_id == moved_from, lines.c.quantity > 0
        )
        # A line that changes and stays a revenue line: its fact is updated.
        (recounted,) = first(
            lines.c.order_line_id,
            lines.c.quantity > 0,
            lines.c.order_line_id != counted,
            lines.c.order_id.not_in([delivered, moved_from]),
        )
    fact_rows_before = fact_rows(spark)
    facts_before = {key: row["order_id"] for key, row in fact_rows_before.items()}
    orders_before = order_rows(spark)
    # Each change below removes a fact the first build loaded.
    assert {counted, moved} <= facts_before.keys()
    assert recounted in facts_before
    assert delivered in facts_before.values()
    versions_before = spark.table("bronze.customers").count()
    simulate(engine, days=1)
    stamp = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        update_versions(
            conn,
            lines,
            {
                counted: {"quantity": 0},
                quarantined: {"quantity": 3},
                moved: {"order_id": cancelled},
                recounted: {"quantity": 5},
            },
            stamp,
        )
        update_versions(conn, orders, {delivered: {"status": "Returned"}}, stamp)
    build()
    compiled = settings.home / "dbt" / "target" / "compiled" / "retailnova" / "models"
    watermarks = {t: (compiled / "intermediate" / f"{t}.sql").read_text() for t in INCREMENTAL}
    merged = {t: last_operation(spark, t) for t in INCREMENTAL}
    staged = last_operation(spark, STAGING)
    versions = spark.table("bronze.customers").count()
    staged_rows = spark.table(f"silver.{STAGING}").count()
    facts_merge = last_operation(spark, "fact_sales", "gold")
    facts_versions = spark.sql("DESCRIBE HISTORY gold.fact_sales").count()
    fact_rows_after = fact_rows(spark)
    facts = {key: row["order_id"] for key, row in fact_rows_after.items()}
    orders_merge = last_merge(spark, "fact_orders")
    orders_incremental = order_rows(spark)
    incremental = {t: rows(spark, t) for t in (*INCREMENTAL, STAGING, QUARANTINE)}
    summary = run(settings, layer="silver", full_refresh=True)
    assert not summary.failed, summary.failed
    full = {t: rows(spark, t) for t in (*INCREMENTAL, STAGING, QUARANTINE)}
    # Without a recorded version, fact_orders recomputes every order.
    spark.sql(
        "ALTER TABLE gold.fact_orders UNSET TBLPROPERTIES "
        "('retailnova.read_version.gold.fact_sales')"
    )
    summary = run(settings, layer="gold")
    assert not summary.failed, summary.failed
    orders_unrecorded = order_rows(spark), last_merge(spark, "fact_orders")
    summary = run(settings, layer="gold", full_refresh=True)
    assert not summary.failed, summary.failed
    return {
        "merged": merged,
        "staged": staged,
        "staged_rows": staged_rows,
        "versions": (versions_before, versions),
        "facts_merge": facts_merge,
        "facts_versions": facts_versions,
        "facts": facts,
        "fact_rows": (fact_rows_before, fact_rows_after),
        "moved": moved,
        "recounted": recounted,
        "compiled": watermarks,
        "incremental": incremental,
        "full": full,
        "counted": counted,
        "quarantined": quarantined,
        "delivered": delivered,
        "moved_from": moved_from,
        "orders_before": orders_before,
        "orders_merge": orders_merge,
        "orders_incremental": orders_incremental,
        "orders_unrecorded": orders_unrecorded,
        "orders_full": order_rows(spark),
    }


@pytest.mark.parametrize("table", [*INCREMENTAL, STAGING, QUARANTINE])
def test_the_incremental_build_equals_a_full_rebuild(builds, table):
    incremental, full = builds["incremental"][table], builds["full"][table]
    assert incremental == full, (
        f"{table}: only incremental {sorted(incremental - full)[:5]}, "
        f"only full {sorted(full - incremental)[:5]}"
    )


def test_the_customers_staging_appended_only_the_versions_landed_since(builds):
    # Hashing is its cost: the day's run hashes the day's versions, not all.
    before, after = builds["versions"]
    assert after > before
    assert builds["staged"]["operation"] == "WRITE"
    assert int(builds["staged"]["numOutputRows"]) == after - before
    assert builds["staged_rows"] == after


def test_the_incremental_run_merged_only_the_changed_keys(builds):
    merged = builds["merged"]
    assert {m["operation"] for m in merged.values()} == {"MERGE"}
    lines = merged["int_order_lines_cleaned"]
    # The line that turned quarantined left; the one that came back, and the
    # day's new lines, were inserted; nothing else was touched.
    assert int(lines["numTargetRowsDeleted"]) == 1
    assert int(lines["numTargetRowsInserted"]) >= 2
    total = len(builds["full"]["int_order_lines_cleaned"])
    assert int(lines["numSourceRows"]) < total / 10
    # The orders too, though the first run landed every line after every
    # order: the watermark is the later of an order's and its lines' landing.
    orders = merged["int_orders_enriched"]
    assert int(orders["numTargetRowsDeleted"]) == 0
    total = len(builds["full"]["int_orders_enriched"])
    assert 0 < int(orders["numSourceRows"]) < total / 10


@pytest.mark.parametrize("table", INCREMENTAL)
def test_the_watermark_is_a_literal_that_delta_can_skip_files_by(builds, table):
    # A subquery over the table would hide the bound from data skipping.
    sql = builds["compiled"][table]
    assert re.search(r"extracted_at > timestamp_micros\(\d{16}\)", sql), sql
    assert "coalesce(max(extracted_at)" not in sql


def test_a_line_follows_its_current_quantity_in_and_out_of_quarantine(builds):
    cleaned = {row[0] for row in builds["incremental"]["int_order_lines_cleaned"]}
    quarantined = {(entity, key) for entity, key, *_ in builds["incremental"][QUARANTINE]}
    assert builds["counted"] not in cleaned
    assert ("sales_order_lines", str(builds["counted"])) in quarantined
    assert builds["quarantined"] in cleaned
    assert ("sales_order_lines", str(builds["quarantined"])) not in quarantined


def test_a_returned_order_stops_bearing_revenue(builds):
    enriched = builds["incremental"]["int_orders_enriched"]
    (order,) = [row for row in enriched if row[0] == builds["delivered"]]
    assert "Returned" in order
    assert order[-1] is False  # is_revenue_bearing, the last column


def test_fact_sales_deletes_the_facts_that_stopped_bearing_revenue(builds):
    facts = builds["facts"]
    # A quarantined line, a line moved to a cancelled order, a returned order.
    assert builds["counted"] not in facts
    assert builds["moved"] not in facts
    assert builds["delivered"] not in set(facts.values())
    # In the one merge of the run, with the day's new and changed lines: the
    # table's versions are the first build's and this merge.
    assert builds["facts_versions"] == 2
    merge = builds["facts_merge"]
    assert merge["operation"] == "MERGE"
    assert int(merge["numTargetRowsDeleted"]) >= 2
    assert int(merge["numTargetRowsInserted"]) >= 1


def test_fact_sales_leaves_the_facts_its_lookback_reselected_unchanged_as_they_were(builds):
    before, after = builds["fact_rows"]

    def values(row: dict) -> dict:
        return {column: value for column, value in row.items() if column != "loaded_at"}

    kept = before.keys() & after.keys()
    changed = {key for key in kept if values(before[key]) != values(after[key])}
    rewritten = {key for key in kept if before[key]["loaded_at"] != after[key]["loaded_at"]}
    assert builds["recounted"] in changed
    assert rewritten == changed
    merge = builds["facts_merge"]
    assert int(merge["numTargetRowsUpdated"]) == len(changed)
    # Every source row is a fact to insert, update or delete, or a loaded
    # fact re-selected by the 72-hour lookback whose values did not move.
    written = sum(int(merge[f"numTargetRows{what}"]) for what in ("Inserted", "Updated", "Deleted"))
    assert int(merge["numSourceRows"]) > written


def test_fact_orders_merged_only_the_orders_whose_facts_changed(builds):
    merge, total = builds["orders_merge"], len(builds["orders_full"])
    assert 0 < int(merge["numSourceRows"]) < total / 10
    # The returned order lost every fact: it left. The order a line moved
    # out of lost one: only the feed's image from before the change names it.
    assert builds["delivered"] in builds["orders_before"]
    assert builds["delivered"] not in builds["orders_incremental"]
    assert int(merge["numTargetRowsDeleted"]) >= 1
    moved_from = builds["moved_from"]
    before = builds["orders_before"][moved_from]["line_count"]
    after = builds["orders_incremental"].get(moved_from, {"line_count": 0})["line_count"]
    assert after == before - 1


def test_fact_orders_incremental_equals_a_full_rebuild(builds):
    incremental, full = builds["orders_incremental"], builds["orders_full"]
    keys = incremental.keys() | full.keys()
    differing = sorted(o for o in keys if incremental.get(o) != full.get(o))
    assert not differing, [(incremental.get(o), full.get(o)) for o in differing[:3]]


def test_fact_orders_without_a_recorded_version_recomputes_every_order(builds):
    rows, merge = builds["orders_unrecorded"]
    assert rows == builds["orders_full"]
    assert int(merge["numSourceRows"]) >= len(builds["orders_full"])
