"""Runs: wires settings, the metadata store, the source, Spark and dbt together."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine

from extract import checks, dq, unchanged
from extract.extractor import Extractor, TableResult, check_source, unindexed_warning
from extract.jdbc import jdbc_source
from extract.lock import HomeLock, home_lock
from extract.metadata import MetadataStore, Run
from extract.pii import PEPPER_CONF, protect_session
from extract.settings import Settings
from extract.source import schema
from extract.transform import NodeResult

Progress = Callable[[str], None]


@dataclass
class RunSummary:
    run: Run
    extracted: list[TableResult] = field(default_factory=list)
    nodes: list[NodeResult] = field(default_factory=list)
    quality: list = field(default_factory=list)  # dq.RuleResult, one per rule
    failed: list[str] = field(default_factory=list)
    ledger: list = field(default_factory=list)  # ledger.LedgerEntry, one per source table
    # Tables and views dbt left as an earlier run built them (extract/unchanged.py):
    # {model: relation}.
    unchanged: dict[str, str] = field(default_factory=dict)
    unchanged_tests: int = 0

    @property
    def blocked_by_quality(self) -> list[str]:
        """CRITICAL rules that failed: dbt skipped what depends on their tables."""
        return [
            r.rule_name for r in self.quality if r.severity == "CRITICAL" and r.status == "FAIL"
        ]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def run_id(self) -> str:
        return self.run.run_id


def _extract(
    settings: Settings, store: MetadataStore, run: Run, names: Sequence[str], progress: Progress
) -> list[TableResult]:
    from extract.spark import get_spark

    source_engine = create_engine(settings.source_url)
    try:
        # Before the JVM starts: a wrong URL should cost a second, not twenty.
        unindexed = check_source(
            source_engine,
            jdbc_source(source_engine.url),
            names,
            attempts=settings.retry_attempts,
            on_retry=progress,
        )
        for table in unindexed:
            warning = unindexed_warning(table)
            progress(warning)
            store.record_error(run.run_id, f"bronze:{table}", "Warning", warning)
        started = time.monotonic()
        progress(f"run {run.run_id}: extracting {', '.join(names)}")
        extractor = Extractor(settings, get_spark(settings), store, source_engine, progress)
        results = extractor.run(run.run_id, names)
    finally:
        source_engine.dispose()
    failed = [r.table for r in results if r.status != "SUCCESS"]
    total = sum(r.rows_written for r in results)
    progress(
        f"TOTAL {total:,} rows extracted into bronze from {len(results) - len(failed)}"
        f"/{len(results)} tables in {time.monotonic() - started:.1f}s"
    )
    if failed:
        run.fail(f"extraction failed for {', '.join(failed)}")
    return results


def extract(
    settings: Settings,
    tables: Sequence[str] = (),
    progress: Progress = lambda msg: None,
    run_id: str | None = None,
) -> list[TableResult]:
    names = list(tables) or list(schema.TABLE_NAMES)
    for name in names:
        schema.table_by_name(name)
    settings.ensure_dirs()
    store = MetadataStore(settings.metadata_url)
    try:
        with home_lock(settings.home, "extract") as lock, store.run("extract", run_id) as run:
            _hold(lock, store, run, progress)
            return _extract(settings, store, run, names, progress)
    finally:
        store.dispose()


def _count_rows(spark, nodes: list[NodeResult]) -> None:
    for node in nodes:
        if node.relation and node.status == "success" and node.materialized != "view":
            # Delta answers count(*) from its log statistics.
            node.rows = spark.table(node.relation).count()


def _record_quality(spark, store: MetadataStore, run_id: str, nodes: list[NodeResult]) -> list:
    """The rules table into the store, and one log row per rule whose target
    this run built or whose test it ran."""
    rules = dq.load_rules()
    store.sync_rules(rules)
    relations = {n.name: n.relation for n in nodes if n.relation}
    tests = {n.name for n in nodes if n.resource_type == "test"}
    in_scope = [r for r in rules if r.target_table in relations or r.rule_name in tests]
    # A table counted once, a built model's count taken from its node: a
    # count a rule took 1.4 s of a scale-10 day, against 0.3 s.
    counts = {n.name: n.rows for n in nodes if n.rows is not None}

    def count_rows(table: str) -> int:
        if table not in counts:
            counts[table] = spark.table(relations[table]).count()
        return counts[table]

    results = dq.evaluate(in_scope, nodes, count_rows)
    store.log_quality(run_id, results)
    return results


def extraction_seconds(results: Sequence[TableResult]) -> float:
    return max(r.started + r.seconds for r in results) - min(r.started for r in results)


def layer_lines(summary: RunSummary) -> list[str]:
    """Per layer: tables, rows and time of this run (Bronze: rows landed by the
    extractor; Silver and Gold: rows of the tables dbt built, and how many it
    left unchanged), then the tests."""
    lines = []
    if summary.extracted:
        done = [r for r in summary.extracted if r.status == "SUCCESS"]
        lines.append(
            f"BRONZE  {len(done)}/{len(summary.extracted)} tables, "
            f"{sum(r.rows_written for r in done):,} rows landed, "
            # Wall time: tables may be extracted side by side.
            f"{extraction_seconds(summary.extracted):.1f}s"
        )
    for layer in ("silver", "gold"):
        nodes = [n for n in summary.nodes if n.relation and n.relation.split(".")[0] == layer]
        kept = [r for r in summary.unchanged.values() if r.split(".")[0] == layer]
        if not nodes and not kept:
            continue
        tables = [n for n in nodes if n.materialized != "view"]
        built = [n for n in tables if n.status == "success"]
        views = len(nodes) - len(tables)
        lines.append(
            f"{layer.upper():<7} {len(built)}/{len(tables)} tables"
            + (f" (+{views} views)" if views else "")
            + (f", {len(kept)} unchanged" if kept else "")
            + f", {sum(n.rows or 0 for n in built):,} rows, "
            f"{sum(n.seconds for n in nodes):.1f}s"
        )
    tests = [n for n in summary.nodes if n.resource_type in ("test", "unit_test")]
    if tests:
        statuses = [n.status for n in tests]
        counts = ", ".join(
            f"{statuses.count(s)} {s}"
            for s in ("pass", "warn", "fail", "error", "skipped")
            if statuses.count(s)
        )
        lines.append(
            f"TESTS   {len(tests)} ({counts}), "
            + (f"{summary.unchanged_tests} unchanged, " if summary.unchanged_tests else "")
            + f"{sum(n.seconds for n in tests):.1f}s"
        )
    return lines


def _record_ledger(
    settings: Settings, store: MetadataStore, summary: RunSummary, progress: Progress
) -> None:
    """The reconciliation ledger of the run, printed and stored. It observes and
    never fails the run: if it cannot be computed, that is said and stored."""
    from extract import ledger
    from extract.spark import get_spark

    progress("ledger: reconciling the source with bronze, silver and gold")
    started = time.monotonic()
    try:
        summary.ledger = ledger.reconcile(
            get_spark(settings),
            settings,
            store,
            summary.run_id,
            read={
                r.table: (r.rows_read, r.rows_written)
                for r in summary.extracted
                if r.status == "SUCCESS"
            },
            # A table left alone is as this run would have built it.
            built=summary.unchanged
            | {n.name: n.relation for n in summary.nodes if n.status == "success" and n.relation},
        )
    except Exception as exc:  # reported and stored: the run goes on
        message = f"LEDGER: could not be computed: {type(exc).__name__}: {exc}"
        progress(message.splitlines()[0])
        store.record_error(summary.run_id, "ledger", type(exc).__name__, message)
        return
    store.log_ledger(summary.run_id, summary.ledger)
    for entry in summary.ledger:
        progress(ledger.format_entry(entry))
    progress(f"{ledger.summary_line(summary.ledger)} ({time.monotonic() - started:.1f}s)")


def format_node(node: NodeResult) -> str:
    rows = f"{node.rows:,} rows" if node.rows is not None else node.status
    return f"[{node.relation}] {rows} ({node.materialized}, {node.seconds:.1f}s)"


def prepare_spark(settings: Settings, pepper: str):
    """The run's Spark session, ready for dbt: layers' databases and the pepper."""
    from extract.spark import LAYERS, ensure_schema, get_spark

    spark = get_spark(settings)
    spark.conf.set(PEPPER_CONF, pepper)
    # A failing hash query's error quotes the substituted pepper; dbt logs errors.
    protect_session(spark, pepper)
    for name in LAYERS:
        ensure_schema(spark, settings, name)
    return spark


def _hold(lock: HomeLock, store: MetadataStore, run: Run, progress: Progress) -> None:
    """Name this run in the home's lock; close the run a killed holder left RUNNING."""
    if lock.dead_run_id and store.close_dead_run(
        lock.dead_run_id,
        f"ended without finishing (pid {lock.dead_pid} killed or crashed); "
        f"found by run {run.run_id}",
    ):
        progress(f"run {lock.dead_run_id} ended without finishing: marked FAILED")
    lock.write(run.run_id)


@contextmanager
def _dbt_session(settings: Settings, command: str):
    """What any dbt command outside `run` needs: the thrift target's server
    and catalog checked, this home locked, the layers and the pepper ready."""
    from extract.thrift import check_thrift_target

    check_thrift_target(settings)
    with home_lock(settings.home, command):
        prepare_spark(settings, settings.resolve_pepper())
        yield


# dbt commands that write no model's table (`test` writes only failing rows).
_READ_ONLY_DBT = {
    "compile", "debug", "deps", "docs", "list", "ls", "parse", "show", "source", "test",
}  # fmt: skip


def dbt(settings: Settings, args: list[str]) -> bool:
    from extract import transform
    from extract.metadata import new_run_id

    with _dbt_session(settings, "dbt"):
        if not set(args[:1]) & _READ_ONLY_DBT:
            # It may write a table the next run would leave alone.
            unchanged.forget(settings)
        return transform.passthrough(settings, args, run_id=new_run_id())


def slim_ci(
    settings: Settings, *, state: Path | None = None, progress: Progress = lambda msg: None
) -> list[NodeResult]:
    """Build and test only what changed against the last production build."""
    from extract import transform
    from extract.metadata import new_run_id

    with _dbt_session(settings, "slim-ci"):
        return transform.slim_ci(settings, run_id=new_run_id(), state=state, progress=progress)


def run(
    settings: Settings,
    *,
    layer: str | None = None,
    full_refresh: bool = False,
    unit_tests: bool = False,
    progress: Progress = lambda msg: None,
) -> RunSummary:
    """The daily job: extract into Bronze, then dbt build Silver and Gold."""
    from extract import transform
    from extract.thrift import check_thrift_target

    # Before anything is read: prod without a pepper refuses to start, and the
    # thrift target needs its server and a shared catalog.
    pepper = settings.resolve_pepper()
    check_thrift_target(settings)
    settings.ensure_dirs()
    store = MetadataStore(settings.metadata_url)
    try:
        command = f"run --layer {layer}" if layer else "run"
        sla = settings.run_sla_minutes * 60
        with home_lock(settings.home, command) as lock, store.run(command, None, sla) as run:
            _hold(lock, store, run, progress)
            summary = RunSummary(run)
            if layer in (None, "bronze"):
                summary.extracted = _extract(
                    settings, store, run, list(schema.TABLE_NAMES), progress
                )
                summary.failed += [r.table for r in summary.extracted if r.status != "SUCCESS"]
            if layer != "bronze" and not summary.failed:
                # The rules table is the source of truth: a row added to it is
                # a test of this run, with no other step (an invalid row stops
                # the run here, naming the row).
                regenerated = dq.generate()
                if regenerated:
                    progress(f"tests/dq regenerated from the rules table: {', '.join(regenerated)}")
                spark = prepare_spark(settings, pepper)
                code, through = checks.fingerprint(), checks.landed_through(spark)
                scopes = checks.scopes(
                    store,
                    code=code,
                    full_refresh=full_refresh,
                    full_check_days=settings.full_check_days,
                    now=run.started_at,
                )
                if scopes:
                    progress(
                        f"whole-history checks scoped to what landed since they passed: "
                        f"{', '.join(sorted(scopes))}"
                    )
                plan = unchanged.plan(
                    spark, settings, code=code, rebuild_all=full_refresh or layer is not None
                )
                if plan.models or plan.sources:
                    progress(plan.describe())
                summary.unchanged, summary.unchanged_tests = plan.relations, plan.tests
                progress("dbt build: seeds, snapshots, models and tests")
                summary.nodes = transform.build(
                    settings,
                    run_id=run.run_id,
                    layer=layer,
                    full_refresh=full_refresh,
                    unit_tests=unit_tests,
                    check_scopes=scopes,
                    exclude=plan.exclude,
                    progress=progress,
                )
                unchanged.record(settings, spark, summary.nodes, code=code, versions=plan.versions)
                checks.record(
                    store,
                    summary.nodes,
                    used=scopes,
                    through=through,
                    code=code,
                    run_id=run.run_id,
                    now=run.started_at,
                    written=checks.written_through(spark, summary.nodes),
                )
                _count_rows(spark, summary.nodes)
                for node in summary.nodes:
                    if node.relation:
                        progress(format_node(node))
                summary.quality = _record_quality(spark, store, run.run_id, summary.nodes)
                rules = {r.rule_name for r in summary.quality}
                # A failing rule is reported by its severity, not as a failed run:
                # CRITICAL ones already kept dbt from building what depends on them.
                summary.failed += [
                    n.name
                    for n in summary.nodes
                    if n.status in ("error", "fail") and n.name not in rules
                ]
                # A rule whose test dbt skipped behind a failed CRITICAL rule is
                # logged ERROR (not evaluated), but it is part of that block
                # (exit code 2), not a failure of its own.
                behind_block = (
                    {n.name for n in summary.nodes if n.status == "skipped"}
                    if summary.blocked_by_quality
                    else set()
                )
                summary.failed += [
                    r.rule_name
                    for r in summary.quality
                    if r.status == "ERROR" and r.rule_name not in behind_block
                ]
            # The summary: per layer, data quality, then the ledger.
            for line in layer_lines(summary):
                progress(line)
            if summary.quality:
                progress(dq.summary_line(summary.quality))
            if not [r for r in summary.extracted if r.status != "SUCCESS"]:
                _record_ledger(settings, store, summary, progress)
            if summary.failed:
                run.fail(f"failed: {', '.join(summary.failed)}")
            return summary
    finally:
        store.dispose()
