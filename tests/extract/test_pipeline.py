"""kill -9 of `retailnova run` in the middle of dbt, then the next run.

The killed run extracted everything and had built part of Silver, the
snapshot included, when its process group (Python and the JVM) was killed.
The next `retailnova run` must leave what one uninterrupted run leaves:
Bronze holds every source version exactly once, the snapshot one version per
customer, and Gold's facts are contract 3 computed from the source
(tests/e2e/expectations.py, which the end-to-end test proves an uninterrupted
run matches). One killed and one completed run for the module.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from sqlalchemy import create_engine

from extract.metadata import MetadataStore
from extract.source.generate import init_source
from tests.conftest import make_settings, process_env
from tests.e2e import expectations
from tests.extract.test_extractor import assert_bronze_matches_source

AS_OF = datetime(2026, 6, 30, 18, 0, 0)
SCALE = 0.02
SEED = 4711
PEPPER = "a1c3e5f7b9d2f4a6c8e0b1d3f5a7c9e2d4f6a8b0c1e3a5c7e9f2b4d6f8a0c1e3"
# The progress line dbt's snapshot prints when it has committed.
KILL_AFTER = "snapshot  silver.snap_customers"


def _env(home: Path) -> dict[str, str]:
    env = process_env(home, RETAILNOVA_PII_PEPPER=PEPPER, RETAILNOVA_SPARK_DRIVER_MEMORY="2g")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Resumed:
    home: Path
    killed_output: str
    output: str
    returncode: int


@pytest.fixture(scope="module")
def resumed(tmp_path_factory) -> Resumed:
    home = tmp_path_factory.mktemp("killed") / "home"
    settings = make_settings(home)
    settings.ensure_dirs()
    engine = create_engine(settings.source_url)
    init_source(engine, scale=SCALE, seed=SEED, as_of=AS_OF)
    engine.dispose()
    command = [sys.executable, "-m", "extract.cli", "run"]
    # Its own process group, so kill -9 takes the JVM too.
    killed = subprocess.Popen(
        command,
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        for line in killed.stdout:
            lines.append(line)
            if KILL_AFTER in line:
                break
        else:
            pytest.fail("the run ended before its snapshot:\n" + "".join(lines))
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=60)
    # Pass the kill: dbt had more to build.
    assert not (home / "lake" / "gold" / "fact_sales").exists()
    rerun = subprocess.run(
        command, env=_env(home), capture_output=True, text=True, timeout=3600, check=False
    )
    print(rerun.stdout[-5000:])
    return Resumed(home, "".join(lines), rerun.stdout, rerun.returncode)


def _table(spark, resumed: Resumed, relation: str):
    layer, table = relation.split(".")
    return spark.read.format("delta").load(str(resumed.home / "lake" / layer / table))


def test_the_run_after_the_kill_succeeds(resumed):
    assert "extracting" in resumed.killed_output
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert "SUCCESS" in resumed.output.splitlines()[-1]


def test_the_killed_run_is_closed_failed_by_the_next_one(resumed):
    store = MetadataStore(make_settings(resumed.home).metadata_url)
    try:
        killed, after = sorted(store.recent_runs(), key=lambda r: r["started_at"])
        steps = store.executions(killed["run_id"])
    finally:
        store.dispose()

    assert (killed["status"], after["status"]) == ("FAILED", "SUCCESS")
    assert killed["error_message"].startswith("ended without finishing (pid ")
    assert after["run_id"] in killed["error_message"]
    assert f"run {killed['run_id']} ended without finishing: marked FAILED" in resumed.output
    assert "RUNNING" not in {s["status"] for s in steps}


def test_bronze_holds_every_source_version_exactly_once(resumed, spark):
    settings = make_settings(resumed.home)
    engine = create_engine(settings.source_url)
    try:
        assert_bronze_matches_source(spark, settings, engine)
    finally:
        engine.dispose()


def test_the_snapshot_has_one_version_per_customer_as_after_one_run(resumed, spark):
    snapshot = _table(spark, resumed, "silver.snap_customers")
    customers = _table(spark, resumed, "silver.int_customers_cleaned")
    columns = ["customer_id", "address", "city", "postal_code", "country", "email_hash"]
    assert snapshot.count() == customers.count()
    assert snapshot.where(F.col("dbt_valid_to").isNotNull()).count() == 0
    assert sorted(snapshot.select(columns).collect()) == sorted(customers.select(columns).collect())


def test_facts_are_contract_3_computed_from_the_source(resumed, spark):
    settings = make_settings(resumed.home)
    engine = create_engine(settings.source_url)
    try:
        expected = expectations.from_source(engine).lines
    finally:
        engine.dispose()
    facts = _table(spark, resumed, "gold.fact_sales").select("order_line_id", "net_amount")
    landed = {r.order_line_id: r.net_amount for r in facts.collect()}
    assert len(landed) == facts.count()  # one row per line
    assert landed == {k: line.net_amount for k, line in expected.items()}
    members = _table(spark, resumed, "gold.dim_customer")
    orphans = _table(spark, resumed, "gold.fact_sales").join(members, "customer_key", "left_anti")
    assert orphans.count() == 0


def test_the_bronze_line_reports_the_wall_time_of_tables_extracted_side_by_side():
    from extract.extractor import TableResult
    from extract.pipeline import RunSummary, layer_lines

    summary = RunSummary(run=None)
    summary.extracted = [
        TableResult("stores", "SUCCESS", rows_written=5, started=100.0, seconds=4.0),
        TableResult("products", "SUCCESS", rows_written=10, started=100.5, seconds=9.0),
        TableResult("customers", "FAILED", started=104.0, seconds=2.5),
    ]

    assert layer_lines(summary) == ["BRONZE  2/3 tables, 15 rows landed, 9.5s"]
