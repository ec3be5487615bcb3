"""`retailnova bench` end to end on a tiny source: every stage runs, every
measurement is filled in. (The numbers themselves are the bench's output, not
something a test asserts.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import empty_metastore_url, process_env

pytestmark = pytest.mark.e2e


def test_the_bench_measures_a_full_run_and_a_day(tmp_path):
    env = process_env(tmp_path, RETAILNOVA_SPARK_DRIVER_MEMORY="2g")
    home = tmp_path / "bench" / "home"
    command = [str(Path(sys.executable).with_name("retailnova")), "bench", "--scale", "0.01"]

    done = subprocess.run(
        [*command, "--days", "1", "--home", str(home)], env=env, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((home.parent / "bench.json").read_text())
    assert [s["name"] for s in result["stages"]] == [
        "source init",
        "full run",
        "simulate day 1",
        "day 1",
    ]
    full, day = result["stages"][1], result["stages"][3]
    assert full["rows_extracted"] > day["rows_extracted"] > 0
    assert full["models"]["model.retailnova.fact_sales"] > 0
    assert 0 < full["dbt_overhead_seconds"] < full["dbt_seconds"] < full["seconds"]
    # dbt's wall time in the run includes its parsing, which the build's own
    # elapsed time leaves out.
    assert full["build_seconds"] < full["dbt_seconds"]
    # Python plus Spark's JVM: far more than the Python process alone.
    assert result["peak_rss_bytes"] > 512 * 1024**2
    assert result["gold_files"]["fact_sales"]["files"] >= 1
    assert result["source_export"]["rows"] > 0
    assert set(result["ratios"]) == {
        "incremental_over_full",
        "extract_over_raw_export",
        "dbt_overhead_share",
    }
    assert "incremental_over_full" in done.stdout
    # Every page of the app timed over the last run's Gold, cold then warm.
    assert set(result["pages"]) == {
        "views/overview.py",
        "views/kpis.py",
        "views/customers.py",
        "views/data_quality.py",
        "views/pipeline_monitor.py",
    }
    assert all(0 < t["warm_seconds"] <= t["warm_max_seconds"] for t in result["pages"].values())
    assert "app pages, warm median" in done.stdout


@pytest.mark.postgres
def test_the_thrift_bench_runs_its_own_server_and_counts_its_memory(tmp_path):
    env = process_env(
        tmp_path,
        RETAILNOVA_SPARK_DRIVER_MEMORY="2g",
        RETAILNOVA_METASTORE_URL=empty_metastore_url(),
    )
    home = tmp_path / "bench" / "home"
    command = [str(Path(sys.executable).with_name("retailnova")), "bench", "--scale", "0.01"]

    done = subprocess.run(
        [*command, "--days", "1", "--target", "thrift", "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((home.parent / "bench.json").read_text())
    assert result["target"] == "thrift"
    stages = {s["name"]: s for s in result["stages"]}
    assert list(stages) == ["source init", "thrift start", "full run", "simulate day 1", "day 1"]
    full, day = stages["full run"], stages["day 1"]
    assert full["rows_extracted"] > day["rows_extracted"] > 0
    assert day["models"]["model.retailnova.fact_sales"] > 0
    # The bench stopped its server: no process of its home is left.
    assert not (home / "thrift" / "thrift.pid").exists()
    assert "== thrift stop" in done.stdout
