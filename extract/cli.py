"""`retailnova`: the command line. Each command reads the settings once and
hands over to the module that does the work."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import click

from extract.settings import Settings, SettingsError, load_settings

# Errors whose message is the whole story: printed on one line, no traceback.
KNOWN_ERRORS: tuple[type[Exception], ...] = (SettingsError,)


def _known_errors() -> tuple[type[Exception], ...]:
    from extract.bench import BenchError
    from extract.dq import RuleError
    from extract.erase import EraseError
    from extract.extractor import ExtractError
    from extract.jars import JarsMissingError
    from extract.jdbc import UnsupportedSourceError
    from extract.lock import RunLockedError
    from extract.source.generate import SourceExistsError
    from extract.thrift import ThriftError
    from extract.transform import TransformError

    return (
        *KNOWN_ERRORS,
        ExtractError,
        JarsMissingError,
        UnsupportedSourceError,
        SourceExistsError,
        TransformError,
        RunLockedError,
        ThriftError,
        EraseError,
        BenchError,
        RuleError,
    )


class RetailNovaGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _known_errors() as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


def echo(message: str) -> None:
    click.echo(message)


@click.group(cls=RetailNovaGroup)
@click.pass_context
def main(ctx: click.Context) -> None:
    """RetailNova data platform: OLTP source -> Bronze -> Silver -> Gold.

    Settings come from RETAILNOVA_* environment variables (and ./.env); see
    the README for the full table.
    """
    ctx.obj = load_settings()


@main.group()
def source() -> None:
    """The sample OLTP source (RETAILNOVA_SOURCE_URL, default a SQLite file in
    RETAILNOVA_HOME)."""


def _source_engine(settings: Settings):
    from sqlalchemy import create_engine

    settings.ensure_dirs()
    if settings.source_url.get_backend_name() == "mssql":
        # pyodbc sends a batch per round trip only when asked to.
        return create_engine(settings.source_url, fast_executemany=True)
    return create_engine(settings.source_url)


@source.command("init")
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="1 = 10,000 customers and 50,000 orders; linear in N.",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(),
    default=None,
    help="Business date the history ends at (default: now).",
)
@click.option("--force", is_flag=True, help="Replace an existing source.")
@click.option("--exists-ok", is_flag=True, help="Keep an existing source and exit 0.")
@click.pass_obj
def source_init(
    settings: Settings,
    scale: float,
    seed: int,
    as_of: datetime | None,
    force: bool,
    exists_ok: bool,
) -> None:
    """Create the five source tables and fill them with sample data."""
    from extract.source.generate import SourceExistsError, init_source

    if scale <= 0:
        raise click.BadParameter("must be positive", param_hint="--scale")
    started = time.monotonic()
    try:
        counts = init_source(
            _source_engine(settings),
            scale=scale,
            seed=seed,
            as_of=as_of,
            force=force,
            progress=echo,
        )
    except SourceExistsError as exc:
        if not exists_ok:
            raise
        echo(f"keeping the existing source ({exc})")
        return
    for table, rows in counts.items():
        echo(f"[{table}] {rows:,} rows")
    echo(f"source ready in {time.monotonic() - started:.1f}s")


@source.command("simulate")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Business days to move forward.",
)
@click.pass_obj
def source_simulate(settings: Settings, days: int) -> None:
    """Move the business forward: new orders and customers, status changes,
    moves, price changes."""
    from extract.source.generate import simulate

    changes = simulate(_source_engine(settings), days=days, progress=echo)
    for table, counts in changes.items():
        echo(f"[{table}] {counts['inserted']:,} inserted, {counts['updated']:,} updated")


@main.command("extract")
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="T",
    help="Extract only this source table (repeatable).",
)
@click.pass_obj
def extract_cmd(settings: Settings, tables: tuple[str, ...]) -> None:
    """Pull new and changed rows from the source into Bronze."""
    from extract.pipeline import extract

    results = extract(settings, tables, progress=echo)
    if any(r.status != "SUCCESS" for r in results):
        sys.exit(1)


@main.command("run")
@click.option(
    "--layer",
    type=click.Choice(["bronze", "silver", "gold"]),
    default=None,
    help="Run one layer only (default: all, Bronze to Gold).",
)
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from Bronze.")
@click.option(
    "--unit-tests",
    is_flag=True,
    help="Also run dbt's unit tests (fixed inputs: slim CI and `make test` run them).",
)
@click.pass_obj
def run_cmd(settings: Settings, layer: str | None, full_refresh: bool, unit_tests: bool) -> None:
    """The daily job: extract, then dbt build (seeds, snapshots, models, data tests)."""
    from extract.pipeline import run

    summary = run(
        settings, layer=layer, full_refresh=full_refresh, unit_tests=unit_tests, progress=echo
    )
    echo(f"run took {summary.run.duration_seconds:.1f}s")
    if summary.run.sla_breached:
        echo(f"SLA BREACHED: longer than RETAILNOVA_RUN_SLA_MINUTES={settings.run_sla_minutes:g}")
    if not summary.ok:
        echo(f"run {summary.run_id} FAILED: {', '.join(summary.failed)}")
        sys.exit(1)
    if summary.blocked_by_quality:
        echo(
            f"run {summary.run_id} SUCCESS, but CRITICAL data-quality rule(s) failed "
            f"({', '.join(summary.blocked_by_quality)}): the Gold models that depend on "
            "them were skipped; fix the source and run again"
        )
        sys.exit(2)
    echo(f"run {summary.run_id} SUCCESS")


@main.command(
    "dbt", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def dbt_cmd(settings: Settings, args: tuple[str, ...]) -> None:
    """Run any dbt command on the run's Spark session, e.g.
    `retailnova dbt build -s fact_sales` or `retailnova dbt docs generate`."""
    from extract.pipeline import dbt

    if not dbt(settings, list(args)):
        sys.exit(1)


@main.command("slim-ci")
@click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Production artifacts to compare with (default: the last complete run's).",
)
@click.pass_obj
def slim_ci_cmd(settings: Settings, state: Path | None) -> None:
    """Build and test only the models changed since the last production build,
    and their children, into ci_silver / ci_gold; every other parent is read
    from production (dbt's state:modified+ with --defer)."""
    from extract.pipeline import format_node, slim_ci

    nodes = slim_ci(settings, state=state, progress=echo)
    for node in nodes:
        if node.relation:
            echo(format_node(node))
    failed = [n.name for n in nodes if n.status in ("error", "fail")]
    if failed:
        echo(f"slim CI FAILED: {', '.join(failed)}")
        sys.exit(1)
    echo(f"slim CI passed: {len(nodes)} nodes" if nodes else "slim CI: nothing changed")


@main.group()
def docs() -> None:
    """The dbt docs site: lineage from source to dashboard."""


@docs.command("generate")
@click.option("--static", is_flag=True, help="Also write the single-file static_index.html.")
@click.pass_obj
def docs_generate(settings: Settings, static: bool) -> None:
    """Build index.html, manifest.json and catalog.json for the current target
    into $RETAILNOVA_HOME/dbt/target."""
    from extract.pipeline import dbt

    if not dbt(settings, ["docs", "generate", *(["--static"] if static else [])]):
        sys.exit(1)
    echo(f"docs site in {settings.home / 'dbt' / 'target'}")


@docs.command("serve")
@click.option("--port", type=int, default=8080, show_default=True)
@click.pass_obj
def docs_serve(settings: Settings, port: int) -> None:
    """Serve the generated docs site on 127.0.0.1."""
    from dbt.cli.main import dbtRunner

    from extract.transform import dbt_args

    target = settings.home / "dbt" / "target"
    if not (target / "catalog.json").exists():
        raise click.ClickException("no docs site yet: run `retailnova docs generate` first")
    args = dbt_args(settings, ["docs", "serve"])
    dbtRunner().invoke([*args, "--host", "127.0.0.1", "--port", str(port), "--no-browser"])


@main.command("app")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.pass_obj
def app_cmd(settings: Settings, port: int) -> None:
    """Start the Streamlit app (app/streamlit_app.py) on 127.0.0.1: Gold and
    the metadata store of this RETAILNOVA_HOME."""
    import os
    from pathlib import Path

    entrypoint = Path(__file__).resolve().parents[1] / "app" / "streamlit_app.py"
    if not entrypoint.is_file():
        raise click.ClickException(f"no app at {entrypoint}: run from a checkout of the repo")
    # The app reads the same settings itself; an absolute home keeps it on the
    # home resolved here, whatever its working directory.
    env = {**os.environ, "RETAILNOVA_HOME": str(settings.home.resolve())}
    command = [
        sys.executable, "-m", "streamlit", "run", str(entrypoint),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",  # no "Deploy" button: this app runs here
    ]  # fmt: skip
    echo(f"RetailNova app on http://127.0.0.1:{port} (Ctrl+C stops it)")
    # Streamlit replaces this process: signals and the exit code are its own.
    os.execve(sys.executable, command, env)


def print_table(rows: list[dict], columns: list[str], empty: str) -> None:
    """A plain aligned table: readable in a terminal and in CI logs."""
    if not rows:
        echo(empty)
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value).splitlines()[0][:120] if str(value) else ""


def _store(settings: Settings):
    from extract.metadata import MetadataStore

    settings.ensure_dirs()
    return MetadataStore(settings.metadata_url)


@main.command("runs")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.pass_obj
def runs_cmd(settings: Settings, limit: int) -> None:
    """Recent runs, newest first."""
    print_table(
        _store(settings).recent_runs(limit),
        ["run_id", "command", "status", "started_at", "finished_at", "error_message"],
        "no runs yet: try `retailnova run`",
    )


@main.command("errors")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.pass_obj
def errors_cmd(settings: Settings, limit: int) -> None:
    """Recent pipeline errors, newest first."""
    print_table(
        _store(settings).recent_errors(limit),
        ["occurred_at", "run_id", "step", "error_type", "message"],
        "no errors recorded",
    )


@main.command("bench")
@click.option(
    "--scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True
)
@click.option("--days", type=click.IntRange(min=0), default=1, show_default=True)
@click.option(
    "--target", type=click.Choice(["local", "thrift"]), default="local", show_default=True
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A fresh home for the bench (default: a new one under $RETAILNOVA_HOME/bench/).",
)
@click.pass_obj
def bench_cmd(settings: Settings, scale: float, days: int, target: str, home: Path | None) -> None:
    """Measure a full run and D incremental days on a fresh home: wall times,
    extraction rate against the source's raw export, per-model times, dbt's
    overhead, peak memory, Gold's files. Prints a table, writes bench.json."""
    from extract.bench import bench, format_result

    result = bench(settings, scale=scale, days=days, target=target, home=home, progress=echo)
    for line in format_result(result):
        echo(line)


@main.command("watermarks")
@click.pass_obj
def watermarks_cmd(settings: Settings) -> None:
    """The extraction watermark of each source table."""
    print_table(
        _store(settings).watermarks(),
        ["table_name", "watermark", "run_id", "updated_at"],
        "no watermarks yet: nothing has been extracted",
    )


@main.command("ledger")
@click.option("--run-id", default=None, help="A run's id (default: the newest run with a ledger).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per table.")
@click.pass_obj
def ledger_cmd(settings: Settings, run_id: str | None, as_json: bool) -> None:
    """A run's reconciliation ledger: per source table, the rows read, landed in
    Bronze, current in Silver and quarantined, and for sales the source's
    revenue against fact_sales. Exit code 1 if a difference is unexplained."""
    import json

    from extract.ledger import format_entry, from_rows, summary_line

    rows = _store(settings).ledger(run_id)
    if not rows:
        if run_id:
            raise click.ClickException(f"no ledger for run {run_id}: see `retailnova runs`")
        echo("no ledger yet: run `retailnova run`")
        return
    entries = from_rows(rows)
    if as_json:
        echo(json.dumps(rows, default=str, indent=2))
    else:
        echo(f"ledger of run {rows[0]['run_id']}")
        print_table(
            rows,
            [
                "table_name",
                "status",
                "changed_rows",
                "skipped_rows",
                "landed_rows",
                "source_rows",
                "changed_after",
                "silver_rows",
                "quarantined_rows",
            ],
            "",
        )
        for entry in entries:
            echo(format_entry(entry))
        echo(summary_line(entries))
    if any(e.differences for e in entries):
        sys.exit(1)


@main.command("erase")
@click.option("--customer-id", type=int, required=True, help="The customer's key in the source.")
@click.pass_obj
def erase_cmd(settings: Settings, customer_id: int) -> None:
    """GDPR erasure: mask one customer's personal data in Bronze, Silver and
    Gold, purge the old files that still hold it, record an audit row; later
    runs keep masking it (erase the source's own copy there)."""
    from extract.erase import erase_customer

    result = erase_customer(settings, customer_id, progress=echo)
    echo(
        f"customer {customer_id} erased: {result.rows_affected:,} rows in {len(result.rows)} "
        f"tables, {result.files_purged:,} files purged, in {result.seconds:.1f}s "
        f"(audit: gdpr_erasures id {result.erasure_id})"
    )


@main.group()
def pii() -> None:
    """The PII pepper (RETAILNOVA_PII_PEPPER) that keys email and phone hashes."""


@pii.command("rotate")
@click.pass_obj
def pii_rotate_cmd(settings: Settings) -> None:
    """Rehash Silver and Gold, snapshot history included, with the pepper in
    RETAILNOVA_PII_PEPPER_NEW (from Bronze's raw values), and purge the files
    holding old hashes. Then make the new pepper RETAILNOVA_PII_PEPPER."""
    from extract.pii import rotate

    result = rotate(settings, progress=echo)
    echo(
        f"pepper rotated: {result.snapshot_rows:,} snapshot versions rehashed, "
        f"{len(result.tables)} tables rebuilt or purged, in {result.seconds:.1f}s"
    )


@main.group()
def dq() -> None:
    """Data quality: the rules table (seeds/dq_rules.csv) and its results."""


@dq.command("generate")
@click.option("--check", is_flag=True, help="Exit 1 if tests/dq/ is stale; write nothing.")
def dq_generate(check: bool) -> None:
    """Write one dbt test per active rule into tests/dq/."""
    from extract.dq import generate

    changed = generate(check=check)
    if check and changed:
        echo(f"tests/dq is stale ({', '.join(changed)}): run `retailnova dq generate`")
        sys.exit(1)
    echo(f"{len(changed)} file(s) {'differ' if check else 'written'}")


@dq.command("report")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per rule.")
@click.pass_obj
def dq_report(settings: Settings, as_json: bool) -> None:
    """The latest run's data-quality results and the summary line."""
    import json

    from extract.dq import RuleResult, summary_line

    rows = _store(settings).latest_quality()
    if as_json:
        echo(json.dumps(rows, default=str, indent=2))
        return
    print_table(
        rows,
        [
            "rule_name",
            "severity",
            "status",
            "target_table",
            "target_column",
            "checked_rows",
            "failing_rows",
            "pass_rate",
        ],
        "no data-quality results yet: run `retailnova run`",
    )
    if rows:
        fields = (
            "rule_name",
            "target_table",
            "target_column",
            "severity",
            "status",
            "checked_rows",
            "failing_rows",
        )
        echo(summary_line([RuleResult(**{k: r[k] for k in fields}) for r in rows]))


@main.group()
def thrift() -> None:
    """The Spark Thrift Server of the `thrift` target, on
    RETAILNOVA_THRIFT_HOST:RETAILNOVA_THRIFT_PORT (log and pid file in
    $RETAILNOVA_HOME/thrift/)."""


@thrift.command("start")
@click.pass_obj
def thrift_start_cmd(settings: Settings) -> None:
    """Start the server (same Spark conf, metastore and lake as a run); returns
    once it accepts connections."""
    from extract.thrift import thrift_start

    echo(thrift_start(settings).describe())


@thrift.command("stop")
@click.pass_obj
def thrift_stop_cmd(settings: Settings) -> None:
    """Stop the server this home started (and only it)."""
    from extract.thrift import thrift_stop

    echo("thrift server stopped" if thrift_stop(settings) else "thrift server was not running")


@thrift.command("status")
@click.pass_obj
def thrift_status_cmd(settings: Settings) -> None:
    """Whether this home's server runs and accepts connections (exit 1 if not)."""
    from extract.thrift import thrift_status

    state = thrift_status(settings)
    echo(state.describe())
    if not (state.running and state.accepting):
        sys.exit(1)


@main.group()
def cluster() -> None:
    """A Spark standalone master and worker on this machine, at
    RETAILNOVA_SPARK_MASTER (spark://127.0.0.1:7077); files in
    $RETAILNOVA_HOME/cluster/."""


@cluster.command("start")
@click.option("--cores", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--memory", default="2g", show_default=True, help="Memory the worker offers.")
@click.pass_obj
def cluster_start_cmd(settings: Settings, cores: int, memory: str) -> None:
    """Start the master and one worker; returns once the worker has registered."""
    from extract.thrift import cluster_start

    echo(cluster_start(settings, cores=cores, memory=memory).describe())


@cluster.command("stop")
@click.pass_obj
def cluster_stop_cmd(settings: Settings) -> None:
    """Stop the worker and the master this home started."""
    from extract.thrift import cluster_stop

    echo("cluster stopped" if cluster_stop(settings) else "cluster was not running")


@cluster.command("status")
@click.pass_obj
def cluster_status_cmd(settings: Settings) -> None:
    """The master, its workers and their cores (exit 1 if no worker is alive)."""
    from extract.thrift import cluster_status

    state = cluster_status(settings)
    echo(state.describe())
    if not state.workers:
        sys.exit(1)


@main.command("status")
@click.pass_obj
def status_cmd(settings: Settings) -> None:
    """Each configured service and whether it answers: source, metadata store,
    lake, Thrift server. Exit code 1 if a service the target needs is down."""
    from extract.status import checks

    results = checks(settings)
    for check in results:
        mark = "ok  " if check.ok else "DOWN"
        echo(f"  {mark} {check.service:<15} {check.target:<45} {check.detail}")
    needed = [c for c in results if c.service != "thrift server" or settings.target == "thrift"]
    if not all(c.ok for c in needed):
        sys.exit(1)


if __name__ == "__main__":
    main()
