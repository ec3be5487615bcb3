"""GDPR right to erasure: `retailnova erase --customer-id N`.

What it does, in order:

1. Registers the erasure in the metadata store (`gdpr_erasures`). From then on
   the extractor masks that customer's personal columns before they reach
   Bronze, so a source that still holds them never brings them back (erasing
   the source's own copy is the OLTP system's job).
2. Masks the customer in every Delta table of the lake that carries both the
   customer's key and a personal column: Bronze's every version, Silver
   (staging, the cleaned table, the snapshot's whole history), Gold
   (`dim_customer`: names become "Erased", the rest null, the keys stay, so
   facts keep pointing at an erased member) and stored test failures.
   A masked value is what Silver computes from a masked Bronze row, so the
   next run rebuilds the same values and the snapshot opens no new version.
3. Purges the history that still holds the old values: deletion vectors
   rewritten (`REORG ... APPLY (PURGE)`), `VACUUM ... RETAIN 0 HOURS` with
   Delta's retention check disabled for that statement only, and the
   transaction log cut at a fresh checkpoint (old commits carry column
   statistics, i.e. minimum and maximum values such as an email).
4. Writes the audit record: who (OS user), when, rows per table, files purged.

Time travel to versions before the erasure is gone for the purged tables, by
design: those versions held the personal data.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from extract import unchanged
from extract.lock import home_lock
from extract.metadata import MetadataStore
from extract.settings import Settings

Progress = Callable[[str], None]

KEY_COLUMN = "customer_id"
ERASED_NAME = "Erased"
# Contract 1's personal columns of a customer, as each layer names them, and
# what they become. Country, loyalty tier and activity stay: they identify
# nobody and keep the aggregates whole. is_email_valid follows the email
# (Silver computes false for a missing one) but is not personal by itself.
MASKED_VALUES: dict[str, object] = {
    "first_name": ERASED_NAME,
    "last_name": ERASED_NAME,
    "email": None,
    "phone": None,
    "email_hash": None,
    "phone_hash": None,
    "date_of_birth": None,
    "age_years": None,
    "address": None,
    "city": None,
    "postal_code": None,
    "is_email_valid": False,
}
PERSONAL_COLUMNS = frozenset(MASKED_VALUES) - {"is_email_valid"}

RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
_LOG_FILE = re.compile(r"^\.?(\d{20})\.")


class EraseError(Exception):
    pass


@dataclass
class ErasureResult:
    erasure_id: int
    customer_id: int
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows masked
    files_purged: int = 0
    seconds: float = 0.0

    @property
    def rows_affected(self) -> int:
        return sum(self.rows.values())


def os_user() -> str:
    """Who asked, for the audit: the OS account running the command."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return f"uid {os.getuid()}"


def check_local_lake(settings: Settings, command: str) -> None:
    # Files are listed and the log cut through the local file system.
    if settings.lake_on_s3:
        raise EraseError(
            f"`retailnova {command}` works on a lake under RETAILNOVA_HOME, not on "
            "RETAILNOVA_LAKE_URL; on object storage follow the README's procedure"
        )


def is_personal(schema: StructType) -> bool:
    names = set(schema.fieldNames())
    return KEY_COLUMN in names and bool(names & PERSONAL_COLUMNS)


def mask_erased(frame: DataFrame, customer_ids: list[int]) -> DataFrame:
    """The extractor's guard: rows of erased customers with their personal
    columns masked, every other row untouched."""
    if not customer_ids or not is_personal(frame.schema):
        return frame
    erased = F.col(KEY_COLUMN).isin(customer_ids)
    types = {f.name: f.dataType for f in frame.schema.fields}
    for name, value in MASKED_VALUES.items():
        if name in types:
            masked = F.lit(value).cast(types[name])
            frame = frame.withColumn(name, F.when(erased, masked).otherwise(F.col(name)))
    return frame


def delta_tables(lake: Path) -> list[Path]:
    """Every Delta table under the lake, registered in a catalog or not (a
    folder whose first write was killed before its commit is none)."""
    return sorted(
        log.parent
        for log in lake.rglob("_delta_log")
        if log.is_dir() and any(p.suffix in (".json", ".parquet") for p in log.iterdir())
    )


def table_label(lake: Path, path: Path) -> str:
    """bronze.customers for lake/bronze/customers (dq_failures.db -> dq_failures)."""
    parts = [p.removesuffix(".db") for p in path.relative_to(lake).parts]
    return ".".join(parts)


def _sql_literal(value: object, data_type) -> str:
    if value is None:
        return f"CAST(NULL AS {data_type.simpleString()})"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "'" + str(value).replace("'", "''") + "'"


def mask_table(spark: SparkSession, path: Path, customer_id: int) -> int:
    """Mask one customer's rows of one Delta table; the number of rows masked."""
    schema = spark.read.format("delta").load(str(path)).schema
    types = {f.name: f.dataType for f in schema.fields}
    assignments = ", ".join(
        f"`{name}` = {_sql_literal(value, types[name])}"
        for name, value in MASKED_VALUES.items()
        if name in types
    )
    # Only the key in the predicate: Delta writes it into the commit's metadata.
    result = spark.sql(
        f"UPDATE delta.`{path.as_uri()}` SET {assignments} "
        f"WHERE `{KEY_COLUMN}` = {int(customer_id)}"
    ).first()
    return int(result["num_affected_rows"]) if result else 0


def _files(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file()}


def _truncate_log(spark: SparkSession, path: Path) -> None:
    """Checkpoint the latest version, then delete every older commit, checksum
    and checkpoint: the state lives on in the checkpoint, the old statistics
    do not. (Delta's own log cleanup keeps at least a day of history.)"""
    jvm = spark._jvm
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, str(path))
    # Scala default arguments, through py4j.
    snapshot = delta_log.update(
        False, getattr(delta_log, "update$default$2")(), getattr(delta_log, "update$default$3")()
    )
    delta_log.checkpoint(snapshot, getattr(delta_log, "checkpoint$default$2")())
    latest = snapshot.version()
    for entry in (path / "_delta_log").iterdir():
        match = _LOG_FILE.match(entry.name)
        if entry.is_file() and match and int(match.group(1)) < latest:
            entry.unlink()


def purge_history(spark: SparkSession, path: Path) -> int:
    """Physically remove every file of a Delta table that its current version
    does not need; the number of files removed."""
    before = _files(path)
    uri = path.as_uri()
    if any(p.name.startswith("deletion_vector_") for p in before):
        # Rows deleted or updated through a deletion vector still sit in their
        # old file, which the current version references: rewrite it.
        spark.sql(f"REORG TABLE delta.`{uri}` APPLY (PURGE)")
    previous = spark.conf.get(RETENTION_CHECK, None)
    # Delta refuses a retention below 7 days unless told otherwise; told so
    # for this one statement only.
    spark.conf.set(RETENTION_CHECK, "false")
    try:
        spark.sql(f"VACUUM delta.`{uri}` RETAIN 0 HOURS")
    finally:
        if previous is None:
            spark.conf.unset(RETENTION_CHECK)
        else:
            spark.conf.set(RETENTION_CHECK, previous)
    _truncate_log(spark, path)
    return len(before - _files(path))


def erase_customer(
    settings: Settings, customer_id: int, progress: Progress = lambda msg: None
) -> ErasureResult:
    if customer_id < 0:
        raise EraseError(f"--customer-id must be a customer's key, got {customer_id}")
    check_local_lake(settings, "erase")
    from extract.spark import get_spark

    started = time.monotonic()
    settings.ensure_dirs()
    store = MetadataStore(settings.metadata_url)
    try:
        with home_lock(settings.home, f"erase --customer-id {customer_id}"):
            erasure_id = store.start_erasure(customer_id, os_user())
            result = ErasureResult(erasure_id, customer_id)
            progress(
                f"erasure {erasure_id}: customer {customer_id} registered; from now on the "
                "extractor masks it on its way into bronze"
            )
            # The lake changes outside a run: the next run rebuilds every node.
            unchanged.forget(settings)
            try:
                _erase(get_spark(settings), settings, result, progress)
            except BaseException as exc:
                store.finish_erasure(
                    erasure_id,
                    "FAILED",
                    rows_affected=result.rows_affected,
                    tables=json.dumps(result.rows),
                    message=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                )
                raise
            result.seconds = time.monotonic() - started
            store.finish_erasure(
                erasure_id,
                "SUCCESS",
                rows_affected=result.rows_affected,
                tables=json.dumps(result.rows),
                files_purged=result.files_purged,
            )
            return result
    finally:
        store.dispose()


def _erase(spark: SparkSession, settings: Settings, result: ErasureResult, progress) -> None:
    lake = settings.lake
    personal = [
        path
        for path in delta_tables(lake)
        if is_personal(spark.read.format("delta").load(str(path)).schema)
    ]
    for path in personal:
        label = table_label(lake, path)
        result.rows[label] = mask_table(spark, path, result.customer_id)
        progress(f"[{label}] {result.rows[label]:,} rows masked")
    if not result.rows.get("bronze.customers"):
        progress(
            f"customer {result.customer_id} is not in bronze.customers: nothing held yet; "
            "it stays registered, so it is masked if it ever arrives"
        )
    for path in personal:
        result.files_purged += purge_history(spark, path)
    progress(
        f"purged {result.files_purged:,} old files of {len(personal)} tables "
        "(deletion vectors rewritten, VACUUM RETAIN 0 HOURS, log cut at a checkpoint)"
    )
