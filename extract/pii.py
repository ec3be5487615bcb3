"""The PII pepper: kept out of error messages, and rotated.

Silver and Gold hold `email_hash`/`phone_hash` = SHA-256 over the pepper and
the cleaned value (macros/hash_pii.sql). dbt's SQL only names the pepper,
`${spark.retailnova.pii_pepper}`; Spark substitutes it before it parses, so a
failing hash query's error (the parser's `== SQL ==` excerpt, the analyzer's
plan) would quote it, and dbt writes errors to its log and run_results.json.
`protect_session` puts the reference back into every such error first.

Rotation (`retailnova pii rotate`, new pepper in RETAILNOVA_PII_PEPPER_NEW):
hashes are one-way, so every hash is recomputed from the raw values, which
live only in Bronze:

1. `stg_retailnova__customers` is rebuilt (`--full-refresh`: it is
   incremental) with the new pepper: one row per Bronze version, keyed by
   (customer_id, last_modified).
2. The snapshot's history is rehashed in place from it, version by version,
   on that key; a snapshot row whose version Bronze lacks loses its hashes
   rather than keep one under the old pepper (counted, normally 0).
3. Every model downstream of `int_customers_cleaned` is rebuilt (`dbt run`).
4. Stored test failures holding hashes are emptied (the next run's tests
   write them again), and every table holding hashes is purged of old files
   and log history (extract/erase.py), so no old-pepper hash stays on disk.

The snapshot keeps its versions and keys: rehashing changes no check column
relative to the rebuilt Silver, so the next run opens no spurious version.
A rotation cut short is repaired by running it again with the same settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from extract.settings import Settings, SettingsError, dev_pepper_file

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Progress = Callable[[str], None]

PEPPER_CONF = "spark.retailnova.pii_pepper"
PEPPER_REFERENCE = "${" + PEPPER_CONF + "}"
MIN_PEPPER_LENGTH = 32  # as macros/assert_pii_pepper.sql demands
HASH_SUFFIX = "_hash"


class SecretInErrorError(Exception):
    """A Spark error whose text quoted a secret, re-raised with it replaced."""


def _scrub(text: str, secrets: set[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, PEPPER_REFERENCE)
    return text


def _scrub_exception(exc: BaseException, secrets: set[str]) -> BaseException:
    # pyspark's captured exceptions keep their text in desc and stackTrace.
    for name in ("desc", "stackTrace"):
        value = getattr(exc, name, None)
        if isinstance(value, str):
            setattr(exc, name, _scrub(value, secrets))
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        _scrub_exception(cause, secrets)
    exc.args = tuple(_scrub(a, secrets) if isinstance(a, str) else a for a in exc.args)
    if any(secret in str(exc) for secret in secrets):
        # Text computed on the JVM side at every str(): replace the exception.
        return SecretInErrorError(_scrub(str(exc), secrets))
    return exc


def protect_session(spark: SparkSession, *secrets: str) -> None:
    """Errors of `spark.sql` on this session (the one dbt's session target and
    our own code use) never carry these secrets; they name the conf instead."""
    known: set[str] | None = getattr(spark, "_retailnova_secrets", None)
    if known is None:
        known = set()
        original = spark.sql

        def sql(*args, **kwargs):
            try:
                return original(*args, **kwargs)
            except Exception as exc:
                scrubbed = _scrub_exception(exc, known)
                if scrubbed is exc:
                    raise
                raise scrubbed from None

        spark.sql = sql
        spark._retailnova_secrets = known
    known.update(s for s in secrets if s)


@dataclass
class RotationResult:
    snapshot_rows: int = 0  # snapshot versions rehashed
    snapshot_orphans: int = 0  # versions Bronze lacks: hashes cleared
    failure_rows: int = 0  # stored test failures emptied
    files_purged: int = 0
    tables: list[str] = field(default_factory=list)  # tables holding hashes
    seconds: float = 0.0


def check_new_pepper(settings: Settings, current: str) -> str:
    new = settings.pii_pepper_new
    if not new:
        raise SettingsError(
            "RETAILNOVA_PII_PEPPER_NEW is not set: put the new pepper there to rotate to it"
        )
    if len(new) < MIN_PEPPER_LENGTH:
        raise SettingsError(
            f"RETAILNOVA_PII_PEPPER_NEW must be at least {MIN_PEPPER_LENGTH} characters"
        )
    if new == current:
        raise SettingsError("RETAILNOVA_PII_PEPPER_NEW equals the current pepper")
    return new


def rotate(settings: Settings, progress: Progress = lambda msg: None) -> RotationResult:
    from extract import unchanged
    from extract.erase import check_local_lake
    from extract.lock import home_lock
    from extract.metadata import new_run_id
    from extract.pipeline import prepare_spark

    check_local_lake(settings, "pii rotate")
    current = settings.resolve_pepper()
    new = check_new_pepper(settings, current)
    started = time.monotonic()
    settings.ensure_dirs()
    with home_lock(settings.home, "pii rotate"):
        # Silver and Gold are rehashed outside a run: the next run rebuilds every node.
        unchanged.forget(settings)
        spark = prepare_spark(settings, new)
        protect_session(spark, current, new)
        result = _rotate(spark, settings, new_run_id(), progress)
    if settings.pii_pepper is None:
        # Dev: the generated pepper file is the setting, so it moves too.
        dev_pepper_file().write_text(new)
        progress(f"the development pepper in {dev_pepper_file()} is now the new one")
    else:
        progress(
            "now set RETAILNOVA_PII_PEPPER to the new pepper (the value of "
            "RETAILNOVA_PII_PEPPER_NEW) before the next run"
        )
    result.seconds = time.monotonic() - started
    return result


def _dbt_run(settings: Settings, select: str, run_id: str, *flags: str) -> None:
    from extract import transform

    args = ["run", "--select", select, *flags]
    if not transform.passthrough(settings, args, run_id=run_id):
        raise transform.TransformError(
            f"pii rotate: `dbt {' '.join(args)}` failed; see {settings.logs / 'dbt.log'} "
            "and run the rotation again"
        )


def _rotate(spark: SparkSession, settings: Settings, run_id: str, progress) -> RotationResult:
    from extract.erase import delta_tables, purge_history, table_label

    result = RotationResult()
    silver = settings.lake / "silver"
    staging = (silver / "stg_retailnova__customers").as_uri()
    snapshot = (silver / "snap_customers").as_uri()

    progress("rehashing every bronze version of customers (stg_retailnova__customers)")
    # Incremental, it would append only what landed since: every version
    # must be hashed again with the new pepper.
    _dbt_run(settings, "stg_retailnova__customers", run_id, "--full-refresh")

    if (silver / "snap_customers" / "_delta_log").is_dir():
        versions = spark.sql(
            f"SELECT DISTINCT customer_id, last_modified, email_hash, phone_hash "
            f"FROM delta.`{staging}`"
        )
        versions.createOrReplaceTempView("retailnova_rotation_versions")
        result.snapshot_orphans = spark.sql(
            f"SELECT count(*) AS n FROM delta.`{snapshot}` AS snap "
            "LEFT ANTI JOIN retailnova_rotation_versions AS versions "
            "ON snap.customer_id = versions.customer_id "
            "AND snap.last_modified = versions.last_modified"
        ).first()["n"]
        merged = spark.sql(
            f"MERGE INTO delta.`{snapshot}` AS snap "
            "USING retailnova_rotation_versions AS versions "
            "ON snap.customer_id = versions.customer_id "
            "AND snap.last_modified = versions.last_modified "
            "WHEN MATCHED THEN UPDATE SET "
            "snap.email_hash = versions.email_hash, snap.phone_hash = versions.phone_hash "
            "WHEN NOT MATCHED BY SOURCE THEN UPDATE SET "
            "snap.email_hash = NULL, snap.phone_hash = NULL"
        ).first()
        spark.catalog.dropTempView("retailnova_rotation_versions")
        result.snapshot_rows = int(merged["num_updated_rows"]) - result.snapshot_orphans
        progress(
            f"[silver.snap_customers] {result.snapshot_rows:,} versions rehashed"
            + (
                f", {result.snapshot_orphans:,} without a bronze version: hashes cleared"
                if result.snapshot_orphans
                else ""
            )
        )

    progress("rebuilding every model downstream of int_customers_cleaned")
    _dbt_run(settings, "int_customers_cleaned+", run_id)

    lake = settings.lake
    for path in delta_tables(lake):
        columns = spark.read.format("delta").load(str(path)).columns
        if not any(c.endswith(HASH_SUFFIX) for c in columns):
            continue
        label = table_label(lake, path)
        result.tables.append(label)
        if label.startswith("dq_failures"):
            deleted = spark.sql(f"DELETE FROM delta.`{path.as_uri()}`").first()
            result.failure_rows += int(deleted["num_affected_rows"]) if deleted else 0
        result.files_purged += purge_history(spark, path)
    progress(
        f"purged {result.files_purged:,} old files of {len(result.tables)} tables holding "
        f"hashes ({', '.join(result.tables)})"
    )
    return result
