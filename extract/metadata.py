"""The metadata store: runs, per-step executions, errors and watermarks.

The same tables on SQLite (embedded default) and PostgreSQL, created by the
project itself. The watermark row of a table is only ever written after its
Bronze commit succeeded.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL

metadata = MetaData()

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("command", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # RUNNING, SUCCESS, FAILED
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("error_message", Text),
    Column("duration_seconds", Float),
    # Set when the run took longer than RETAILNOVA_RUN_SLA_MINUTES.
    Column("sla_breached", Boolean),
)

pipeline_executions = Table(
    "pipeline_executions",
    metadata,
    # Monotonic across runs: it doubles as the Delta txnVersion of the write.
    Column("execution_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("layer", String(16), nullable=False),
    Column("step", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rows_read", Integer),
    Column("rows_written", Integer),
    Column("watermark_before", DateTime),
    Column("watermark_after", DateTime),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("message", Text),
)

pipeline_errors = Table(
    "pipeline_errors",
    metadata,
    Column("error_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("step", String(128), nullable=False),
    Column("error_type", String(128), nullable=False),
    Column("message", Text, nullable=False),
    Column("occurred_at", DateTime, nullable=False),
)

pipeline_watermarks = Table(
    "pipeline_watermarks",
    metadata,
    Column("table_name", String(128), primary_key=True),
    Column("watermark", DateTime, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)


data_quality_rules = Table(
    "data_quality_rules",
    metadata,
    Column("rule_name", String(128), primary_key=True),
    Column("target_table", String(128), nullable=False),
    Column("target_column", String(128)),
    Column("rule_type", String(32), nullable=False),
    Column("parameters", Text),  # JSON
    Column("severity", String(16), nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("description", Text),
    Column("updated_at", DateTime, nullable=False),
)

data_quality_log = Table(
    "data_quality_log",
    metadata,
    Column("log_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("rule_name", String(128), nullable=False),
    Column("target_table", String(128), nullable=False),
    Column("target_column", String(128)),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # PASS, WARNING, FAIL, ERROR
    Column("checked_rows", Integer),
    Column("failing_rows", Integer),
    Column("pass_rate", Float),
    Column("evaluated_at", DateTime, nullable=False),
)

# One row per run and source table (extract/ledger.py); a column is null when
# the run did not build the layer it describes.
reconciliation_ledger = Table(
    "reconciliation_ledger",
    metadata,
    Column("ledger_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("table_name", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # BALANCED, UNEXPLAINED
    Column("watermark", DateTime),
    Column("changed_rows", Integer),
    Column("skipped_rows", Integer),
    Column("landed_rows", Integer),
    Column("source_rows", Integer),
    Column("changed_after", Integer),
    Column("silver_rows", Integer),
    Column("quarantined_rows", Integer),
    Column("source_revenue_lines", Integer),
    # Exact decimals as text: SQLite would keep a float.
    Column("source_net_amount", String(40)),
    Column("fact_lines", Integer),
    Column("fact_net_amount", String(40)),
    Column("differences", Text),
    Column("recorded_at", DateTime, nullable=False),
)


# The whole-history checks' scope (extract/checks.py): per check, the Bronze
# landing it has verified everything up to, with the project code it verified
# it with. Only ever moved by a run in which the check passed.
check_scopes = Table(
    "check_scopes",
    metadata,
    Column("check_name", String(128), primary_key=True),
    Column("checked_through_micros", BigInteger, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    # When the check last ran over the whole history.
    Column("full_checked_at", DateTime, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("recorded_at", DateTime, nullable=False),
)

# The extractor's count of rows committed too late for the lag window
# (Extractor._check_missed): per table, the source time below which it has compared
# the source's keys with Bronze's, and when it last compared all of history.
missed_checks = Table(
    "missed_checks",
    metadata,
    Column("table_name", String(128), primary_key=True),
    Column("checked_below", DateTime, nullable=False),
    Column("full_checked_at", DateTime, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("recorded_at", DateTime, nullable=False),
)


# GDPR erasures (extract/erase.py): the audit trail, and the list of erased
# customers the extractor masks on their way into Bronze, so a source that
# still holds them never brings them back.
gdpr_erasures = Table(
    "gdpr_erasures",
    metadata,
    Column("erasure_id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", Integer, nullable=False, index=True),
    Column("requested_by", String(128), nullable=False),  # the OS user
    Column("status", String(16), nullable=False),  # RUNNING, SUCCESS, FAILED
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("rows_affected", Integer),
    Column("tables", Text),  # JSON: {"bronze.customers": rows, ...}
    Column("files_purged", Integer),
    Column("message", Text),
)


def migrate(engine: Engine) -> list[str]:
    """Create missing tables, then add missing columns: the store's schema only
    ever grows, by nullable columns, so an old store upgrades in place on the
    first run of a newer release, on SQLite and PostgreSQL alike."""
    metadata.create_all(engine)
    added = []
    with engine.begin() as conn:
        inspector = inspect(conn)
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                if not column.nullable:
                    raise RuntimeError(f"cannot add NOT NULL column {table.name}.{column.name}")
                column_type = column.type.compile(dialect=engine.dialect)
                conn.execute(
                    text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {column_type}')
                )
                added.append(f"{table.name}.{column.name}")
    return added


def _decimal_text(value) -> str | None:
    # Fixed-point, never "0E-6".
    return None if value is None else format(value, "f")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass
class Run:
    run_id: str
    started_at: datetime
    sla_seconds: float | None = None
    error: str | None = None
    duration_seconds: float | None = None
    sla_breached: bool | None = None

    def fail(self, message: str) -> None:
        """Mark the run failed without raising: its steps' results still count."""
        self.error = message


class MetadataStore:
    def __init__(self, url: URL | str):
        self.engine: Engine = create_engine(url, future=True)
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def run(
        self, command: str, run_id: str | None = None, sla_seconds: float | None = None
    ) -> Iterator[Run]:
        """Record a run from start to end; an exception is stored, then re-raised."""
        run = Run(run_id or new_run_id(), started_at=utcnow(), sla_seconds=sla_seconds)
        with self.engine.begin() as conn:
            conn.execute(
                insert(pipeline_runs).values(
                    run_id=run.run_id, command=command, status="RUNNING", started_at=run.started_at
                )
            )
        try:
            yield run
        except BaseException as exc:
            self._finish_run(run, "FAILED", f"{type(exc).__name__}: {exc}")
            raise
        self._finish_run(run, "FAILED" if run.error else "SUCCESS", run.error)

    def _finish_run(self, run: Run, status: str, error: str | None) -> None:
        finished = utcnow()
        run.duration_seconds = (finished - run.started_at).total_seconds()
        if run.sla_seconds is not None:
            run.sla_breached = run.duration_seconds > run.sla_seconds
        with self.engine.begin() as conn:
            conn.execute(
                update(pipeline_runs)
                .where(pipeline_runs.c.run_id == run.run_id)
                .values(
                    status=status,
                    finished_at=finished,
                    error_message=error,
                    duration_seconds=run.duration_seconds,
                    sla_breached=run.sla_breached,
                )
            )

    def close_dead_run(self, run_id: str, message: str) -> bool:
        """Mark a run that died without finishing (kill -9, a crash) FAILED, with
        its unfinished steps; False if it had finished after all."""
        now = utcnow()
        with self.engine.begin() as conn:
            closed = conn.execute(
                update(pipeline_runs)
                .where(pipeline_runs.c.run_id == run_id, pipeline_runs.c.status == "RUNNING")
                .values(status="FAILED", finished_at=now, error_message=message)
            ).rowcount
            conn.execute(
                update(pipeline_executions)
                .where(
                    pipeline_executions.c.run_id == run_id,
                    pipeline_executions.c.status == "RUNNING",
                )
                .values(status="FAILED", finished_at=now, message=message)
            )
        return bool(closed)

    def start_execution(
        self, run_id: str, layer: str, step: str, watermark_before: datetime | None = None
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(pipeline_executions).values(
                    run_id=run_id,
                    layer=layer,
                    step=step,
                    status="RUNNING",
                    watermark_before=watermark_before,
                    started_at=utcnow(),
                )
            )
            return int(result.inserted_primary_key[0])

    def finish_execution(self, execution_id: int, status: str, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(pipeline_executions)
                .where(pipeline_executions.c.execution_id == execution_id)
                .values(status=status, finished_at=utcnow(), **values)
            )

    def record_error(self, run_id: str, step: str, error_type: str, message: str) -> None:
        """An error, or a retry (error_type "Retry"), of one step of a run."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(pipeline_errors).values(
                    run_id=run_id,
                    step=step,
                    error_type=error_type,
                    message=message,
                    occurred_at=utcnow(),
                )
            )

    def get_watermark(self, table_name: str) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(pipeline_watermarks.c.watermark).where(
                    pipeline_watermarks.c.table_name == table_name
                )
            ).scalar_one_or_none()

    def set_watermark(self, table_name: str, watermark: datetime, run_id: str) -> None:
        values = {"watermark": watermark, "run_id": run_id, "updated_at": utcnow()}
        self._upsert(pipeline_watermarks.c.table_name, table_name, values)

    def _upsert(self, key: Column, value: str, values: dict) -> None:
        """The row of `key` = value set to values, inserted when missing."""
        with self.engine.begin() as conn:
            updated = conn.execute(update(key.table).where(key == value).values(**values))
            if updated.rowcount == 0:
                conn.execute(insert(key.table).values({key.name: value, **values}))

    def check_scopes(self) -> dict[str, dict]:
        with self.engine.connect() as conn:
            return {r.check_name: dict(r._mapping) for r in conn.execute(select(check_scopes))}

    def set_check_scope(self, check_name: str, **values: object) -> None:
        self._upsert(check_scopes.c.check_name, check_name, {**values, "recorded_at": utcnow()})

    def missed_check(self, table_name: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(missed_checks).where(missed_checks.c.table_name == table_name)
            ).first()
        return dict(row._mapping) if row else None

    def set_missed_check(self, table_name: str, **values: object) -> None:
        self._upsert(missed_checks.c.table_name, table_name, {**values, "recorded_at": utcnow()})

    def executions(self, run_id: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(pipeline_executions)
                .where(pipeline_executions.c.run_id == run_id)
                .order_by(pipeline_executions.c.execution_id)
            )
            return [dict(r._mapping) for r in rows]

    def recent(self, table: Table, order_by: Column, limit: int) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(table).order_by(order_by.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    def recent_runs(self, limit: int = 20) -> list[dict]:
        return self.recent(pipeline_runs, pipeline_runs.c.started_at, limit)

    def recent_errors(self, limit: int = 20) -> list[dict]:
        return self.recent(pipeline_errors, pipeline_errors.c.error_id, limit)

    def watermarks(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(pipeline_watermarks).order_by(pipeline_watermarks.c.table_name)
            )
            return [dict(r._mapping) for r in rows]

    def sync_rules(self, rules: list) -> None:
        """The rules table as of this run (seeds/dq_rules.csv is the source of truth)."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(data_quality_rules.delete())
            if rules:
                conn.execute(
                    insert(data_quality_rules),
                    [
                        {
                            "rule_name": r.rule_name,
                            "target_table": r.target_table,
                            "target_column": r.target_column,
                            "rule_type": r.rule_type,
                            "parameters": json.dumps(r.params, sort_keys=True),
                            "severity": r.severity,
                            "is_active": r.is_active,
                            "description": r.description,
                            "updated_at": now,
                        }
                        for r in rules
                    ],
                )

    def log_quality(self, run_id: str, results: list) -> None:
        now = utcnow()
        if not results:
            return
        with self.engine.begin() as conn:
            conn.execute(
                insert(data_quality_log),
                [
                    {
                        "run_id": run_id,
                        "rule_name": r.rule_name,
                        "target_table": r.target_table,
                        "target_column": r.target_column,
                        "severity": r.severity,
                        "status": r.status,
                        "checked_rows": r.checked_rows,
                        "failing_rows": r.failing_rows,
                        "pass_rate": r.pass_rate,
                        "evaluated_at": now,
                    }
                    for r in results
                ],
            )

    def latest_quality(self) -> list[dict]:
        """The data-quality results of the newest run that has any."""
        with self.engine.connect() as conn:
            latest = conn.execute(
                select(data_quality_log.c.run_id)
                .order_by(data_quality_log.c.log_id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if latest is None:
                return []
            rows = conn.execute(
                select(data_quality_log)
                .where(data_quality_log.c.run_id == latest)
                .order_by(data_quality_log.c.log_id)
            )
            return [dict(r._mapping) for r in rows]

    def log_ledger(self, run_id: str, entries: list) -> None:
        """The run's reconciliation ledger (extract.ledger.LedgerEntry, one per table)."""
        if not entries:
            return
        now = utcnow()
        amounts = ("source_net_amount", "fact_net_amount")
        counts = (
            "changed_rows", "skipped_rows", "landed_rows", "source_rows", "changed_after",
            "silver_rows", "quarantined_rows", "source_revenue_lines", "fact_lines",
        )  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(
                insert(reconciliation_ledger),
                [
                    {
                        "run_id": run_id,
                        "table_name": e.table_name,
                        "status": e.status,
                        "watermark": e.watermark,
                        **{c: getattr(e, c) for c in counts},
                        **{a: _decimal_text(getattr(e, a)) for a in amounts},
                        "differences": "; ".join(e.differences) or None,
                        "recorded_at": now,
                    }
                    for e in entries
                ],
            )

    def ledger(self, run_id: str | None = None) -> list[dict]:
        """The ledger of a run, by default of the newest run that has one."""
        with self.engine.connect() as conn:
            if run_id is None:
                run_id = conn.execute(
                    select(reconciliation_ledger.c.run_id)
                    .order_by(reconciliation_ledger.c.ledger_id.desc())
                    .limit(1)
                ).scalar_one_or_none()
            rows = conn.execute(
                select(reconciliation_ledger)
                .where(reconciliation_ledger.c.run_id == run_id)
                .order_by(reconciliation_ledger.c.ledger_id)
            )
            return [dict(r._mapping) for r in rows]

    def start_erasure(self, customer_id: int, requested_by: str) -> int:
        """Register an erasure before the lake is touched: from here on the
        extractor masks the customer, even if the erasure itself is cut short."""
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(gdpr_erasures).values(
                    customer_id=customer_id,
                    requested_by=requested_by,
                    status="RUNNING",
                    started_at=utcnow(),
                )
            )
            return int(result.inserted_primary_key[0])

    def finish_erasure(self, erasure_id: int, status: str, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(gdpr_erasures)
                .where(gdpr_erasures.c.erasure_id == erasure_id)
                .values(status=status, finished_at=utcnow(), **values)
            )

    def erased_customer_ids(self) -> list[int]:
        """Every customer ever erased (whatever the outcome of the erasure)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(gdpr_erasures.c.customer_id).distinct().order_by(gdpr_erasures.c.customer_id)
            )
            return [r[0] for r in rows]

    def erasures(self, customer_id: int | None = None) -> list[dict]:
        query = select(gdpr_erasures).order_by(gdpr_erasures.c.erasure_id)
        if customer_id is not None:
            query = query.where(gdpr_erasures.c.customer_id == customer_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
