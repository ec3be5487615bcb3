"""End to end, real engines: a sample source, `retailnova run` (extract + dbt
build) four times with simulated days in between, and Gold checked against an
independent Python reading of contract section 3 (tests/e2e/expectations.py).

One pipeline for the module: the source is built and run once, and the Gold
tables are collected after every run, so each check below looks at every run
without paying for a new pipeline.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DataType,
    DecimalType,
    DoubleType,
    FloatType,
    MapType,
    StringType,
    StructType,
)
from sqlalchemy import create_engine, select

from extract.pipeline import RunSummary, run
from extract.source import schema
from extract.source.generate import init_source, simulate
from extract.spark import LAYERS
from tests.conftest import make_settings
from tests.e2e import expectations as ex

AS_OF = datetime(2026, 6, 30, 18, 0, 0)
# RETAILNOVA_E2E_SCALE=1 checks the contract at the scale of `make demo`.
SCALE = float(os.environ.get("RETAILNOVA_E2E_SCALE", "0.05"))
SEED = 20260630
PEPPER = "5e2d0c7a9b1f4e3d8c6a2b0f9e7d5c3a1b9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d"
SIMULATED_DAYS = 3  # one `simulate --days 1` + run each: the incremental paths
STAGES = ("initial", *(f"day{n}" for n in range(1, SIMULATED_DAYS + 1)))
# Contract 3 defines the net line amount without rounding, so totals are sums of
# exact amounts (None). Set 2 if the contract is amended to round each line to
# the cent before summing.
LINE_AMOUNT_SCALE: int | None = None

GOLD_TABLES = (
    "agg_monthly_kpis",
    "customer_segments",
    "cohort_analysis",
    "fact_sales",
    "dim_customer",
    "dim_product",
    "dim_store",
)
# Four full `dbt build`s take about an hour on a 2-core machine (13 minutes
# each at this scale, most of it Spark's per-test overhead), more than CI's
# budget: `make test-e2e` runs this module; `make test` does not (yet).
pytestmark = pytest.mark.e2e

UNKNOWN_ID = -1  # the natural id of every dimension's explicit unknown member
# dim_customer's SCD2 columns (contract 3), cleaned as Silver cleans them.
TRACKED = ("address", "city", "postal_code", "country", "email", "loyalty_tier", "is_active")


# --- The pipeline, once per module ------------------------------------------------------


@dataclass
class GoldTable:
    name: str
    types: dict[str, DataType]
    rows: list[dict[str, Any]]


@dataclass
class Stage:
    name: str
    summary: RunSummary
    seconds: float
    expected: ex.Expected
    product_prices: dict[int, Decimal]  # the source's, at this run
    customer_ids: set[int]
    gold: dict[str, GoldTable | str]  # the table, or why it could not be read

    def table(self, name: str) -> GoldTable:
        found = self.gold[name]
        if isinstance(found, str):
            pytest.fail(
                f"{self.name}: gold.{name} unreadable ({found}); failed={self.summary.failed}"
            )
        return found


@dataclass
class Pipeline:
    home: Path
    engine: Any
    stages: list[Stage] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


def collect_gold(spark, name: str) -> GoldTable | str:
    try:
        frame = spark.table(f"gold.{name}")
        return GoldTable(
            name,
            {f.name: f.dataType for f in frame.schema.fields},
            [row.asDict() for row in frame.collect()],
        )
    except Exception as error:  # a missing table is reported by the test that needs it
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"


def build_pipeline(spark, home: Path) -> Pipeline:
    """A sample source, then `retailnova run` after each of 0..SIMULATED_DAYS simulated
    days, with what Gold held and what the source implied after every run."""
    for layer in LAYERS:  # what the `catalog` fixture does, for a module
        spark.sql(f"DROP DATABASE IF EXISTS {layer} CASCADE")
    settings = make_settings(home, RETAILNOVA_PII_PEPPER=PEPPER)
    settings.ensure_dirs()
    engine = create_engine(settings.source_url)
    init_source(engine, scale=SCALE, seed=SEED, as_of=AS_OF)
    result = Pipeline(home, engine)
    for index, name in enumerate(STAGES):
        if index:
            simulate(engine, days=1)
        started = time.monotonic()
        summary = run(settings, progress=result.log.append)
        seconds = time.monotonic() - started
        print(f"\n[e2e] run {name}: {seconds:.1f}s, ok={summary.ok}, failed={summary.failed}")
        result.stages.append(
            Stage(
                name,
                summary,
                seconds,
                ex.from_source(engine, line_scale=LINE_AMOUNT_SCALE),
                ex.load_product_prices(engine),
                ex.load_customer_ids(engine),
                {table: collect_gold(spark, table) for table in GOLD_TABLES},
            )
        )
    return result


@pytest.fixture(scope="module")
def pipeline(spark, tmp_path_factory):
    result = build_pipeline(spark, tmp_path_factory.mktemp("e2e") / "home")
    yield result
    result.engine.dispose()


@pytest.fixture(params=STAGES)
def stage(request, pipeline) -> Stage:
    return pipeline.stages[STAGES.index(request.param)]


# --- Comparing at a column's declared precision -----------------------------------------


def quantize(value: Decimal, scale: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def same_exact(dtype: DataType, actual: Any, expected: Any) -> bool:
    """Counts, keys, dates, labels: equal."""
    return actual is not None and actual == expected


def same_money(dtype: DataType, actual: Any, expected: Decimal) -> bool:
    """A sum of exact amounts: equal at the declared scale (rounded half up, as Spark
    casts), and in any case equal once both are rounded to cents."""
    if actual is None:
        return False
    if isinstance(dtype, DecimalType):
        return actual == quantize(expected, dtype.scale) and quantize(actual, 2) == quantize(
            expected, 2
        )
    return quantize(Decimal(str(actual)), 2) == quantize(expected, 2)


def same_rate(dtype: DataType, actual: Any, expected: Decimal) -> bool:
    """A quotient: within half a unit of the declared scale (a correctly rounded
    value, whatever intermediate scale Spark divided at), or 1e-9 for a double."""
    if actual is None:
        return False
    if isinstance(dtype, DecimalType):
        return abs(actual - expected) <= Decimal(1).scaleb(-dtype.scale) / 2 + Decimal("1e-12")
    if isinstance(dtype, DoubleType | FloatType):
        return abs(float(actual) - float(expected)) <= 1e-9 * max(1.0, abs(float(expected)))
    return False


Comparer = Callable[[DataType, Any, Any], bool]


def assert_rows_match(
    table: GoldTable,
    key: Callable[[dict[str, Any]], Any],
    expected: dict[Any, Any],
    columns: dict[str, Comparer],
    stage: str,
) -> None:
    """Every expected row present once, nothing else, every column equal."""
    missing_columns = set(columns) - set(table.types)
    assert not missing_columns, f"gold.{table.name} lacks contract columns {missing_columns}"
    counts = Counter(key(row) for row in table.rows)
    duplicated = sorted(k for k, n in counts.items() if n > 1)
    actual = {key(row): row for row in table.rows}
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong = []
    for k in sorted(set(expected) & set(actual)):
        want = expected[k]
        for column, same in columns.items():
            value, target = actual[k][column], getattr(want, column)
            if not same(table.types[column], value, target):
                wrong.append(f"{k}: {column} = {value!r}, expected {target!r}")
    report = [
        f"{stage}: gold.{table.name} ({len(table.rows)} rows, {len(expected)} expected)",
        f"  duplicated keys ({len(duplicated)}): {duplicated[:10]}",
        f"  missing keys ({len(missing)}): {missing[:10]}",
        f"  unexpected keys ({len(extra)}): {extra[:10]}",
        f"  wrong values ({len(wrong)}):",
        *(f"    {line}" for line in wrong[:25]),
    ]
    assert not (duplicated or missing or extra or wrong), "\n".join(report)


def as_date(value: Any) -> Any:
    return value.date() if isinstance(value, datetime) else value


# --- The run itself -------------------------------------------------------------------


def test_every_run_succeeds_and_reports_row_counts(stage, spark):
    summary = stage.summary

    assert summary.ok, f"{stage.name}: failed nodes {summary.failed}"
    assert [r.status for r in summary.extracted] == ["SUCCESS"] * 5
    written = [n for n in summary.nodes if n.relation]
    # A table whose inputs did not change is left as built (extract/unchanged.py).
    kept = set(summary.unchanged.values())
    assert {n.relation for n in written} | kept >= {f"gold.{t}" for t in GOLD_TABLES}
    for node in written:
        if node.materialized == "view":
            assert node.status == "success", node
        else:
            assert isinstance(node.rows, int), f"{node.relation}: no row count ({node.status})"
    counted = {n.relation: n.rows for n in written} | {r: spark.table(r).count() for r in kept}
    for name in GOLD_TABLES:
        assert counted[f"gold.{name}"] > 0, f"{stage.name}: gold.{name} is empty"


def test_the_progress_log_has_a_row_count_on_every_table_line(pipeline):
    # extract.pipeline.format_node: "[schema.table] 1,234 rows (table, 1.2s)".
    node_lines = [line for line in pipeline.log if re.match(r"^\[\w+\.\w+\] ", line)]

    assert node_lines
    for line in node_lines:
        shape = re.match(r"^\[\S+\] (?:([\d,]+) rows|(\w+)) \((\w+), [\d.]+s\)$", line)
        assert shape, line
        rows, status, materialized = shape.groups()
        assert rows is not None or (materialized == "view" and status == "success"), line


def test_a_day_leaves_alone_what_only_unchanged_inputs_feed(pipeline):
    # The simulated days change every source table but the stores, and never
    # the seeds: what only those feed is left as the run before built it
    # (extract/unchanged.py), while what reads the facts or the clock runs.
    left = {"silver.int_stores_cleaned", "gold.dim_store", "gold.dim_date"}
    assert pipeline.stages[0].summary.unchanged == {}
    for stage in pipeline.stages[1:]:
        ran = {n.name for n in stage.summary.nodes}
        assert left | {"silver.greek_public_holidays"} <= set(stage.summary.unchanged.values())
        kept = {"int_stores_cleaned", "dim_store", "dim_date", "column_checks_dim_store"}
        assert not kept & ran
        assert "relationships_fact_sales_store_key__store_key__ref_dim_store_" in ran
        assert {"int_customers_cleaned", "fact_sales", "orders_freshness"} <= ran


# --- Gold against the contract ----------------------------------------------------------


def test_agg_monthly_kpis(stage):
    expected = {k.month_start: k for k in stage.expected.kpis}

    assert_rows_match(
        stage.table("agg_monthly_kpis"),
        lambda row: as_date(row["month_start"]),
        expected,
        {
            "month_start": lambda t, a, e: as_date(a) == e,
            "total_revenue": same_money,
            "order_count": same_exact,
            "unique_customers": same_exact,
            "avg_order_value": same_rate,
            "avg_basket_size": same_rate,
            "clv_to_date": same_rate,
            "repeat_purchase_rate": same_rate,
        },
        stage.name,
    )


def test_customer_segments(stage):
    assert_rows_match(
        stage.table("customer_segments"),
        lambda row: row["customer_id"],
        stage.expected.segments,
        {
            "customer_id": same_exact,
            "recency_days": same_exact,
            "frequency": same_exact,
            "monetary": same_money,
            "r_score": same_exact,
            "f_score": same_exact,
            "m_score": same_exact,
            "segment": same_exact,
        },
        stage.name,
    )


def test_cohort_analysis(stage):
    assert_rows_match(
        stage.table("cohort_analysis"),
        lambda row: (as_date(row["cohort_month"]), row["month_number"]),
        stage.expected.cohorts,
        {
            "cohort_month": lambda t, a, e: as_date(a) == e,
            "month_number": same_exact,
            "cohort_size": same_exact,
            "active_customers": same_exact,
            "retention_rate": same_rate,
        },
        stage.name,
    )


def test_fact_sales_holds_every_revenue_line_once_with_its_net_amount(stage):
    assert_rows_match(
        stage.table("fact_sales"),
        lambda row: row["order_line_id"],
        stage.expected.lines,
        {
            "quantity": same_exact,
            "unit_price": same_money,
            "discount_pct": same_money,
            "net_amount": same_money,
        },
        stage.name,
    )


def test_fact_sales_points_to_the_right_dimension_members(stage):
    """dim_date's yyyymmdd key; the customer version valid at order time; the product
    and store, or the unknown member when the member is missing or quarantined."""
    customers = {r["customer_key"]: r for r in stage.table("dim_customer").rows}
    products = {r["product_key"]: r["product_id"] for r in stage.table("dim_product").rows}
    stores = {r["store_key"]: r["store_id"] for r in stage.table("dim_store").rows}
    wrong = []
    for row in stage.table("fact_sales").rows:
        line = stage.expected.lines.get(row["order_line_id"])
        if line is None:
            continue  # an unexpected fact: test_fact_sales_... reports it
        problems = []
        if row["date_key"] != int(line.order_date.strftime("%Y%m%d")):
            problems.append(f"date_key {row['date_key']}")
        version = customers.get(row["customer_key"])
        known = line.customer_id in stage.customer_ids
        if version is None or version["customer_id"] != (line.customer_id if known else -1):
            problems.append(f"customer_key {row['customer_key']} -> {version}")
        elif known and not version["valid_from"] <= line.order_date < version["valid_to"]:
            problems.append(
                f"customer version {version['valid_from']}..{version['valid_to']}"
                f" does not cover {line.order_date}"
            )
        kept = ex.is_product_kept(stage.product_prices.get(line.product_id))
        if products.get(row["product_key"]) != (line.product_id if kept else UNKNOWN_ID):
            problems.append(f"product_key {row['product_key']} for product {line.product_id}")
        if stores.get(row["store_key"]) != line.store_id:
            problems.append(f"store_key {row['store_key']} for store {line.store_id}")
        if problems:
            wrong.append(f"line {line.order_line_id}: {'; '.join(problems)}")

    assert not wrong, f"{stage.name}: {len(wrong)} facts\n" + "\n".join(wrong[:20])
    unknown_products = {
        line.product_id
        for line in stage.expected.lines.values()
        if not ex.is_product_kept(stage.product_prices.get(line.product_id))
    }
    assert unknown_products, "no missing or zero-priced product sold: the check proves little"


def test_the_simulated_days_moved_the_numbers(pipeline):
    """Guards the test itself: later runs really had new revenue to pick up."""
    first, last = pipeline.stages[0].expected, pipeline.stages[-1].expected

    assert len(last.lines) > len(first.lines)
    assert last.as_of > first.as_of


# --- dim_customer: SCD2 ---------------------------------------------------------------


def clean_tracked(row: dict[str, Any]) -> tuple:
    email = row["email"].strip().lower() if row["email"] is not None else None
    country = row["country"].strip().upper() if row["country"] is not None else None
    return (
        row["address"],
        row["city"],
        row["postal_code"],
        country,
        email,
        row["loyalty_tier"],
        row["is_active"],
    )


def expected_versions(spark, run_ids: list[str]) -> tuple[dict[int, int], set[int]]:
    """customer_id -> SCD2 versions the snapshot must hold after the last run, and the
    customers whose city differs between what two runs saw (movers).

    Each run snapshots the latest version its extract had landed: per run, the
    customer's newest Bronze row of that run (if any) is the new state; a version
    is added whenever a tracked attribute differs from the previous state."""
    bronze = spark.table("bronze.customers").select(
        "customer_id", "_run_id", "last_modified", *TRACKED
    )
    per_run: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in bronze.collect():
        seen = per_run[row["customer_id"]].get(row["_run_id"])
        if seen is None or row["last_modified"] > seen["last_modified"]:
            per_run[row["customer_id"]][row["_run_id"]] = row.asDict()
    versions, movers = {}, set()
    for customer_id, runs in per_run.items():
        states, cities = [], []
        for run_id in run_ids:
            if run_id in runs:
                state = clean_tracked(runs[run_id])
                if not states or states[-1] != state:
                    states.append(state)
                cities.append(runs[run_id]["city"])
        versions[customer_id] = len(states)
        if len(set(cities)) > 1:
            movers.add(customer_id)
    return versions, movers


@pytest.fixture(scope="module")
def scd2(pipeline, spark):
    run_ids = [s.summary.run_id for s in pipeline.stages]
    return expected_versions(spark, run_ids)


def source_customer_ids(engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(schema.customers.c.customer_id)).scalars())


def test_dim_customer_has_exactly_one_current_row_per_customer(pipeline):
    dim = pipeline.stages[-1].table("dim_customer")
    current = Counter(row["customer_id"] for row in dim.rows if row["is_current"])

    customers = source_customer_ids(pipeline.engine)
    assert {c for c, n in current.items() if n > 1} == set()
    assert customers - set(current) == set(), "customers without a current row"


def test_dim_customer_keeps_a_version_per_change_of_a_mover(pipeline, scd2):
    _, movers = scd2
    dim = pipeline.stages[-1].table("dim_customer")
    held = Counter(row["customer_id"] for row in dim.rows)

    assert movers, "no customer moved during the simulation: the test proves nothing"
    assert {c: held[c] for c in movers if held[c] < 2} == {}
    mover = min(movers)
    history = sorted(
        (r for r in dim.rows if r["customer_id"] == mover), key=lambda r: r["valid_from"]
    )
    assert [bool(r["is_current"]) for r in history] == [False] * (len(history) - 1) + [True]
    for older, newer in pairwise(history):
        assert older["valid_to"] == newer["valid_from"], (older, newer)


def test_dim_customer_holds_one_version_per_tracked_change(pipeline, scd2):
    versions, _ = scd2
    dim = pipeline.stages[-1].table("dim_customer")
    held = Counter(row["customer_id"] for row in dim.rows if row["customer_id"] in versions)

    wrong = {c: (held[c], n) for c, n in versions.items() if held[c] != n}
    assert wrong == {}, f"customer: (versions held, expected) for {len(wrong)} customers"


def test_no_fact_is_lost_or_duplicated_across_runs(pipeline):
    for stage in pipeline.stages:
        ids = [row["order_line_id"] for row in stage.table("fact_sales").rows]
        assert len(ids) == len(set(ids)), f"{stage.name}: duplicated facts"
        assert set(ids) == set(stage.expected.lines), f"{stage.name}: facts lost or invented"


# --- PII: raw email and phone never leave Bronze ------------------------------------------

_EMAIL_TOKEN = re.compile(r"[^\s@\"'<>,;]+@[^\s@\"'<>,;]+")
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-]{7,}$")


def digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def forbidden_values(emails: Iterable[str], phones: Iterable[str]) -> tuple[set, set]:
    """Every raw value with its trimmed and lower-cased variants; phones also as digits
    (with and without the +30 country code)."""
    texts, phone_digits = set(), set()
    for value in (*emails, *phones):
        texts |= {value, value.strip(), value.lower(), value.strip().lower()}
    for phone in phones:
        number = digits(phone)
        phone_digits |= {number, number.removeprefix("30")}
    return texts, phone_digits


def leaks(value: str, texts: set[str], phone_digits: set[str]) -> bool:
    if value in texts or value.strip().lower() in texts:
        return True
    if any(token.lower() in texts for token in _EMAIL_TOKEN.findall(value)):
        return True
    return bool(_PHONE_LIKE.match(value.strip())) and digits(value) in phone_digits


def data_files(root: Path) -> dict[Path, list[Path]]:
    """Parquet data files under root (Delta logs aside), by table directory."""
    grouped: dict[Path, list[Path]] = defaultdict(list)
    for path in root.rglob("*.parquet"):
        if "_delta_log" in path.parts:
            continue
        table_dir = next(p for p in path.parents if p.parent == root)
        grouped[table_dir].append(path)
    return grouped


def string_values(spark, files: list[Path]) -> set[str]:
    """Every distinct string in the files: string columns, and complex ones as JSON."""
    frame = spark.read.option("mergeSchema", "true").parquet(*(str(p) for p in files))
    columns = []
    for f in frame.schema.fields:
        if isinstance(f.dataType, StringType):
            columns.append(F.col(f"`{f.name}`"))
        elif isinstance(f.dataType, StructType | ArrayType | MapType):
            columns.append(F.to_json(F.col(f"`{f.name}`")))
    if not columns:
        return set()
    values = frame.select(F.explode(F.array(*columns)).alias("value")).where("value is not null")
    return {row["value"] for row in values.distinct().collect()}


def test_no_raw_email_or_phone_in_any_silver_or_gold_file(pipeline, spark):
    engine_emails, engine_phones = ex.raw_pii(pipeline.engine)
    history = spark.table("bronze.customers").select("email", "phone").collect()
    emails = engine_emails | {r["email"] for r in history if r["email"]}
    phones = engine_phones | {r["phone"] for r in history if r["phone"]}
    texts, phone_digits = forbidden_values(emails, phones)
    assert len(emails) > 100 and len(phones) > 100

    scanned, leaked = 0, defaultdict(list)
    for layer in ("silver", "gold"):
        root = pipeline.home / "lake" / layer
        for table_dir, files in sorted(data_files(root).items()):
            scanned += len(files)
            for value in sorted(string_values(spark, files)):
                if leaks(value, texts, phone_digits):
                    leaked[f"{layer}/{table_dir.name}"].append(value)

    assert scanned > 0
    assert dict(leaked) == {}, {table: values[:5] for table, values in leaked.items()}


def test_the_pii_scan_would_catch_a_leak():
    texts, phone_digits = forbidden_values(["  Maria.P@Gmail.com "], ["+30 690 123 4567"])

    assert leaks("maria.p@gmail.com", texts, phone_digits)
    assert leaks("contact: Maria.P@Gmail.com", texts, phone_digits)
    assert leaks("6901234567", texts, phone_digits)
    assert leaks("+306901234567", texts, phone_digits)
    assert not leaks("a" * 64, texts, phone_digits)
    assert not leaks("2026-06-30", texts, phone_digits)
