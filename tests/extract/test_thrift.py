"""Scale-out end to end, on real engines: a Spark Thrift Server started from
the installed pyspark on a Spark standalone cluster of this machine, with a
PostgreSQL Hive metastore that the extractor shares, builds the whole project
(`RETAILNOVA_TARGET=thrift`); a `local` run of the same source with its lake on
a local S3-compatible server (moto) builds the same Gold; `thrift stop` and
`cluster stop` leave no process behind.

Each `retailnova` command runs as a subprocess, as a user runs it, and Gold is
read through delta-rs: no Spark session in this process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from extract.bench import BenchError, bench
from extract.jars import fetch
from extract.thrift import (
    Daemon,
    ThriftError,
    _group_alive,
    check_thrift_target,
    cluster_start,
    cluster_status,
    cluster_stop,
    free_port,
    port_open,
    thrift_conf,
    thrift_daemon,
    write_properties,
)
from tests.conftest import (
    assert_every_unit_test_passed,
    empty_metastore_url,
    make_settings,
    process_env,
)

RETAILNOVA = str(Path(sys.executable).with_name("retailnova"))
SCALE = "0.02"
AS_OF = "2026-06-30 18:00:00"
# Fixed, so both targets hash with the same key and nothing depends on ~/.config.
PEPPER = "thrift-test-pepper-" + "7" * 40
# Two applications share the worker (the extractor's session and the Thrift
# server): each takes at most two of its four cores.
CLUSTER_CONF = "spark.cores.max=2 spark.executor.memory=768m"
GOLD = ("agg_monthly_kpis", "customer_segments")
S3_BUCKET = "retailnova-lake"
S3_CREDENTIALS = {
    "aws_access_key_id": "retailnova-test",
    "aws_secret_access_key": "retailnova-test-secret",
    "region_name": "us-east-1",
}


@dataclass
class Home:
    path: Path
    # Not in a failing test's report: it holds the metastore's password.
    env: dict[str, str] = field(repr=False)


def _env(home: Path, **settings: str) -> dict[str, str]:
    # Only this test's settings and credentials.
    env = process_env(
        home, RETAILNOVA_PII_PEPPER=PEPPER, RETAILNOVA_SPARK_DRIVER_MEMORY="1g", **settings
    )
    return {k: v for k, v in env.items() if not k.startswith("AWS_") or k in settings}


def _retailnova(
    env: dict[str, str], *args: str, timeout: float = 1500
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RETAILNOVA, *args],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _run(env: dict[str, str]) -> dict:
    started = time.monotonic()
    done = _retailnova(env, "run")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return {"seconds": time.monotonic() - started, "output": output}


# --- the process handling, on small real processes -------------------------


def _daemon(tmp_path) -> Daemon:
    daemon = Daemon("probe", tmp_path / "probe")
    write_properties(daemon.properties_file, {"spark.x": "1"})
    return daemon


def _shell(daemon: Daemon, script: str) -> list[str]:
    # The properties file on the command line is what marks the process as ours.
    return ["bash", "-c", script, "probe", str(daemon.properties_file)]


def _processes_with(marker: str) -> list[int]:
    """Live processes whose command line holds `marker`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in cmdline and state not in ("Z", "X"):
            found.append(int(proc.name))
    return found


def test_start_waits_and_stop_ends_the_process_group(tmp_path):
    daemon = _daemon(tmp_path)
    flag = tmp_path / "ready"
    # A child of its own, as spark-submit's JVM may have.
    script = f"sleep 600 & sleep 1; touch {flag}; wait"
    pid = daemon.start(_shell(daemon, script), dict(os.environ), flag.exists, timeout=30)
    assert flag.exists() and daemon.pid() == pid and _group_alive(pid)

    assert daemon.stop(timeout=10)
    assert not _group_alive(pid)
    assert daemon.pid() is None and not daemon.pid_file.exists()
    assert not daemon.stop()


def test_a_start_that_dies_reports_the_log_and_leaves_nothing(tmp_path):
    daemon = _daemon(tmp_path)
    with pytest.raises(ThriftError, match="exited with code 3") as raised:
        daemon.start(
            _shell(daemon, "echo 'Address already in use'; exit 3"),
            dict(os.environ),
            lambda: False,
            timeout=30,
        )
    assert "Address already in use" in str(raised.value)
    assert not daemon.pid_file.exists()


def test_a_start_that_never_gets_ready_is_stopped(tmp_path):
    daemon = _daemon(tmp_path)
    with pytest.raises(ThriftError, match="did not become ready within 2s"):
        daemon.start(_shell(daemon, "sleep 600; true"), dict(os.environ), lambda: False, timeout=2)
    assert daemon.pid() is None
    assert not _processes_with(str(daemon.properties_file))


def test_stop_never_signals_a_process_that_is_not_ours(tmp_path):
    daemon = _daemon(tmp_path)
    # A pid file naming a live process of someone else (this test's own
    # process): a pid reused after a crash must not be killed.
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        stat = Path(f"/proc/{stranger.pid}/stat").read_text()
        start_time = int(stat[stat.rindex(")") + 2 :].split()[19])
        daemon.pid_file.write_text(json.dumps({"pid": stranger.pid, "start_time": start_time}))
        assert daemon.pid() is None
        assert not daemon.stop()
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_the_properties_file_is_private_and_escaped(tmp_path):
    path = tmp_path / "t.properties"
    write_properties(path, {"spark.a": "C:\\x\nnext", "spark.b": "ü ${env:X}"})
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text(encoding="utf-8") == "spark.a=C:\\\\x\\nnext\nspark.b=ü ${env:X}\n"


def test_the_server_conf_holds_a_reference_to_the_pepper(tmp_path):
    settings = make_settings(tmp_path, RETAILNOVA_PII_PEPPER=PEPPER)
    conf = thrift_conf(settings)
    assert conf["spark.retailnova.pii_pepper"] == "${env:RETAILNOVA_PII_PEPPER}"
    assert not any(PEPPER in value for value in conf.values())


def test_the_thrift_target_needs_a_shared_metastore_and_a_server(tmp_path):
    with pytest.raises(ThriftError, match="RETAILNOVA_METASTORE_URL"):
        check_thrift_target(make_settings(tmp_path, RETAILNOVA_TARGET="thrift"))
    settings = make_settings(
        tmp_path,
        RETAILNOVA_TARGET="thrift",
        RETAILNOVA_METASTORE_URL="postgresql://hive:pw@127.0.0.1:5432/metastore",
        RETAILNOVA_THRIFT_PORT=str(free_port()),
    )
    with pytest.raises(ThriftError, match="retailnova thrift start"):
        check_thrift_target(settings)
    local = make_settings(tmp_path)
    check_thrift_target(local)  # no server of this home: nothing to check

    # A server of this home (a stand-in process) holds its Derby metastore.
    daemon = thrift_daemon(local)
    write_properties(daemon.properties_file, {})
    daemon.start(_shell(daemon, "sleep 600; true"), dict(os.environ), lambda: True, timeout=10)
    try:
        with pytest.raises(ThriftError, match="retailnova thrift stop"):
            check_thrift_target(local)
    finally:
        daemon.stop(timeout=10)


def test_cluster_needs_a_standalone_master(tmp_path):
    with pytest.raises(ThriftError, match="spark://HOST:PORT"):
        cluster_status(make_settings(tmp_path))


# --- end to end: the cluster, the server, the metastore, S3 -------------------


@pytest.fixture(scope="module")
def source_url(tmp_path_factory) -> str:
    home = tmp_path_factory.mktemp("thrift-source")
    done = _retailnova(_env(home), "source", "init", "--scale", SCALE, "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr
    return f"sqlite:///{home / 'source.db'}"


@pytest.fixture(scope="module")
def metastore_url() -> str:
    return empty_metastore_url()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master and worker from the installed pyspark."""
    home = tmp_path_factory.mktemp("thrift-cluster")
    settings = make_settings(home, RETAILNOVA_SPARK_MASTER=f"spark://127.0.0.1:{free_port()}")
    state = cluster_start(settings, cores=4, memory="2g")
    try:
        yield settings, state
    finally:
        cluster_stop(settings)


@pytest.fixture(scope="module")
def thrift_home(tmp_path_factory, source_url, metastore_url, cluster):
    """A home on the thrift target whose server runs on the cluster."""
    home = tmp_path_factory.mktemp("thrift-home")
    env = _env(
        home,
        RETAILNOVA_SOURCE_URL=source_url,
        RETAILNOVA_TARGET="thrift",
        RETAILNOVA_METASTORE_URL=metastore_url,
        RETAILNOVA_SPARK_MASTER=cluster[1].master,
        RETAILNOVA_SPARK_CONF=CLUSTER_CONF,
        RETAILNOVA_THRIFT_PORT=str(free_port()),
    )
    started = _retailnova(env, "thrift", "start", timeout=400)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield Home(home, env)
    finally:
        _retailnova(env, "thrift", "stop")


@pytest.fixture(scope="module")
def thrift_run(thrift_home) -> dict:
    return _run(thrift_home.env)


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """moto's S3-compatible server on 127.0.0.1 with an empty bucket, and the
    S3A jars in the jar cache."""
    import boto3

    folder = tmp_path_factory.mktemp("s3")
    fetch(make_settings(folder).jar_cache, s3=True)
    port = free_port()
    with (folder / "moto.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port):
            assert server.poll() is None, (folder / "moto.log").read_text()
            assert time.monotonic() < deadline, "moto did not start"
            time.sleep(0.3)
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, **S3_CREDENTIALS)
        client.create_bucket(Bucket=S3_BUCKET)
        yield endpoint, client
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, source_url, s3_server) -> dict:
    """The reference: the `local` target (one Spark session, Derby) with the
    lake on S3: `run --layer bronze`, then every seed, snapshot and model (the
    tests ran over Thrift; here they would double this module's time)."""
    endpoint, _ = s3_server
    home = tmp_path_factory.mktemp("local-home")
    env = _env(
        home,
        RETAILNOVA_SOURCE_URL=source_url,
        RETAILNOVA_TARGET="local",
        RETAILNOVA_LAKE_URL=f"s3a://{S3_BUCKET}/lake",
        RETAILNOVA_S3_ENDPOINT=endpoint,
        AWS_ACCESS_KEY_ID=S3_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=S3_CREDENTIALS["aws_secret_access_key"],
    )
    started = time.monotonic()
    output = ""
    for args in (
        ("run", "--layer", "bronze"),
        ("dbt", "build", "--exclude", "resource_type:test", "resource_type:unit_test"),
    ):
        done = _retailnova(env, *args)
        output += done.stdout + done.stderr
        assert done.returncode == 0, output[-4000:]
    return {"seconds": time.monotonic() - started, "output": output, "home": home}


def _gold(table_uri: str, **storage_options: str) -> list[str]:
    from deltalake import DeltaTable

    rows = DeltaTable(table_uri, storage_options=storage_options or None).to_pyarrow_table()
    return sorted(repr(sorted(row.items())) for row in rows.to_pylist())


def test_the_cluster_has_a_worker(cluster):
    _, state = cluster
    assert state.worker_pid is not None
    assert sum(w["cores"] for w in state.workers) == 4


@pytest.mark.postgres
def test_a_run_on_the_thrift_target_builds_everything(thrift_run, thrift_home, local_run):
    results = json.loads((thrift_home.path / "dbt" / "target" / "run_results.json").read_text())
    statuses = {}
    for result in results["results"]:
        kind = result["unique_id"].split(".")[0]
        statuses.setdefault(kind, []).append(result["status"])
    # The daily run leaves unit tests to CI (fixed inputs, nothing a day changes).
    assert "unit_test" not in statuses
    manifest = json.loads((thrift_home.path / "dbt" / "target" / "manifest.json").read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert statuses["model"] == ["success"] * len(models)
    assert "DATA QUALITY:" in thrift_run["output"]
    print(
        f"\nbuild times at scale {SCALE}: thrift on the cluster {thrift_run['seconds']:.0f}s, "
        f"local session on S3, models only {local_run['seconds']:.0f}s"
    )


@pytest.mark.postgres
def test_the_unit_tests_pass_over_thrift(thrift_run, thrift_home):
    done = _retailnova(thrift_home.env, "dbt", "test", "--select", "test_type:unit")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    # Over Thrift too (dbt-labs/dbt-adapters#481, fixed in macros/).
    assert_every_unit_test_passed(thrift_home.path / "dbt" / "target")


def test_a_run_with_the_lake_on_s3_succeeds(local_run, s3_server):
    _, client = s3_server
    listed = client.list_objects_v2(
        Bucket=S3_BUCKET, Prefix="lake/gold/agg_monthly_kpis/_delta_log/"
    )
    assert listed.get("KeyCount", 0) > 0
    # Nothing fell back to the home's folder.
    assert not list((local_run["home"] / "lake").glob("*/*/_delta_log"))
    landed = re.search(r"TOTAL ([\d,]+) rows extracted into bronze from 5/5", local_run["output"])
    assert landed and int(landed.group(1).replace(",", "")) > 0


@pytest.mark.postgres
def test_gold_equals_the_local_targets(thrift_run, thrift_home, local_run, s3_server):
    endpoint, _ = s3_server
    s3 = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": S3_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": S3_CREDENTIALS["aws_secret_access_key"],
    }
    for table in GOLD:
        thrift_rows = _gold(str(thrift_home.path / "lake" / "gold" / table))
        local_rows = _gold(f"s3://{S3_BUCKET}/lake/gold/{table}", **s3)
        assert thrift_rows, f"gold.{table} is empty"
        assert thrift_rows == local_rows, f"gold.{table} differs between the targets"


@pytest.mark.postgres
def test_the_server_serves_the_shared_catalog(thrift_run, thrift_home):
    from pyhive import hive

    env = thrift_home.env
    connection = hive.connect(host="127.0.0.1", port=int(env["RETAILNOVA_THRIFT_PORT"]))
    try:
        cursor = connection.cursor()
        # Bronze was written by the extractor's own session: one catalog.
        cursor.execute("select count(*) from bronze.sales_order_lines")
        assert cursor.fetchall()[0][0] > 0
        cursor.execute("select length('${spark.retailnova.pii_pepper}')")
        assert cursor.fetchall()[0][0] == len(PEPPER)
    finally:
        connection.close()


@pytest.mark.postgres
def test_the_thrift_bench_refuses_a_metastore_that_catalogs_a_lake(
    thrift_run, thrift_home, monkeypatch, tmp_path
):
    # This metastore now records where this home's layers live: a bench's
    # fresh home sharing it would send its run into this lake.
    for name, value in thrift_home.env.items():
        if name.startswith("RETAILNOVA_"):
            monkeypatch.setenv(name, value)
    home = tmp_path / "bench" / "home"

    with pytest.raises(BenchError, match="already catalogs") as refused:
        bench(make_settings(home), scale=0.01, days=1, target="thrift", home=home)

    assert "bronze (" in str(refused.value)
    assert str(thrift_home.path / "lake" / "bronze") in str(refused.value)
    assert not home.exists() or not any(home.iterdir())  # refused before any stage


@pytest.mark.postgres
def test_secrets_are_on_no_command_line_and_in_no_file(thrift_home, metastore_url):
    from sqlalchemy import make_url

    home = thrift_home.path
    password = str(make_url(metastore_url).password)
    pid = thrift_daemon(make_settings(home)).pid()
    assert pid is not None
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            assert PEPPER not in cmdline and password not in cmdline
    properties = thrift_daemon(make_settings(home)).properties_file
    assert properties.stat().st_mode & 0o777 == 0o600
    for path in home.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            content = path.read_bytes()
            assert PEPPER.encode() not in content, path
            assert password.encode() not in content, path


@pytest.mark.postgres
def test_status_and_stop_leave_no_process(thrift_home):
    home, env = thrift_home.path, thrift_home.env
    daemon = thrift_daemon(make_settings(home))
    port = int(env["RETAILNOVA_THRIFT_PORT"])

    status = _retailnova(env, "thrift", "status")
    assert status.returncode == 0 and "accepts connections" in status.stdout
    pid = daemon.pid()
    assert pid is not None and _group_alive(pid)

    stopped = _retailnova(env, "thrift", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    assert not _group_alive(pid)
    assert not _processes_with(str(daemon.properties_file))
    assert not port_open("127.0.0.1", port)
    assert not daemon.pid_file.exists()
    after = _retailnova(env, "thrift", "status")
    assert after.returncode == 1 and "stopped" in after.stdout
    # A second stop finds nothing of ours to end.
    assert "was not running" in _retailnova(env, "thrift", "stop").stdout


def test_the_cluster_stops(cluster):
    settings, state = cluster
    pids = [state.master_pid, state.worker_pid]
    assert all(pids)
    assert cluster_stop(settings)
    assert not any(_group_alive(pid) for pid in pids)
    assert not _processes_with(str(settings.home / "cluster"))
    assert cluster_status(settings).master_pid is None
    assert not cluster_stop(settings)
