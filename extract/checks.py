"""The whole-history checks' scope: what landed since each last passed.

A few data tests audit all of history (nothing lost, no PII in Silver, Bronze
versions unique, facts against lines); their cost follows the size of the
lake, not the day, and so does a row-by-row test of a big merged table
(fact_sales' PII scan and relationships). So does the customers' snapshot,
which compares every customer it is fed. Tagged `landed_scope`, each reads
macro `landed_after`, which keeps the rows landed (or, for fact_sales,
written) after the scope the run passes it in var `check_scopes`. A check's
scope is the Bronze landing up to which it passed in an earlier run, or for a
test of written rows (landed_column) the newest write its table held after
that run: the run wrote its facts after it read Bronze, so a landing would
have the next run read them all again. A scope is only moved by a run in
which the check passed, so a failing check looks at the same rows again on
the next run. No scope, so the whole history, after a full refresh, when the
project's code changed since (a new model or rule changes what every old row
must satisfy), after a GDPR erasure (it rewrites history outside the
pipeline), and at least every RETAILNOVA_FULL_CHECK_DAYS days.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from extract.metadata import MetadataStore
from extract.source import schema
from extract.transform import PROJECT_DIR, NodeResult

TAG = "landed_scope"

# A scoped node moves its scope only when it ran through: a test that passed,
# or the snapshot, which is fed only the customers landed since it succeeded.
_SUCCEEDED = {"test": ("pass",), "snapshot": ("success",)}

# What decides a check's outcome besides the data: the dbt project's code.
_CODE = ("dbt_project.yml", "packages", "models", "macros", "snapshots", "seeds", "tests")
_CODE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv"}


def fingerprint(project_dir: Path = PROJECT_DIR) -> str:
    digest = hashlib.sha256()
    for top in _CODE:
        root = project_dir / top
        files = (
            [root]
            if root.is_file()
            else sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in _CODE_SUFFIXES)
        )
        for path in files:
            digest.update(path.relative_to(project_dir).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def landed_through(spark) -> int | None:
    """The newest Bronze landing, in epoch microseconds: every row Bronze holds
    now landed at or before it, and a later extraction lands after it (the
    extractor stamps a write with Spark's clock, so no other clock is used).
    None while Bronze holds no table."""
    tables = [t for t in schema.TABLE_NAMES if spark.catalog.tableExists(f"bronze.{t}")]
    if not tables:
        return None
    maxima = " union all ".join(
        f"select max(_extracted_at) as landed from bronze.{table}" for table in tables
    )
    return spark.sql(f"select unix_micros(max(landed)) from ({maxima})").collect()[0][0]


def scopes(
    store: MetadataStore,
    *,
    code: str,
    full_refresh: bool,
    full_check_days: float,
    now: datetime,
) -> dict[str, int]:
    """Per check, the landing after which this run must look; a check not
    named looks at the whole history."""
    if full_refresh:
        return {}
    erasures = [e["started_at"] for e in store.erasures()]
    found = {}
    for name, scope in store.check_scopes().items():
        if (
            scope["fingerprint"] == code
            and now - scope["full_checked_at"] < timedelta(days=full_check_days)
            and not any(started >= scope["recorded_at"] for started in erasures)
        ):
            found[name] = scope["checked_through_micros"]
    return found


def written_through(spark, nodes: Iterable[NodeResult]) -> dict[str, int]:
    """Per passing test of written rows, the newest value of its landed_column
    in the table it tested, in epoch microseconds, read after dbt finished:
    every row it read was written at or before it, and a later write stamps a
    later time (the same engine's clock). A test whose table this run did not
    build is left out, so its scope stays."""
    nodes = list(nodes)
    relations = {n.unique_id: n.relation for n in nodes if n.relation}
    newest: dict[tuple[str, str], int | None] = {}
    found = {}
    for node in nodes:
        if node.status != "pass" or not node.scope_column or node.tested not in relations:
            continue
        relation, column = relations[node.tested], node.scope_column
        key = (relation, column)
        if key not in newest:
            query = f"select unix_micros(max(`{column}`)) from {relation}"
            newest[key] = spark.sql(query).collect()[0][0]
        if newest[key] is not None:
            found[node.name] = newest[key]
    return found


def record(
    store: MetadataStore,
    nodes: Iterable[NodeResult],
    *,
    used: dict[str, int],
    through: int | None,
    code: str,
    run_id: str,
    now: datetime,
    written: dict[str, int] | None = None,
) -> list[str]:
    """Move the scope of each check that passed (or the scoped snapshot that
    succeeded) in this run to `through`, the Bronze landing read before dbt
    started, or for a test of written rows to its `written` bound
    (written_through); returns their names."""
    if through is None:
        return []
    written = written or {}
    previous = store.check_scopes()
    moved = []
    for node in nodes:
        if TAG not in node.tags or node.status not in _SUCCEEDED.get(node.resource_type, ()):
            continue
        if node.scope_column and node.name not in written:
            continue
        # A scoped pass keeps the date of the last pass over the whole history.
        full_checked_at = previous[node.name]["full_checked_at"] if node.name in used else now
        store.set_check_scope(
            node.name,
            checked_through_micros=written.get(node.name, through),
            fingerprint=code,
            full_checked_at=full_checked_at,
            run_id=run_id,
        )
        moved.append(node.name)
    return moved
