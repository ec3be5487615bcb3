"""The reconciliation ledger: every source table followed through a run.

Per table and run, three equations, each checked only for the layers the run
built:

- Bronze: the rows the extractor read since the last watermark = the rows
  Bronze already held (the lag window's re-reads) + the rows that landed in
  Bronze with this run's `_run_id` (counted in Bronze, not taken from the
  extractor's word).
- Silver: the source's rows as of the extraction = the current rows of its
  `int_*_cleaned` table + its keys in `int_records_quarantined`. Bronze keeps
  every version of a key and Silver one, so the comparison is on keys.
- Gold (sales_order_lines): the revenue-bearing lines and their exact net
  amount, computed by SQL on the source with contract sections 2 and 3, =
  the rows and `sum(net_amount)` of `gold.fact_sales`.

"As of the extraction": a source keeps changing while a run reads it and
builds Silver and Gold. Rows whose `last_modified` is after the watermark the
run stored were not part of this run; their keys are counted (`changed_after`)
and left out of both sides, so a busy source never makes a false alarm.
Anything else that differs is unexplained: it is flagged in the run summary
and stored in the metadata store's `reconciliation_ledger`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from extract.metadata import MetadataStore
from extract.settings import Settings
from extract.source import schema
from extract.spark import delta_exists, lake_table

# The Silver table holding each source table's current rows, and the entity
# name int_records_quarantined uses for it.
SILVER_TABLES = {
    "stores": "int_stores_cleaned",
    "products": "int_products_cleaned",
    "customers": "int_customers_cleaned",
    "sales_orders": "int_orders_cleaned",
    "sales_order_lines": "int_order_lines_cleaned",
}
QUARANTINE = "int_records_quarantined"
FACT = "fact_sales"
REVENUE_STATUSES = ("Shipped", "Delivered")
# Net amounts are summed in the source as integers of 10^-6: cents x the
# undiscounted share in basis points, exact on every database (SQLite keeps
# decimals as floats).
MICRO = Decimal(1).scaleb(-6)


@dataclass
class LedgerEntry:
    table_name: str
    watermark: datetime | None = None
    # Bronze
    changed_rows: int | None = None  # read by the extractor since the last watermark
    skipped_rows: int | None = None  # of those, versions Bronze already held
    landed_rows: int | None = None  # in Bronze with this run's _run_id
    # Silver
    source_rows: int | None = None  # source rows as of the extraction
    changed_after: int | None = None  # source rows changed after it, left out
    silver_rows: int | None = None
    quarantined_rows: int | None = None
    # Gold, for sales_order_lines
    source_revenue_lines: int | None = None
    source_net_amount: Decimal | None = None
    fact_lines: int | None = None
    fact_net_amount: Decimal | None = None
    differences: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "UNEXPLAINED" if self.differences else "BALANCED"

    def check(self) -> None:
        """Fill `differences` with every equation that does not hold."""
        self.differences = []
        if self.changed_rows is not None and self.landed_rows is not None:
            expected = self.changed_rows - (self.skipped_rows or 0)
            if self.landed_rows != expected:
                self.differences.append(
                    f"bronze holds {self.landed_rows:,} rows of this run, "
                    f"the extractor wrote {expected:,} ({self.landed_rows - expected:+,})"
                )
        if self.source_rows is not None and self.silver_rows is not None:
            accounted = self.silver_rows + (self.quarantined_rows or 0)
            if accounted != self.source_rows:
                self.differences.append(
                    f"source has {self.source_rows:,} rows, silver {self.silver_rows:,} + "
                    f"quarantined {self.quarantined_rows or 0:,} = {accounted:,} "
                    f"({accounted - self.source_rows:+,})"
                )
        if self.source_revenue_lines is not None and self.fact_lines is not None:
            if self.fact_lines != self.source_revenue_lines:
                self.differences.append(
                    f"fact_sales has {self.fact_lines:,} lines, the source "
                    f"{self.source_revenue_lines:,} revenue-bearing lines "
                    f"({self.fact_lines - self.source_revenue_lines:+,})"
                )
            if self.fact_net_amount != self.source_net_amount:
                self.differences.append(
                    f"fact_sales net amount {_amount(self.fact_net_amount)}, the source "
                    f"{_amount(self.source_net_amount)} "
                    f"({_amount((self.fact_net_amount or 0) - (self.source_net_amount or 0))})"
                )


def _amount(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.6f}"


def _as_of(table: sa.Table, watermark: datetime | None):
    """Rows that were part of the extraction: not changed after its watermark
    (rows without last_modified are read by every extraction)."""
    cursor = table.c[schema.CURSOR_COLUMN]
    if watermark is None:
        return cursor.is_(None)
    return sa.or_(cursor <= watermark, cursor.is_(None))


def _source_side(conn: sa.Connection, table: sa.Table, watermark: datetime | None):
    """(rows as of the extraction, keys changed after it)."""
    key = table.c[schema.primary_key(table)]
    cursor = table.c[schema.CURSOR_COLUMN]
    rows = conn.execute(
        sa.select(sa.func.count()).select_from(table).where(_as_of(table, watermark))
    ).scalar_one()
    after = cursor.is_not(None) if watermark is None else cursor > watermark
    keys = list(conn.execute(sa.select(key).where(after)).scalars())
    return int(rows), keys


def source_revenue(
    conn: sa.Connection, lines_watermark: datetime | None, orders_watermark: datetime | None
) -> tuple[int, Decimal]:
    """Revenue-bearing lines and their exact net amount, from the source as of
    the extraction: the order's status Shipped or Delivered, quantity > 0
    (others are quarantined), quantity x unit_price x (1 - discount / 100) with
    a discount outside [0, 100] or missing taken as 0, never rounded per line.
    Rows without last_modified are left out: Silver quarantines them."""
    lines, orders = schema.sales_order_lines, schema.sales_orders
    if lines_watermark is None or orders_watermark is None:
        return 0, Decimal(0)
    cents = sa.cast(sa.func.round(lines.c.unit_price * 100, 0), sa.BigInteger)
    discount_bp = sa.case(
        (
            orders.c.discount_pct.between(0, 100),
            sa.cast(sa.func.round(orders.c.discount_pct * 100, 0), sa.BigInteger),
        ),
        else_=0,
    )
    micro = sa.cast(lines.c.quantity, sa.BigInteger) * cents * (10_000 - discount_bp)
    count, total = conn.execute(
        sa.select(sa.func.count(), sa.func.sum(micro))
        .select_from(lines.join(orders, lines.c.order_id == orders.c.order_id))
        .where(
            sa.func.trim(orders.c.status).in_(REVENUE_STATUSES),
            lines.c.quantity > 0,
            lines.c.last_modified <= lines_watermark,
            orders.c.last_modified <= orders_watermark,
        )
    ).one()
    return int(count), (Decimal(int(total or 0)) * MICRO)


def _without(spark, frame, column: str, keys: list):
    """The frame without the rows whose column is one of keys."""
    if not keys:
        return frame
    excluded = spark.createDataFrame([(k,) for k in keys], f"`{column}` {_spark_type(keys)}")
    return frame.join(excluded, on=column, how="left_anti")


def _spark_type(keys: list) -> str:
    return "string" if isinstance(keys[0], str) else "bigint"


def reconcile(
    spark,
    settings: Settings,
    store: MetadataStore,
    run_id: str,
    read: Mapping[str, tuple[int, int]],
    built: Mapping[str, str],
) -> list[LedgerEntry]:
    """The ledger of one run, one entry per source table, checked for what the
    run did: read, {table: (rows read, rows written)} of the tables it
    extracted; built, {model: relation} of the models it built successfully."""
    from pyspark.sql import functions as F

    entries: dict[str, LedgerEntry] = {}
    after_keys: dict[str, list] = {}
    engine = sa.create_engine(settings.source_url)
    try:
        with engine.connect() as conn:

            def changed_after(table: sa.Table) -> list:
                if table.name not in after_keys:
                    watermark = entries[table.name].watermark
                    after_keys[table.name] = _source_side(conn, table, watermark)[1]
                return after_keys[table.name]

            for table in schema.TABLES:
                name = table.name
                entry = entries[name] = LedgerEntry(name, watermark=store.get_watermark(name))
                if name in read:
                    entry.changed_rows, written = read[name]
                    entry.skipped_rows = entry.changed_rows - written
                    entry.landed_rows = (
                        spark.read.format("delta")
                        .load(lake_table(settings, "bronze", name))
                        .where(F.col("_run_id") == run_id)
                        .count()
                        if delta_exists(spark, settings, "bronze", name)
                        else 0
                    )
                silver = built.get(SILVER_TABLES[name])
                if silver and QUARANTINE in built:
                    entry.source_rows, after_keys[name] = _source_side(conn, table, entry.watermark)
                    keys = after_keys[name]
                    entry.changed_after = len(keys)
                    key = schema.primary_key(table)
                    entry.silver_rows = _without(spark, spark.table(silver), key, keys).count()
                    quarantined = (
                        spark.table(built[QUARANTINE])
                        .where(F.col("entity") == name)
                        .select("record_key")
                        .distinct()
                    )
                    entry.quarantined_rows = _without(
                        spark, quarantined, "record_key", [str(k) for k in keys]
                    ).count()
            if FACT in built:
                lines = entries["sales_order_lines"]
                lines.source_revenue_lines, lines.source_net_amount = source_revenue(
                    conn, lines.watermark, entries["sales_orders"].watermark
                )
                facts = spark.table(built[FACT])
                facts = _without(
                    spark, facts, "order_line_id", changed_after(schema.sales_order_lines)
                )
                facts = _without(spark, facts, "order_id", changed_after(schema.sales_orders))
                totals = facts.agg(
                    F.count(F.lit(1)).alias("n"), F.sum("net_amount").alias("net")
                ).first()
                lines.fact_lines = totals["n"]
                lines.fact_net_amount = Decimal(totals["net"] or 0)
    finally:
        engine.dispose()
    for entry in entries.values():
        entry.check()
    return list(entries.values())


def reconcile_run(
    spark, settings: Settings, store: MetadataStore, run_id: str
) -> list[LedgerEntry]:
    """A past run's ledger against the lake as it is now: what the run read comes
    from the metadata store, and every ledger table that exists is checked."""
    read = {
        e["step"]: (e["rows_read"], e["rows_written"])
        for e in store.executions(run_id)
        if e["layer"] == "bronze" and e["status"] == "SUCCESS"
    }
    models = [*SILVER_TABLES.values(), QUARANTINE]
    built = {m: f"silver.{m}" for m in models if spark.catalog.tableExists(f"silver.{m}")}
    if spark.catalog.tableExists(f"gold.{FACT}"):
        built[FACT] = f"gold.{FACT}"
    return reconcile(spark, settings, store, run_id, read, built)


def _eq(left, right) -> str:
    return "=" if left == right else "!="


def format_entry(entry: LedgerEntry) -> str:
    """One line per table: the equations the run checked, = where they hold."""
    parts = []
    if entry.changed_rows is not None:
        accounted = (entry.skipped_rows or 0) + (entry.landed_rows or 0)
        parts.append(
            f"read {entry.changed_rows:,} {_eq(entry.changed_rows, accounted)}"
            f" {entry.skipped_rows:,} already in bronze + {entry.landed_rows:,} landed"
        )
    if entry.source_rows is not None:
        accounted = (entry.silver_rows or 0) + (entry.quarantined_rows or 0)
        after = f" ({entry.changed_after:,} changed since, left out)" if entry.changed_after else ""
        parts.append(
            f"source {entry.source_rows:,}{after} {_eq(entry.source_rows, accounted)}"
            f" silver {entry.silver_rows:,} + quarantined {entry.quarantined_rows:,}"
        )
    if entry.source_revenue_lines is not None:
        parts.append(
            f"revenue lines {entry.source_revenue_lines:,}"
            f" {_eq(entry.source_revenue_lines, entry.fact_lines)} fact_sales {entry.fact_lines:,},"
            f" net {_amount(entry.source_net_amount)}"
            f" {_eq(entry.source_net_amount, entry.fact_net_amount)}"
            f" {_amount(entry.fact_net_amount)}"
        )
    body = "; ".join(parts) or "nothing this run built"
    return f"[{entry.table_name}] {body}: {'UNEXPLAINED' if entry.differences else 'ok'}"


def summary_line(entries: Sequence[LedgerEntry]) -> str:
    flagged = [e for e in entries if e.differences]
    if not flagged:
        return "LEDGER: balanced"
    details = "; ".join(f"{e.table_name}: {', '.join(e.differences)}" for e in flagged)
    return f"LEDGER: {len(flagged)} UNEXPLAINED ({details})"


def from_rows(rows: Sequence[dict]) -> list[LedgerEntry]:
    """Entries back from the metadata store's reconciliation_ledger rows."""
    names = set(LedgerEntry.__dataclass_fields__) - {"differences"}
    entries = []
    for row in rows:
        entry = LedgerEntry(**{k: v for k, v in row.items() if k in names})
        for amount in ("source_net_amount", "fact_net_amount"):
            value = getattr(entry, amount)
            setattr(entry, amount, None if value is None else Decimal(value))
        entry.differences = row["differences"].split("; ") if row.get("differences") else []
        entries.append(entry)
    return entries
