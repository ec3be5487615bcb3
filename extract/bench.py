"""`retailnova bench`: what a run costs, measured on a fresh home.

Each stage runs as its own `retailnova` process, exactly as a user runs it, so
its wall time includes JVM start-up and its memory is the whole process tree
(Python, Spark's JVM and, for the thrift target, the server). Per-model times
and dbt's own overhead come from dbt's run_results.json; rows and extraction
times from the metadata store; file counts of Gold from the Delta logs.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from extract.settings import Settings, load_settings
from extract.source import schema
from extract.thrift import free_port, thrift_daemon
from extract.transform import PROJECT_DIR

Progress = Callable[[str], None]


class BenchError(Exception):
    pass


@dataclass
class Stage:
    name: str
    command: str
    exit_code: int
    seconds: float
    peak_rss_bytes: int  # the stage's whole process tree, sampled
    rows_extracted: int = 0
    extract_seconds: float = 0.0
    dbt_seconds: float = 0.0  # dbt's wall time in the run: start-up, parsing and the build
    build_seconds: float = 0.0  # the build alone (run_results' elapsed_time): no parsing
    model_seconds: float = 0.0  # sum of node execution times (overlapping when threads > 1)
    busy_seconds: float = 0.0  # wall time with at least one node running
    models: dict[str, float] = field(default_factory=dict)  # node -> seconds

    @property
    def rows_per_second(self) -> float:
        return self.rows_extracted / self.extract_seconds if self.extract_seconds else 0.0

    @property
    def dbt_overhead_seconds(self) -> float:
        """dbt's wall time with no node running: start-up, parsing, catalog
        queries, scheduling. Not wall time minus the nodes' summed times, which
        with several threads exceeds the wall time and hid all overhead."""
        return max(self.dbt_seconds - self.busy_seconds, 0.0)


@dataclass
class BenchResult:
    scale: float
    days: int
    target: str
    home: str
    machine: dict
    started_at: str
    stages: list[Stage] = field(default_factory=list)
    source_export: dict = field(default_factory=dict)  # rows, seconds, rows_per_second
    gold_files: dict = field(default_factory=dict)  # table -> {files, bytes}
    tuning: dict = field(default_factory=dict)  # the levers this run used: threads, Spark conf
    pages: dict = field(default_factory=dict)  # app page -> cold and warm render seconds

    def ratios(self) -> dict[str, float]:
        full = next((s for s in self.stages if s.name == "full run"), None)
        days = [s for s in self.stages if s.name.startswith("day ")]
        result: dict[str, float] = {}
        if full and days:
            result["incremental_over_full"] = max(s.seconds for s in days) / full.seconds
        if full and full.rows_per_second and self.source_export.get("rows_per_second"):
            result["extract_over_raw_export"] = (
                full.rows_per_second / self.source_export["rows_per_second"]
            )
        if full and full.seconds:
            result["dbt_overhead_share"] = full.dbt_overhead_seconds / full.seconds
        return result

    def to_json(self) -> dict:
        data = asdict(self)
        for stage, raw in zip(self.stages, data["stages"], strict=True):
            raw["rows_per_second"] = stage.rows_per_second
            raw["dbt_overhead_seconds"] = stage.dbt_overhead_seconds
        data["ratios"] = self.ratios()
        data["peak_rss_bytes"] = max((s.peak_rss_bytes for s in self.stages), default=0)
        return data


# --- Memory: the resident set of a process tree, sampled ------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                # The command name may hold spaces: the parent pid follows its ")".
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


_libc = ctypes.CDLL(None, use_errno=True)
# kcmp(2)'s number differs by architecture; elsewhere the number means
# another call, so it is not made at all.
_SYS_KCMP = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
_KCMP_VM = 1


def _same_memory(pid: int, other: int) -> bool:
    """Whether two tasks share one address space. The JVM starts a command
    (Hadoop's shell calls) with clone(CLONE_VM) and then exec: in between, the
    child's VmRSS is the whole JVM's, and summing it counted the JVM twice
    (a 9.6 GiB "peak" for a 4.8 GiB JVM). Where kcmp is unavailable, or on
    another architecture, the tasks count as separate, as before."""
    if _SYS_KCMP is None:
        return False
    return _libc.syscall(_SYS_KCMP, pid, other, _KCMP_VM, 0, 0) == 0


def tree_rss_bytes(roots: list[int]) -> int:
    tree, seen, todo = _children(), set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += tree.get(pid, [])
    counted: list[int] = []
    for pid in sorted(seen):
        if not any(_same_memory(pid, other) for other in counted):
            counted.append(pid)
    return sum(_rss_bytes(pid) for pid in counted)


class PeakMemory:
    """The peak summed RSS of a process tree (plus extra pids, e.g. a Thrift
    server the stage talks to), sampled every `interval` seconds."""

    def __init__(self, root: int, extra: Callable[[], list[int]] = list, interval: float = 0.25):
        self.root, self.extra, self.interval = root, extra, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes([self.root, *self.extra()]))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --- Stages ----------------------------------------------------------------------------


def _server_pids(settings: Settings) -> list[int]:
    """The home's Thrift server, while it runs: the stages talk to it, so its
    memory is theirs."""
    pid = thrift_daemon(settings).pid()
    return [] if pid is None else [pid]


# extract/transform.py's line after dbtRunner.invoke returns: dbt's whole wall
# time in the run, parsing included (run_results.json's elapsed_time is the
# build alone, and the vars a day passes rule out partial parsing).
DBT_BUILD_LINE = re.compile(r"dbt build: \d+ nodes in ([\d.]+)s$")


def run_stage(
    name: str,
    args: list[str],
    env: dict[str, str],
    progress: Progress,
    servers: Callable[[], list[int]] = list,
) -> Stage:
    command = " ".join(["retailnova", *args])
    progress(f"== {name}: {command}")
    started = time.monotonic()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("retailnova")), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    dbt_seconds = 0.0
    with PeakMemory(process.pid, servers) as memory:
        assert process.stdout is not None
        for line in process.stdout:
            progress(f"   {line.rstrip()}")
            if timed := DBT_BUILD_LINE.match(line.strip()):
                dbt_seconds += float(timed[1])
        exit_code = process.wait()
    return Stage(
        name, command, exit_code, time.monotonic() - started, memory.peak, dbt_seconds=dbt_seconds
    )


def _add_extraction(stage: Stage, metadata_url: str) -> None:
    """Rows and seconds of the stage's extraction, from its run's executions."""
    engine = sa.create_engine(metadata_url)
    try:
        with engine.connect() as conn:
            run_id = conn.execute(
                sa.text("select run_id from pipeline_runs order by started_at desc limit 1")
            ).scalar_one_or_none()
            rows = conn.execute(
                sa.text(
                    "select rows_written, started_at, finished_at from pipeline_executions "
                    "where run_id = :run_id and layer = 'bronze'"
                ),
                {"run_id": run_id},
            ).all()
    finally:
        engine.dispose()
    stage.rows_extracted = sum(r.rows_written or 0 for r in rows)
    if rows:
        # Tables may be pulled side by side (RETAILNOVA_EXTRACT_THREADS): the
        # span, not the sum, is the extraction's time.
        stage.extract_seconds = (
            max(_as_datetime(r.finished_at) for r in rows)
            - min(_as_datetime(r.started_at) for r in rows)
        ).total_seconds()


def _as_datetime(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _add_dbt(stage: Stage, home: Path) -> None:
    results = home / "dbt" / "target" / "run_results.json"
    if not results.is_file():
        return
    data = json.loads(results.read_text())
    stage.build_seconds = float(data.get("elapsed_time") or 0.0)
    if not stage.dbt_seconds:  # the stage printed no build line
        stage.dbt_seconds = stage.build_seconds
    spans = []
    for result in data["results"]:
        stage.models[result["unique_id"]] = float(result.get("execution_time") or 0.0)
        timing = [t for t in result.get("timing", []) if t.get("started_at")]
        if timing:
            spans.append(
                (
                    min(datetime.fromisoformat(t["started_at"]) for t in timing),
                    max(datetime.fromisoformat(t["completed_at"]) for t in timing),
                )
            )
    stage.model_seconds = sum(stage.models.values())
    stage.busy_seconds = _covered_seconds(spans) if spans else stage.model_seconds


def _covered_seconds(spans: list[tuple[datetime, datetime]]) -> float:
    """Seconds covered by at least one of the (start, end) spans."""
    covered, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            covered += (end - start).total_seconds()
            reach = end
        elif end > reach:
            covered += (end - reach).total_seconds()
            reach = end
    return covered


def check_empty_metastore(settings: Settings) -> None:
    """The thrift target shares a PostgreSQL metastore, which records every
    database's and table's location: one that already catalogs another home's
    lake would send the bench's run there (`CREATE DATABASE IF NOT EXISTS`
    keeps the old location). Hive's own `default` database does no harm."""
    if settings.metastore_url is None:
        raise BenchError(
            "the thrift bench needs RETAILNOVA_METASTORE_URL: an empty PostgreSQL database "
            "that its extractor and its Thrift server share"
        )
    engine = sa.create_engine(settings.metastore_url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("DBS"):
                return
            taken = conn.execute(
                sa.text('select "NAME", "DB_LOCATION_URI" from "DBS" where "NAME" <> \'default\'')
            ).all()
    except sa.exc.SQLAlchemyError as exc:
        raise BenchError(
            f"the metastore in RETAILNOVA_METASTORE_URL does not answer: {type(exc).__name__}"
        ) from None
    finally:
        engine.dispose()
    if taken:
        raise BenchError(
            "the thrift bench needs an empty metastore database, and the one in "
            "RETAILNOVA_METASTORE_URL already catalogs "
            + ", ".join(f"{name} ({location})" for name, location in sorted(taken))
            + ": give the bench a new database"
        )


# --- References ------------------------------------------------------------------------


def source_export(source_url: str) -> dict:
    """The source's own raw export of every table: PostgreSQL's COPY ... TO
    STDOUT, or a plain cursor over SQLite, into nowhere. What extraction is
    compared with."""
    engine = sa.create_engine(source_url)
    rows, started = 0, time.monotonic()
    try:
        if engine.dialect.name == "postgresql":
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                for table in schema.TABLE_NAMES:
                    sink = _CountingSink()
                    cursor.copy_expert(f'COPY "{table}" TO STDOUT', sink)
                    rows += sink.lines
            finally:
                raw.close()
        else:
            with engine.connect() as conn:
                for table in schema.TABLE_NAMES:
                    result = conn.exec_driver_sql(f'select * from "{table}"')
                    while batch := result.fetchmany(50_000):
                        rows += len(batch)
    finally:
        engine.dispose()
    seconds = time.monotonic() - started
    return {
        "method": "COPY TO STDOUT" if engine.dialect.name == "postgresql" else "SELECT *",
        "rows": rows,
        "seconds": seconds,
        "rows_per_second": rows / seconds if seconds else 0.0,
    }


class _CountingSink:
    def __init__(self) -> None:
        self.lines = 0

    def write(self, data) -> int:
        self.lines += data.count(b"\n" if isinstance(data, bytes) else "\n")
        return len(data)


def gold_files(lake: Path) -> dict[str, dict]:
    """Files and bytes of each Gold table's current version (the Delta log's
    view), and every Parquet file on disk (history not yet vacuumed)."""
    from deltalake import DeltaTable

    result = {}
    for log in sorted((lake / "gold").glob("*/_delta_log")):
        path, table = log.parent, log.parent.name
        current = DeltaTable(str(path)).file_uris()
        on_disk = list(path.rglob("*.parquet"))
        result[table] = {
            "files": len(current),
            "bytes": sum(Path(uri.removeprefix("file://")).stat().st_size for uri in current),
            "files_on_disk": len(on_disk),
        }
    return result


def app_pages(env: dict[str, str], runs: int = 5) -> dict[str, dict[str, float]]:
    """Each page's cold and warm render times, from `python -m app.timing` in
    its own process: the app's caches start empty, as a new server's do."""
    done = subprocess.run(
        [sys.executable, "-m", "app.timing", "--runs", str(runs)],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"timing the app's pages failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict:
    meminfo = Path("/proc/meminfo").read_text().split()
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2, 1),
        "python": sys.version.split()[0],
        "platform": sys.platform,
    }


# --- The harness -----------------------------------------------------------------------


def bench(
    settings: Settings,
    *,
    scale: float,
    days: int,
    target: str,
    home: Path | None = None,
    progress: Progress = lambda msg: None,
) -> BenchResult:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    home = home or settings.home / "bench" / stamp / "home"
    if home.exists() and any(home.iterdir()):
        raise BenchError(f"the bench needs a fresh home; {home} is not empty")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILNOVA_")}
    # The bench's own home and source; jar cache, pepper, Spark and thrift settings carry over.
    for name in (
        "RETAILNOVA_JAR_CACHE",
        "RETAILNOVA_PII_PEPPER",
        "RETAILNOVA_ENV",
        "RETAILNOVA_SPARK_MASTER",
        "RETAILNOVA_SPARK_DRIVER_MEMORY",
        "RETAILNOVA_THRIFT_HOST",
        "RETAILNOVA_THRIFT_PORT",
        "RETAILNOVA_METASTORE_URL",
        "RETAILNOVA_SOURCE_URL",
        "RETAILNOVA_DBT_THREADS",
        "RETAILNOVA_EXTRACT_THREADS",
        "RETAILNOVA_SPARK_CONF",
    ):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(RETAILNOVA_HOME=str(home), RETAILNOVA_TARGET=target)
    if target == "thrift" and "RETAILNOVA_THRIFT_PORT" not in os.environ:
        # The bench's own server, beside any other on this machine.
        env["RETAILNOVA_THRIFT_PORT"] = str(free_port())
    bench_settings = load_settings(env)
    if target == "thrift":
        check_empty_metastore(bench_settings)
    result = BenchResult(
        scale, days, target, str(home), machine(), datetime.now(UTC).isoformat(timespec="seconds")
    )
    result.tuning = {
        "dbt_threads": bench_settings.dbt_threads,
        "extract_threads": bench_settings.extract_threads,
        "spark_conf": dict(bench_settings.spark_conf_extra),
    }

    def stage(name: str, *args: str) -> Stage:
        done = run_stage(name, list(args), env, progress, lambda: _server_pids(bench_settings))
        result.stages.append(done)
        if done.exit_code not in (0, 2):  # 2: a CRITICAL rule failed, the run still ran
            raise BenchError(f"bench stage {name!r} failed with exit code {done.exit_code}")
        return done

    stage("source init", "source", "init", "--scale", str(scale), "--force")
    progress("== source export (reference for extraction)")
    result.source_export = source_export(bench_settings.source_url)
    if target == "thrift":
        # The bench's own server in its home: its memory counts in every stage
        # after this one, the full run is its first work and the days run warm.
        stage("thrift start", "thrift", "start")
    try:
        for name in ["full run", *(f"day {n}" for n in range(1, days + 1))]:
            if name.startswith("day "):
                stage(f"simulate {name}", "source", "simulate", "--days", "1")
            done = stage(name, "run")
            _add_extraction(done, bench_settings.metadata_url)
            _add_dbt(done, home)
    finally:
        if target == "thrift":
            run_stage("thrift stop", ["thrift", "stop"], env, progress)
    result.gold_files = gold_files(bench_settings.lake)
    progress("== the app's pages over the last run's Gold (app.timing)")
    result.pages = app_pages(env)
    out = home.parent / "bench.json"
    out.write_text(json.dumps(result.to_json(), indent=2, default=str))
    progress(f"results in {out}")
    return result


def format_result(result: BenchResult, top: int = 5) -> list[str]:
    mib = 1024**2
    lines = [
        f"bench: scale {result.scale:g}, {result.days} day(s), target {result.target}, "
        f"{result.machine['cpus']} cores, {result.machine['memory_gib']} GiB"
        + "".join(f", {k} {v}" for k, v in result.tuning.items() if v),
        f"{'stage':<16}{'exit':>5}{'wall s':>9}{'rows':>11}{'rows/s':>10}"
        f"{'dbt s':>8}{'models s':>10}{'overhead s':>12}{'peak MiB':>10}",
    ]
    for s in result.stages:
        lines.append(
            f"{s.name:<16}{s.exit_code:>5}{s.seconds:>9.1f}{s.rows_extracted:>11,}"
            f"{s.rows_per_second:>10,.0f}{s.dbt_seconds:>8.1f}{s.model_seconds:>10.1f}"
            f"{s.dbt_overhead_seconds:>12.1f}{s.peak_rss_bytes / mib:>10,.0f}"
        )
    export = result.source_export
    if export:
        lines.append(
            f"source export ({export['method']}): {export['rows']:,} rows in "
            f"{export['seconds']:.1f}s = {export['rows_per_second']:,.0f} rows/s"
        )
    full = next((s for s in result.stages if s.name == "full run"), None)
    if full and full.models:
        slowest = sorted(full.models.items(), key=lambda kv: kv[1], reverse=True)[:top]
        lines.append("slowest nodes of the full run: " + ", ".join(
            f"{uid.split('.')[-1]} {sec:.1f}s" for uid, sec in slowest
        ))  # fmt: skip
    for table, files in result.gold_files.items():
        lines.append(
            f"gold.{table}: {files['files']} files, {files['bytes'] / mib:.1f} MiB "
            f"({files['files_on_disk']} on disk incl. history)"
        )
    if result.pages:
        lines.append("app pages, warm median (worst) / cold s: " + ", ".join(
            f"{Path(page).stem} {t['warm_seconds']:.2f} ({t['warm_max_seconds']:.2f}) "
            f"/ {t['cold_seconds']:.2f}"
            for page, t in result.pages.items()
        ))  # fmt: skip
    for name, value in result.ratios().items():
        lines.append(f"{name}: {value:.1%}")
    return lines
