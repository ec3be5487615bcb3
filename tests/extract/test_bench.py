"""The bench's measurements, each against something real: a process tree that
holds known memory, a source whose row count is known, dbt's run results. The
whole harness (`retailnova bench`) runs in the e2e suite, not in `make test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from extract.bench import (
    DBT_BUILD_LINE,
    BenchResult,
    PeakMemory,
    Stage,
    _add_dbt,
    _server_pids,
    check_empty_metastore,
    format_result,
    run_stage,
    source_export,
    tree_rss_bytes,
)
from extract.cli import main
from extract.source import schema
from extract.source.generate import init_source
from extract.thrift import thrift_daemon, write_properties
from tests.conftest import cli_env, empty_metastore_url, make_settings, process_env

MIB = 1024**2

# A parent holding 64 MiB that starts a child holding 128 MiB, both resident.
TREE = textwrap.dedent(
    """
    import subprocess, sys, time
    held = bytearray(64 * 1024 * 1024)
    child = subprocess.Popen([sys.executable, "-c",
        "import sys, time; held = bytearray(128 * 1024 * 1024); print('ready', flush=True); "
        "time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
    print("ready", flush=True)
    time.sleep(30)
    """
)


def test_memory_is_the_whole_process_tree():
    process = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    try:
        with PeakMemory(process.pid, interval=0.05) as memory:
            assert process.stdout.readline().strip() == "ready"
            alone = tree_rss_bytes([process.pid])
            memory._stop.wait(0.3)
    finally:
        process.kill()
        process.wait()

    # bytearray pages are touched (zeroed), so both allocations are resident.
    assert alone >= 192 * MIB
    assert memory.peak >= 192 * MIB


# A process holding 256 MiB with a second thread: a task of its own (its tid is
# a /proc entry) that shares the process's memory, as the JVM's child does
# between its clone and its exec when the JVM starts a command.
SHARED = textwrap.dedent(
    """
    import threading, time
    held = bytearray(256 * 1024 * 1024)
    threading.Thread(target=lambda: (print(threading.get_native_id(), flush=True),
                                     time.sleep(30)), daemon=True).start()
    time.sleep(30)
    """
)


def test_a_task_sharing_its_parents_memory_counts_once():
    process = subprocess.Popen([sys.executable, "-c", SHARED], stdout=subprocess.PIPE, text=True)
    try:
        task = int(process.stdout.readline())
        alone = tree_rss_bytes([process.pid])
        both = tree_rss_bytes([process.pid, task])
        task_alone = tree_rss_bytes([task])
    finally:
        process.kill()
        process.wait()

    assert alone >= 256 * MIB
    assert task_alone >= 256 * MIB  # the task alone does see the whole process
    assert both < alone + 16 * MIB


def test_a_stage_counts_the_homes_thrift_server(tmp_path):
    # A stand-in server holding 256 MiB, started and recorded as `thrift start`
    # does; the stage itself (`retailnova --help`) holds far less.
    settings = make_settings(tmp_path)
    daemon = thrift_daemon(settings)
    write_properties(daemon.properties_file, {"spark.x": "1"})
    ready = tmp_path / "ready"
    holder = f"held = bytearray(256 * 2**20); open({str(ready)!r}, 'w'); time.sleep(60)"
    command = [sys.executable, "-c", "import time; " + holder, str(daemon.properties_file)]
    daemon.start(command, dict(os.environ), ready.exists, timeout=30)
    try:
        stage = run_stage(
            "help", ["--help"], process_env(tmp_path), print, lambda: _server_pids(settings)
        )
    finally:
        daemon.stop(timeout=10)

    assert stage.exit_code == 0
    assert stage.peak_rss_bytes >= 256 * MIB
    assert _server_pids(settings) == []


def _table_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return sum(
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in schema.TABLES
        )


def test_the_source_export_reads_every_row_of_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'source.db'}"
    engine = sa.create_engine(url)
    init_source(engine, scale=0.01)

    export = source_export(url)

    assert export["method"] == "SELECT *"
    assert export["rows"] == _table_rows(engine) > 1000
    assert export["rows_per_second"] > 0


def test_the_source_export_is_copy_on_postgresql(pg_url):
    engine = sa.create_engine(pg_url)
    init_source(engine, scale=0.01)

    export = source_export(pg_url.render_as_string(hide_password=False))

    assert export["method"] == "COPY TO STDOUT"
    assert export["rows"] == _table_rows(engine)


def _node(uid: str, start: float, end: float) -> dict:
    def at(second: float) -> str:
        return (datetime(2026, 12, 6, 10, 0, tzinfo=UTC) + timedelta(seconds=second)).isoformat()

    return {
        "unique_id": uid,
        "execution_time": end - start,
        "timing": [
            {"name": "compile", "started_at": at(start), "completed_at": at(start + 0.5)},
            {"name": "execute", "started_at": at(start + 0.5), "completed_at": at(end)},
        ],
    }


def _run_results(home, elapsed: float, results: list[dict]) -> None:
    target = home / "dbt" / "target"
    target.mkdir(parents=True)
    (target / "run_results.json").write_text(
        json.dumps({"elapsed_time": elapsed, "results": results})
    )


def test_dbt_overhead_is_wall_time_with_no_node_running(tmp_path):
    # Two threads: the first two nodes overlap for 20 s, so their times sum
    # to more than the 60 s in which some node ran.
    _run_results(
        tmp_path,
        90.0,
        [
            _node("model.retailnova.fact_sales", 0, 30),
            _node("test.retailnova.t1", 10, 60),
            _node("test.retailnova.t2", 70, 80),
        ],
    )
    stage = Stage("full run", "retailnova run", 0, 120.0, 3 * 1024**3)
    stage.dbt_seconds = 100.0  # the run's own timing of dbt, parsing included

    _add_dbt(stage, tmp_path)

    assert stage.model_seconds == pytest.approx(90.0)
    assert stage.busy_seconds == pytest.approx(70.0)
    assert stage.build_seconds == 90.0
    assert stage.dbt_overhead_seconds == pytest.approx(30.0)


def test_without_the_runs_timing_dbt_is_timed_by_its_build(tmp_path):
    _run_results(tmp_path, 50.0, [_node("model.retailnova.fact_sales", 0, 40)])
    stage = Stage("full run", "retailnova run", 0, 60.0, 1024**3)

    _add_dbt(stage, tmp_path)

    assert stage.dbt_seconds == 50.0
    assert stage.dbt_overhead_seconds == pytest.approx(10.0)


def test_the_runs_dbt_line_is_read_and_its_announcement_is_not():
    assert DBT_BUILD_LINE.match("dbt build: 172 nodes in 152.9s")[1] == "152.9"
    assert not DBT_BUILD_LINE.match("dbt build: seeds, snapshots, models and tests")


def test_ratios_and_the_printed_table():
    full = Stage(
        "full run",
        "retailnova run",
        0,
        200.0,
        3 * 1024**3,
        1000,
        10.0,
        150.0,
        model_seconds=120.0,
        busy_seconds=120.0,
    )
    day = Stage(
        "day 1",
        "retailnova run",
        0,
        50.0,
        2 * 1024**3,
        10,
        1.0,
        40.0,
        model_seconds=30.0,
        busy_seconds=30.0,
    )
    result = BenchResult(1, 1, "local", "/h", {"cpus": 2, "memory_gib": 24}, "now")
    result.stages = [full, day]
    result.tuning = {"dbt_threads": 4, "spark_conf": {}}
    result.pages = {
        "views/overview.py": {"cold_seconds": 2.5, "warm_seconds": 0.25, "warm_max_seconds": 0.5}
    }
    result.source_export = {
        "method": "SELECT *",
        "rows": 1000,
        "seconds": 5.0,
        "rows_per_second": 200.0,
    }

    ratios = result.ratios()

    assert ratios["incremental_over_full"] == pytest.approx(0.25)
    assert ratios["extract_over_raw_export"] == pytest.approx(100.0 / 200.0)
    assert ratios["dbt_overhead_share"] == pytest.approx(30.0 / 200.0)
    text = "\n".join(format_result(result))
    assert "incremental_over_full: 25.0%" in text
    assert text.splitlines()[0].endswith("24 GiB, dbt_threads 4"), "the levers it ran with"
    assert "app pages, warm median (worst) / cold s: overview 0.25 (0.50) / 2.50" in text
    assert json.loads(json.dumps(result.to_json()))["peak_rss_bytes"] == 3 * 1024**3


def test_the_bench_wants_a_fresh_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "source.db").write_text("")

    result = CliRunner().invoke(
        main,
        ["bench", "--scale", "0.01", "--home", str(home)],
        env={"RETAILNOVA_HOME": str(tmp_path)},
    )

    assert result.exit_code == 1
    assert "needs a fresh home" in result.output


def test_the_thrift_bench_needs_a_shared_metastore(tmp_path):
    result = CliRunner().invoke(
        main,
        ["bench", "--scale", "0.01", "--target", "thrift", "--home", str(tmp_path / "h")],
        env=cli_env(tmp_path),
    )

    assert result.exit_code == 1
    assert "needs RETAILNOVA_METASTORE_URL" in result.output


@pytest.mark.postgres
def test_an_empty_metastore_database_is_fit_for_the_thrift_bench(tmp_path):
    url = empty_metastore_url()

    check_empty_metastore(make_settings(tmp_path, RETAILNOVA_METASTORE_URL=url))
