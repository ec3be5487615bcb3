"""What the app reads, and nothing else: the Gold Delta tables through delta-rs
(`deltalake`, no JVM; local or on S3), the metadata store through SQLAlchemy,
and dbt's manifest for lineage.

Everything a page shows comes through the cached functions below. Each one
takes the location it reads (lake path, metadata URL) as an argument, so a
different RETAILNOVA_HOME never gets another home's cached answer. A Gold
table is cached by (lake, table, version): the page always shows the rows of
the version it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy import Engine, create_engine, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from extract.jdbc import describe
from extract.metadata import (
    data_quality_log,
    data_quality_rules,
    pipeline_errors,
    pipeline_executions,
    pipeline_runs,
    pipeline_watermarks,
)
from extract.settings import Settings, SettingsError, load_settings

# Fresh enough for a dashboard, cheap enough for a lake on object storage.
INFO_TTL_SECONDS = 30
DATA_TTL_SECONDS = 600
GOLD_TABLES = (
    "agg_monthly_kpis",
    "customer_segments",
    "cohort_analysis",
    "fact_sales",
    "dim_customer",
    "dim_product",
    "dim_store",
    "dim_date",
)
# The commands whose success means Gold was (re)built.
BUILD_COMMANDS = ("run", "run --layer gold")


Storage = tuple[tuple[str, str], ...]  # hashable, for st.cache_data's keys


class AppConfigError(Exception):
    """The settings cannot be read; the message names the variable."""


@dataclass(frozen=True)
class Sources:
    """Where the app reads from: the lake's Gold folder and the metadata store."""

    home: str
    gold: str  # path or URI of the folder holding one Delta table per Gold model
    metadata_url: str  # with its password: only ever handed to SQLAlchemy
    metadata_label: str  # safe to show
    storage: Storage = ()  # delta-rs storage options of a lake on S3

    @classmethod
    def from_settings(cls, settings: Settings) -> Sources:
        gold, storage = str(settings.lake / "gold"), ()
        if settings.lake_on_s3:
            # Spark's s3a://bucket/prefix is delta-rs's s3://bucket/prefix. The
            # credentials stay in the environment (AWS_ACCESS_KEY_ID, ...), where
            # delta-rs reads them as the AWS SDK does: no secret in a cache key.
            gold = "s3://" + settings.lake_url.removeprefix("s3a://").rstrip("/") + "/gold"
            options = {"AWS_REGION": settings.s3_region}
            if settings.s3_endpoint:
                options["AWS_ENDPOINT_URL"] = settings.s3_endpoint
                if settings.s3_endpoint.startswith("http://"):
                    options["AWS_ALLOW_HTTP"] = "true"
            storage = tuple(sorted(options.items()))
        return cls(
            home=str(settings.home),
            gold=gold,
            metadata_url=settings.metadata_url.render_as_string(hide_password=False),
            metadata_label=describe(settings.metadata_url),
            storage=storage,
        )


def sources() -> Sources:
    """The settings of this process (RETAILNOVA_* and ./.env), read per rerun:
    they are a handful of environment lookups."""
    try:
        return Sources.from_settings(load_settings())
    except SettingsError as exc:
        raise AppConfigError(str(exc)) from None


# --- Gold: delta-rs ---------------------------------------------------------------------


@dataclass(frozen=True)
class TableInfo:
    name: str
    version: int
    committed_at: datetime | None  # UTC
    operation: str | None


def _table_uri(gold: str, name: str) -> str:
    return f"{gold.rstrip('/')}/{name}"


class LakeUnavailable(Exception):
    """The lake's storage does not answer (an S3 endpoint down, no access)."""


def _open(gold: str, name: str, version: int | None = None, storage: Storage = ()):
    from deltalake import DeltaTable

    uri = _table_uri(gold, name)
    if "://" not in uri:
        if not (Path(uri) / "_delta_log").is_dir() or not DeltaTable.is_deltatable(uri):
            return None
        return DeltaTable(uri, version=version)
    options = dict(storage) or None
    try:
        if not DeltaTable.is_deltatable(uri, storage_options=options):
            return None
        return DeltaTable(uri, version=version, storage_options=options)
    except Exception as exc:  # delta-rs raises OSError or its own errors for storage
        # Its messages are colored, indented chains: one plain line.
        text = re.sub(r"\x1b\[[0-9;]*m|\u21b3", " ", str(exc))
        raise LakeUnavailable(f"{uri}: {' '.join(text.split())}"[:400]) from None


@st.cache_data(ttl=INFO_TTL_SECONDS, show_spinner=False)
def gold_info(gold: str, name: str, storage: Storage = ()) -> TableInfo | None:
    """The table's current version and when it was committed; None before it exists."""
    table = _open(gold, name, storage=storage)
    if table is None:
        return None
    last = table.history(1)
    entry = last[0] if last else {}
    stamp = entry.get("timestamp")
    return TableInfo(
        name=name,
        version=table.version(),
        committed_at=(
            datetime.fromtimestamp(stamp / 1000, tz=UTC).replace(tzinfo=None) if stamp else None
        ),
        operation=entry.get("operation"),
    )


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False, max_entries=64)
def _gold_rows(
    gold: str, name: str, version: int, columns: tuple[str, ...] | None, storage: Storage = ()
) -> pd.DataFrame:
    import pyarrow.dataset as ds

    table = _open(gold, name, version, storage)
    # Spark writes far-future timestamps (valid_to 9999-12-31) as INT96, which
    # overflow pandas' nanoseconds: read them as microseconds.
    dataset = table.to_pyarrow_dataset(
        parquet_read_options=ds.ParquetReadOptions(coerce_int96_timestamp_unit="us")
    )
    frame = dataset.to_table(columns=list(columns) if columns else None).to_pandas()
    return _plain_types(frame)


def gold(
    src: Sources, name: str, columns: tuple[str, ...] | None = None
) -> tuple[pd.DataFrame | None, TableInfo | None]:
    """A Gold table as a DataFrame, with the version it was read at; (None,
    None) before the table exists."""
    info = gold_info(src.gold, name, src.storage)
    if info is None:
        return None, None
    return _gold_rows(src.gold, name, info.version, columns, src.storage), info


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def _last_sale_day(gold: str, version: int, storage: Storage = ()) -> date | None:
    import pyarrow.compute as pc

    table = _open(gold, "fact_sales", version, storage)
    column = table.to_pyarrow_dataset().to_table(["date_key"])
    key = pc.max(column["date_key"]).as_py()
    return date(key // 10000, key // 100 % 100, key % 100) if key else None


def last_sale_day(src: Sources) -> date | None:
    """The day of the newest sale in gold.fact_sales (its date_key)."""
    info = gold_info(src.gold, "fact_sales", src.storage)
    return None if info is None else _last_sale_day(src.gold, info.version, src.storage)


# --- Monthly KPIs of some stores: gold.fact_sales x gold.dim_store ----------------------

KPI_COLUMNS = (
    "month_start",
    "total_revenue",
    "order_count",
    "unique_customers",
    "avg_order_value",
    "avg_basket_size",
    "clv_to_date",
    "repeat_purchase_rate",
)
SALES_COLUMNS = ("order_id", "customer_id", "order_date", "quantity", "net_amount")
MICROS = 10**6  # fact_sales.net_amount is decimal(18, 6): summed exactly as integer micros


def _rounded(value: Decimal, places: int) -> float:
    # Spark rounds decimal casts half up; so must the same figures here.
    return float(value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


def monthly_kpis(sales: pd.DataFrame) -> pd.DataFrame:
    """agg_monthly_kpis's formulas (contract 3) over any subset of
    gold.fact_sales: columns order_id, customer_id, order_date, quantity and
    net_micros (net_amount x 10^6, an exact integer). Over every row it gives
    Gold's numbers; over one store's rows, that store's: its buyers, repeat
    buyers and CLV count only orders placed there."""
    if sales.empty:
        return pd.DataFrame(columns=list(KPI_COLUMNS))
    months = sales["order_date"].to_numpy().astype("datetime64[M]")
    sales = sales.assign(month_start=months.astype("datetime64[ns]"))
    # Every line of an order carries the order's customer and date: one row
    # per order counts orders and customers (the model's count distinct).
    orders = sales.drop_duplicates("order_id")[
        ["order_id", "customer_id", "order_date", "month_start"]
    ]
    buyers = orders.dropna(subset=["customer_id"])
    monthly = (
        sales.groupby("month_start")
        .agg(revenue_micros=("net_micros", "sum"), total_quantity=("quantity", "sum"))
        .join(orders.groupby("month_start").size().rename("order_count"))
        .join(
            buyers.drop_duplicates(["month_start", "customer_id"])
            .groupby("month_start")
            .size()
            .rename("unique_customers")
        )
        .fillna({"unique_customers": 0})
    )
    # A buyer from the month of their first order, a repeat buyer from that of
    # their second (orders by date, then id), as in the model.
    orders = buyers.sort_values(["customer_id", "order_date", "order_id"])
    orders["order_number"] = orders.groupby("customer_id").cumcount() + 1
    milestones = pd.DataFrame(
        {
            "new_buyers": orders[orders["order_number"] == 1].groupby("month_start").size(),
            "new_repeat_buyers": orders[orders["order_number"] == 2].groupby("month_start").size(),
        }
    )
    monthly = monthly.join(milestones).fillna({"new_buyers": 0, "new_repeat_buyers": 0})
    rows = []
    revenue_to_date = buyers_to_date = repeat_to_date = 0
    # itertuples keeps each column's dtype: the micros stay exact integers.
    for row in monthly.sort_index().itertuples():
        revenue = Decimal(int(row.revenue_micros)).scaleb(-6)
        orders_in_month = int(row.order_count)
        revenue_to_date += revenue
        buyers_to_date += int(row.new_buyers)
        repeat_to_date += int(row.new_repeat_buyers)
        clv = _rounded(revenue_to_date / buyers_to_date, 2) if buyers_to_date else None
        repeat = _rounded(Decimal(repeat_to_date) / buyers_to_date, 6) if buyers_to_date else None
        rows.append(
            {
                "month_start": row.Index,
                "total_revenue": _rounded(revenue, 2),
                "order_count": orders_in_month,
                "unique_customers": int(row.unique_customers),
                "avg_order_value": _rounded(revenue / orders_in_month, 2),
                "avg_basket_size": _rounded(Decimal(int(row.total_quantity)) / orders_in_month, 4),
                "clv_to_date": clv,
                "repeat_purchase_rate": repeat,
            }
        )
    return pd.DataFrame(rows, columns=list(KPI_COLUMNS))


def read_sales(
    gold: str, version: int, store_keys: tuple[str, ...] | None, storage: Storage = ()
) -> pd.DataFrame:
    """The columns monthly_kpis needs from gold.fact_sales at a version, only
    the rows of these stores (None: every row)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    dataset = _open(gold, "fact_sales", version, storage).to_pyarrow_dataset(
        parquet_read_options=ds.ParquetReadOptions(coerce_int96_timestamp_unit="us")
    )
    where = None if store_keys is None else ds.field("store_key").isin(list(store_keys))
    table = dataset.to_table(columns=list(SALES_COLUMNS), filter=where)
    # Decimal -> integer micros without leaving Arrow: x 10^6 keeps the scale,
    # so the value has no fraction left and the cast to int64 is exact.
    amount = table["net_amount"].cast(pa.decimal128(24, 6))
    micros = pc.multiply(amount, pa.scalar(Decimal(MICROS), pa.decimal128(7, 0)))
    table = table.drop_columns(["net_amount"]).append_column("net_micros", micros.cast(pa.int64()))
    return _plain_types(table.to_pandas())


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False, max_entries=32)
def _store_kpis(
    gold: str, version: int, store_keys: tuple[str, ...], storage: Storage = ()
) -> pd.DataFrame:
    return monthly_kpis(read_sales(gold, version, store_keys, storage))


def store_kpis(
    src: Sources, store_keys: tuple[str, ...]
) -> tuple[pd.DataFrame | None, TableInfo | None]:
    """Monthly KPIs of the sales of these stores (dim_store.store_key), from
    gold.fact_sales at its current version; (None, None) before it exists."""
    info = gold_info(src.gold, "fact_sales", src.storage)
    if info is None:
        return None, None
    keys = tuple(sorted(store_keys))
    return _store_kpis(src.gold, info.version, keys, src.storage), info


# --- Lineage: the models behind a Gold table, from dbt's manifest ----------------------


def manifest_path(src: Sources) -> Path:
    """Where `retailnova run` leaves dbt's artifacts (transform.py's --target-path)."""
    return Path(src.home) / "dbt" / "target" / "manifest.json"


@st.cache_data(ttl=INFO_TTL_SECONDS, show_spinner=False)
def _parents(path: str, modified: float) -> dict[str, tuple[str, ...]]:
    import json

    manifest = json.loads(Path(path).read_text())
    names = {
        unique_id: node["name"]
        for unique_id, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") in ("model", "snapshot", "seed")
    }
    return {
        names[child]: tuple(names[p] for p in parents if p in names)
        for child, parents in manifest.get("parent_map", {}).items()
        if child in names
    }


def upstream(src: Sources, tables: Iterable[str]) -> set[str] | None:
    """The tables and every model, snapshot and seed they are built from, by
    dbt's manifest of the last build; None when there is no manifest."""
    path = manifest_path(src)
    if not path.is_file():
        return None
    parents = _parents(str(path), path.stat().st_mtime)
    seen: set[str] = set()
    todo = list(tables)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(parents.get(name, ()))
    return seen


def quality_behind(
    src: Sources, latest: pd.DataFrame, tables: list[str]
) -> tuple[pd.DataFrame, str]:
    """The results (latest_per_rule) of the rules whose target_table is behind
    these Gold tables (one of them, or upstream of one in dbt's lineage), and a
    sentence naming those tables. With no tables named (a page on the metadata
    store), every rule counts."""
    if not tables:
        return latest, "Every active rule, its newest result"
    behind = upstream(src, tables)
    targets = set(tables) if behind is None else behind
    relevant = latest[latest["target_table"].isin(targets)] if not latest.empty else latest
    named = ", ".join(sorted(set(relevant["target_table"]))) if not relevant.empty else "none"
    shown = ", ".join(f"gold.{t}" for t in tables)
    if behind is None:
        return relevant, (
            f"Rules on {shown} themselves ({named}): no dbt manifest at "
            f"{manifest_path(src)} to trace what they are built from"
        )
    return relevant, f"Rules on the tables behind {shown} in dbt's lineage: {named}"


def _plain_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Decimals as floats (charts and sums), dates as pandas timestamps."""
    for column in frame.columns:
        series = frame[column]
        if series.dtype != object or series.empty:
            continue
        sample = series.dropna()
        if sample.empty:
            continue
        first = sample.iloc[0]
        if isinstance(first, Decimal):
            frame[column] = series.astype("float64")
        elif isinstance(first, date) and not isinstance(first, datetime):
            frame[column] = pd.to_datetime(series)
    for column in frame.select_dtypes(include=["datetimetz"]).columns:
        frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


# --- The metadata store: SQLAlchemy -----------------------------------------------------


class MetadataUnavailable(Exception):
    """The metadata store does not answer (a server down, a bad URL)."""


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True)


def _store_exists(url: str) -> bool:
    """A SQLite store is a file that the first run creates; don't create it here."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    database = parsed.database or ""
    return database not in ("", ":memory:") and Path(database).is_file()


def _read(url: str, query, table_name: str) -> pd.DataFrame:
    if not _store_exists(url):
        return pd.DataFrame()
    try:
        with engine(url).connect() as conn:
            if not inspect(conn).has_table(table_name):
                return pd.DataFrame()
            result = conn.execute(query)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise MetadataUnavailable(first) from None


@st.cache_data(ttl=INFO_TTL_SECONDS, show_spinner=False)
def runs(url: str, limit: int = 200) -> pd.DataFrame:
    query = select(pipeline_runs).order_by(pipeline_runs.c.started_at.desc()).limit(limit)
    return _read(url, query, pipeline_runs.name)


@st.cache_data(ttl=INFO_TTL_SECONDS, show_spinner=False)
def executions(url: str, limit: int = 2000) -> pd.DataFrame:
    query = (
        select(pipeline_executions).order_by(pipeline_executions.c.execution_id.desc()).limit(limit)
    )
    frame = _read(url, query, pipeline_executions.name)
    if not frame.empty:
        frame["duration_seconds"] = (
            pd.to_datetime(frame["finished_at"]) - pd.to_datetime(frame["started_at"])
        ).dt.total_seconds()
    return frame


@st.cache_data(ttl=INFO_TTL_SECONDS, show_spinner=False)
def errors(url: str, limit: int = 200) -> pd.DataFrame:
    query = select(pipeline_errors).order_by(pipeline_errors.c.error_id.desc()).limit(limit)
    return _read(url, query, pipeline_errors.name)


@st.cache_data(ttl=INFO_TTL_SECONDS, show_spinner=False)
def watermarks(url: str) -> pd.DataFrame:
    query = select(pipeline_watermarks).order_by(pipeline_watermarks.c.table_name)
    return _read(url, query, pipeline_watermarks.name)


@st.cache_data(ttl=INFO_TTL_SECONDS, show_spinner=False)
def dq_rules(url: str) -> pd.DataFrame:
    query = select(data_quality_rules).order_by(data_quality_rules.c.rule_name)
    return _read(url, query, data_quality_rules.name)


@st.cache_data(ttl=INFO_TTL_SECONDS, show_spinner=False)
def dq_log(url: str, runs_back: int = 100) -> pd.DataFrame:
    """Every data-quality result of the newest `runs_back` runs that have any."""
    recent = (
        select(data_quality_log.c.run_id)
        .group_by(data_quality_log.c.run_id)
        .order_by(data_quality_log.c.run_id.desc())
        .limit(runs_back)
    )
    query = (
        select(data_quality_log)
        .where(data_quality_log.c.run_id.in_(recent.scalar_subquery()))
        .order_by(data_quality_log.c.log_id)
    )
    return _read(url, query, data_quality_log.name)


def last_successful_run(url: str) -> dict | None:
    """The newest run that built Gold and succeeded."""
    frame = runs(url)
    if frame.empty:
        return None
    done = frame[(frame["status"] == "SUCCESS") & frame["command"].isin(BUILD_COMMANDS)]
    if done.empty:
        return None
    return done.sort_values("started_at").iloc[-1].to_dict()


# --- Figures the pages share ------------------------------------------------------------


@dataclass(frozen=True)
class QualitySummary:
    run_id: str
    evaluated_at: datetime
    total: int
    passed: int
    warnings: int
    failures: int  # FAIL and ERROR (not evaluated): neither may pass silently

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


def quality_by_run(log: pd.DataFrame) -> list[QualitySummary]:
    """One summary per run with results, oldest first. The pass rate of a run
    is the share of its rules with status PASS (as `retailnova dq report`)."""
    if log.empty:
        return []
    summaries = []
    for run_id, group in log.groupby("run_id", sort=False):
        status = group["status"]
        summaries.append(
            QualitySummary(
                run_id=str(run_id),
                evaluated_at=pd.Timestamp(group["evaluated_at"].max()).to_pydatetime(),
                total=len(group),
                passed=int((status == "PASS").sum()),
                warnings=int((status == "WARNING").sum()),
                failures=int(status.isin(["FAIL", "ERROR"]).sum()),
            )
        )
    return sorted(summaries, key=lambda s: (s.evaluated_at, s.run_id))


def latest_quality(log: pd.DataFrame) -> pd.DataFrame:
    """The results of the newest run that has any."""
    if log.empty:
        return log
    newest = log.loc[log["log_id"].idxmax(), "run_id"]
    return log[log["run_id"] == newest]


def latest_per_rule(log: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """The newest result of each active rule, whichever run evaluated it: a run
    that rebuilt only Gold leaves the Silver tables' rules as they last were."""
    if log.empty:
        return log
    newest = log.sort_values("log_id").drop_duplicates("rule_name", keep="last")
    if not rules.empty:
        active = set(rules.loc[rules["is_active"].astype(bool), "rule_name"])
        newest = newest[newest["rule_name"].isin(active)]
    return newest


def failing_rows(
    gold_path: str, rule_name: str, limit: int = 500, storage: Storage = ()
) -> pd.DataFrame | None:
    """The rows a rule's test stored (dbt store_failures, schema dq_failures):
    a Delta table at lake/dq_failures.db/<rule>. None when there is none."""
    lake = gold_path.rstrip("/").rsplit("/", 1)[0]
    for folder in ("dq_failures.db", "dq_failures"):
        table = _open(f"{lake}/{folder}", rule_name, storage=storage)
        if table is not None:
            frame = table.to_pyarrow_dataset().head(limit).to_pandas()
            return _plain_types(frame)
    return None
