"""The metadata store creates and migrates itself."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from sqlalchemy import create_engine, inspect, text

from extract.metadata import MetadataStore, metadata, pipeline_runs
from tests.conftest import postgres_url


def test_an_old_store_gains_new_columns_and_keeps_its_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        # pipeline_runs as the first release created it.
        conn.execute(
            text(
                "CREATE TABLE pipeline_runs (run_id VARCHAR(64) PRIMARY KEY, "
                "command VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, "
                "started_at DATETIME NOT NULL, finished_at DATETIME, error_message TEXT)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO pipeline_runs VALUES "
                "('old', 'run', 'SUCCESS', '2026-01-01 00:00:00.000000', NULL, NULL)"
            )
        )

    store = MetadataStore(url)

    columns = {c["name"] for c in inspect(engine).get_columns("pipeline_runs")}
    assert columns == {c.name for c in pipeline_runs.columns}
    assert [r["run_id"] for r in store.recent_runs()] == ["old"]
    assert set(inspect(engine).get_table_names()) >= {
        "pipeline_runs",
        "pipeline_executions",
        "pipeline_errors",
        "pipeline_watermarks",
    }


def test_a_run_longer_than_its_sla_is_flagged(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    with store.run("run", "slow", sla_seconds=0.05) as slow:
        time.sleep(0.1)
    with store.run("run", "fast", sla_seconds=60) as fast:
        pass

    assert slow.sla_breached and not fast.sla_breached
    flags = {r["run_id"]: r["sla_breached"] for r in store.recent_runs()}
    assert flags == {"slow": True, "fast": False}


@pytest.mark.postgres
def test_the_same_store_on_postgresql():
    url = postgres_url()
    engine = create_engine(url)
    metadata.drop_all(engine)
    store = MetadataStore(url)
    try:
        with store.run("extract", "pg-run") as run:
            store.set_watermark("customers", datetime(2026, 6, 30, 12, 0, 0, 123456), run.run_id)
            execution = store.start_execution(run.run_id, "bronze", "customers")
            store.finish_execution(execution, "SUCCESS", rows_read=3, rows_written=2)
        assert store.get_watermark("customers") == datetime(2026, 6, 30, 12, 0, 0, 123456)
        assert store.executions("pg-run")[0]["rows_written"] == 2
        assert store.recent_runs()[0]["status"] == "SUCCESS"
    finally:
        store.dispose()
        metadata.drop_all(engine)
        engine.dispose()
