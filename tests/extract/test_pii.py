"""Secrets and hostile input on one real pipeline: PostgreSQL as the source and
as the metadata store, both URLs with a password; rows whose every free-text
column is hostile (SQL, quotes, unicode, a Spark variable reference, Jinja);
a pepper. Then a deliberately failing hash query, and a pepper rotation.

What must stay secret: the passwords and the pepper (no log, dbt artifact,
metadata row or lake file holds them), and the PII behind the hashes (no
dictionary without the pepper matches them). What must stay intact: every
hostile value, as the cleaning rules of contract 2 leave it. One pipeline for
the module (the `secured` fixture).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from pyspark.sql import functions as F

from extract.cli import main
from extract.pii import PEPPER_REFERENCE, check_new_pepper, protect_session
from extract.pipeline import dbt, extract, run
from extract.settings import Settings, SettingsError
from extract.source import schema
from extract.source.generate import init_source
from extract.spark import LAYERS
from extract.transform import TransformError
from tests.conftest import cli_env, make_settings, postgres_url
from tests.extract.lake_scan import scan

AS_OF = datetime(2026, 6, 30, 18, 0, 0)
SCALE = 0.02
SEED = 1717
PEPPER = "7d1f3b5a9c2e4f6a8b0d2c4e6f8a1b3d5c7e9f0a2b4d6c8e1f3a5b7d9c0e2f4a"
NEW_PEPPER = "e4b2d0f8a6c4e2b0d8f6a4c2e0b8d6f4a2c0e8b6d4f2a0c8e6b4d2f0a8c6e4b2"
# Schemas of their own in the test database: other tests' tables stay apart.
SOURCE_SCHEMA = "rn_pii_source"
META_SCHEMA = "rn_pii_metadata"
HOSTILE_ID = 900_001
HOSTILE_ORDER = 90_000_001
# The free-text columns, each hostile. Enumerations (loyalty_tier, channel,
# status) are not free text: Silver's accepted_values tests reject anything
# else, by design. Email and phone are hashed; their cleaning is checked below.
HOSTILE = {
    "customers": {
        "first_name": "  Robert'); Drop Table Customers;--  ",
        "last_name": 'O\'reilly "bobby" Ζωή',
        "email": "  Robert'); DROP TABLE x;--@Ελλάδα.GR ",
        "phone": "+30 (210) 'OR 1=1--",
        "address": "Λεωφόρος 1'; DELETE FROM bronze.customers; -- ☕ "
        "${spark.retailnova.pii_pepper}",
        "city": "Chalkída' OR '1'='1 {{ var('run_id') }}",
        "postal_code": "1'; --\\",
        "country": '  GR"; SELECT 1 /* ΕΛΛΑΔΑ */ ',
    },
    "products": {
        "product_code": " x';drop-- ",
        "product_name": ' Tea "Earl Grey" 100g\'; -- ',
        "category": "Ποτά/Drinks ☕ ${hiveconf:x}",
        "brand": "Brand\\Back\\slash %s {0} \t tab",
    },
    "stores": {
        "store_code": "ST'9",
        "store_name": ' Ηράκλειο "Κέντρο"; DROP ',
        "city": "Ηράκλειο' --",
        "region": "Κρήτη /* */ `x`",
    },
    "sales_orders": {"payment_method": "Card'); -- 💳"},
}


def initcap(value: str) -> str:
    # Spark's initcap: words split on spaces only, first letter up, the rest down.
    return " ".join(w[:1].upper() + w[1:].lower() for w in value.split(" "))


def trim(value: str) -> str:
    return value.strip(" ")  # Spark's trim: spaces only


def cleaned_email(value: str) -> str | None:
    return value.strip(" ").lower() or None


def cleaned_phone(value: str) -> str | None:
    return "".join(c for c in value if not (c.isspace() or c in "().-")) or None


def keyed(pepper: str, value: str | None) -> str | None:
    # macros/hash_pii.sql: sha2(concat(pepper, ':', value), 256)
    return hashlib.sha256(f"{pepper}:{value}".encode()).hexdigest() if value else None


def delta(spark, settings: Settings, relation: str):
    layer, table = relation.split(".")
    return spark.read.format("delta").load(str(settings.lake / layer / table))


@dataclass
class Secured:
    settings: Settings
    env: dict
    source: sa.Engine
    metadata_url: sa.URL
    passwords: set[str]
    output: list[str] = field(default_factory=list)
    show_ok: bool | None = None
    show_error: str = ""
    rotate_output: str = ""
    rotate_code: int | None = None
    snapshot_versions_before: int = 0
    snapshot_versions_after: int = 0
    history_customers: list[int] = field(default_factory=list)
    hashes_before_rotation: dict = field(default_factory=dict)


def _hostile_rows(engine: sa.Engine) -> None:
    stamp = AS_OF - timedelta(days=2)
    with engine.begin() as conn:
        conn.execute(
            schema.customers.insert().values(
                customer_id=HOSTILE_ID,
                date_of_birth=datetime(1980, 2, 29).date(),
                loyalty_tier="Gold",
                is_active=True,
                created_at=stamp,
                last_modified=stamp,
                **HOSTILE["customers"],
            )
        )
        conn.execute(
            schema.products.insert().values(
                product_id=HOSTILE_ID,
                unit_price=Decimal("5.00"),
                unit_cost=Decimal("2.00"),
                is_active=True,
                created_at=stamp,
                last_modified=stamp,
                **HOSTILE["products"],
            )
        )
        conn.execute(
            schema.stores.insert().values(
                store_id=HOSTILE_ID,
                channel="Physical",
                opened_date=datetime(2020, 1, 1).date(),
                is_active=True,
                last_modified=stamp,
                **HOSTILE["stores"],
            )
        )
        conn.execute(
            schema.sales_orders.insert().values(
                order_id=HOSTILE_ORDER,
                customer_id=HOSTILE_ID,
                store_id=HOSTILE_ID,
                order_date=stamp,
                status="Delivered",
                shipping_cost=Decimal("0.00"),
                discount_pct=Decimal("0.00"),
                created_at=stamp,
                last_modified=stamp,
                **HOSTILE["sales_orders"],
            )
        )
        conn.execute(
            schema.sales_order_lines.insert().values(
                order_line_id=HOSTILE_ORDER,
                order_id=HOSTILE_ORDER,
                product_id=HOSTILE_ID,
                quantity=2,
                unit_price=Decimal("5.00"),
                created_at=stamp,
                last_modified=stamp,
            )
        )


def _change_contacts(engine: sa.Engine, count: int) -> list[int]:
    """New emails for a few customers, one minute after the source's newest
    change: a second snapshot version for each."""
    c = schema.customers
    with engine.begin() as conn:
        stamp = conn.execute(sa.select(sa.func.max(c.c.last_modified))).scalar_one()
        ids = (
            conn.execute(
                sa.select(c.c.customer_id)
                .where(c.c.email.is_not(None), c.c.customer_id != HOSTILE_ID)
                .order_by(c.c.customer_id)
                .limit(count)
            )
            .scalars()
            .all()
        )
        for customer_id in ids:
            conn.execute(
                c.update()
                .where(c.c.customer_id == customer_id)
                .values(
                    email=f"moved.{customer_id}@example.org",
                    last_modified=stamp + timedelta(minutes=1),
                )
            )
    return ids


def _pg_urls() -> tuple[sa.URL, sa.URL]:
    url = postgres_url()
    assert url.password, "the test PostgreSQL URL must carry a password"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in (SOURCE_SCHEMA, META_SCHEMA):
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    engine.dispose()
    # The search path travels in the URL: to SQLAlchemy and to the JDBC driver.
    return tuple(
        url.update_query_dict({"options": f"-csearch_path={name}"})
        for name in (SOURCE_SCHEMA, META_SCHEMA)
    )


def _cli_env(home: Path, source: sa.URL, metadata: sa.URL) -> dict:
    return cli_env(
        home,
        RETAILNOVA_SOURCE_URL=source.render_as_string(hide_password=False),
        RETAILNOVA_METADATA_URL=metadata.render_as_string(hide_password=False),
        RETAILNOVA_PII_PEPPER=PEPPER,
    )


def _hash_columns(spark, settings: Settings) -> dict[str, set[str]]:
    """Every email_hash and phone_hash value of Silver and Gold, by relation."""
    found = {}
    for relation in (
        "silver.stg_retailnova__customers",
        "silver.int_customers_cleaned",
        "silver.snap_customers",
        "gold.dim_customer",
    ):
        rows = delta(spark, settings, relation).select("email_hash", "phone_hash").collect()
        found[relation] = {v for row in rows for v in row if v}
    return found


@pytest.fixture(scope="module")
def secured(request, tmp_path_factory) -> Secured:
    spark = request.getfixturevalue("spark")
    for layer in LAYERS:  # what the `catalog` fixture does, for the module
        spark.sql(f"DROP DATABASE IF EXISTS {layer} CASCADE")
    source_url, metadata_url = _pg_urls()
    home = tmp_path_factory.mktemp("pii") / "home"
    env = _cli_env(home, source_url, metadata_url)
    settings = make_settings(home, **{k: v for k, v in env.items() if v is not None})
    engine = sa.create_engine(source_url)
    init_source(engine, scale=SCALE, seed=SEED, as_of=AS_OF)
    _hostile_rows(engine)
    state = Secured(settings, env, engine, metadata_url, {source_url.password})
    # A first snapshot, then new emails for a few customers: snapshot history.
    extract(settings, progress=state.output.append)
    assert dbt(settings, ["run", "--select", "stg_retailnova__customers int_customers_cleaned"])
    assert dbt(settings, ["snapshot"])
    state.history_customers = _change_contacts(engine, 5)
    summary = run(settings, progress=state.output.append)
    print("\n".join(state.output))
    assert summary.ok, summary.failed
    state.hashes_before_rotation = _hash_columns(spark, settings)
    # A hash query that fails in Spark's analyzer, whose error quotes the plan.
    try:
        state.show_ok = dbt(
            settings, ["show", "--inline", "select {{ hash_pii('no_such_column') }} as h"]
        )
    except TransformError as exc:  # the error, as `retailnova dbt` prints it
        state.show_ok, state.show_error = False, str(exc)
    state.snapshot_versions_before = delta(spark, settings, "silver.snap_customers").count()
    rotation = CliRunner().invoke(
        main, ["pii", "rotate"], env={**env, "RETAILNOVA_PII_PEPPER_NEW": NEW_PEPPER}
    )
    print(rotation.output)
    state.rotate_output, state.rotate_code = rotation.output, rotation.exit_code
    # The next run's snapshot, with the new pepper: nothing changed, no new version.
    environ = {k: v for k, v in env.items() if v is not None}
    rotated = make_settings(home, **{**environ, "RETAILNOVA_PII_PEPPER": NEW_PEPPER})
    assert dbt(rotated, ["snapshot"])
    state.snapshot_versions_after = delta(spark, settings, "silver.snap_customers").count()
    yield state
    engine.dispose()


def _source_contacts(engine: sa.Engine) -> tuple[set[str], set[str]]:
    c = schema.customers
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.c.email, c.c.phone)).all()
    return {r.email for r in rows if r.email}, {r.phone for r in rows if r.phone}


def _metadata_rows(url: sa.URL) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            rows = {
                t: [list(r) for r in conn.execute(sa.text(f'SELECT * FROM "{t}"'))] for t in tables
            }
    finally:
        engine.dispose()
    assert {"pipeline_runs", "pipeline_executions", "pipeline_errors"} <= set(rows)
    return json.dumps(rows, default=str)


# --- Hostile values ------------------------------------------------------------------


@pytest.mark.postgres
def test_hostile_text_reaches_silver_and_gold_as_the_cleaning_rules_leave_it(secured, spark):
    settings = secured.settings
    customer = HOSTILE["customers"]
    expected_customer = {
        "first_name": initcap(trim(customer["first_name"])),
        "last_name": initcap(trim(customer["last_name"])),
        "address": customer["address"],
        "city": customer["city"],
        "postal_code": customer["postal_code"],
        "country": trim(customer["country"]).upper(),
        # Hashed with the new pepper: the fixture has rotated it by now.
        "email_hash": keyed(NEW_PEPPER, cleaned_email(customer["email"])),
        "phone_hash": keyed(NEW_PEPPER, cleaned_phone(customer["phone"])),
    }
    product = HOSTILE["products"]
    expected_product = {
        "product_code": trim(product["product_code"]).upper(),
        "product_name": trim(product["product_name"]),
        "category": trim(product["category"]),
        "brand": trim(product["brand"]),
    }
    expected_store = {k: trim(v) for k, v in HOSTILE["stores"].items()}
    checks = [
        ("silver.int_customers_cleaned", "customer_id", expected_customer),
        ("gold.dim_customer", "customer_id", expected_customer),
        ("silver.int_products_cleaned", "product_id", expected_product),
        ("gold.dim_product", "product_id", expected_product),
        ("silver.int_stores_cleaned", "store_id", expected_store),
        ("gold.dim_store", "store_id", expected_store),
    ]
    for relation, key, expected in checks:
        (row,) = delta(spark, settings, relation).where(F.col(key) == HOSTILE_ID).collect()
        assert {c: row[c] for c in expected} == expected, relation
    (order,) = (
        delta(spark, settings, "silver.int_orders_enriched")
        .where(F.col("order_id") == HOSTILE_ORDER)
        .collect()
    )
    assert order.payment_method == trim(HOSTILE["sales_orders"]["payment_method"])
    (fact,) = (
        delta(spark, settings, "gold.fact_sales")
        .where(F.col("order_line_id") == HOSTILE_ORDER)
        .collect()
    )
    assert fact.net_amount == 10


# --- Secrets -----------------------------------------------------------------------


@pytest.mark.postgres
def test_no_log_artifact_metadata_row_or_lake_file_holds_a_password(secured):
    settings = secured.settings
    # A failing connection too: its error is stored in pipeline_errors.
    wrong = secured.env | {
        "RETAILNOVA_SOURCE_URL": postgres_url()
        .set(password="Wr0ngPassw0rd-1")
        .render_as_string(hide_password=False)
    }
    failed = CliRunner().invoke(main, ["extract", "--table", "stores"], env=wrong)
    assert failed.exit_code == 1
    passwords = secured.passwords | {"Wr0ngPassw0rd-1"}
    assert scan(settings.home, passwords) == {}  # logs, dbt's target/, the lake, Derby
    metadata = _metadata_rows(secured.metadata_url)
    assert "password authentication failed" in metadata
    assert not [p for p in passwords if p in metadata]
    output = "\n".join(secured.output) + failed.output + secured.rotate_output
    assert not [p for p in passwords if p in output]


@pytest.mark.postgres
def test_the_pepper_never_reaches_a_log_or_artifact_even_in_an_error(secured):
    settings = secured.settings
    assert secured.show_ok is False  # the hash query did fail
    # The analyzer's error quotes the plan, with the pepper's reference in its place.
    assert "no_such_column" in secured.show_error
    assert PEPPER_REFERENCE in secured.show_error
    assert PEPPER not in secured.show_error
    dbt_log = (settings.logs / "dbt.log").read_text()
    assert "no_such_column" in dbt_log
    assert PEPPER_REFERENCE in dbt_log
    assert scan(settings.home, {PEPPER, NEW_PEPPER}) == {}
    metadata = _metadata_rows(secured.metadata_url)
    assert PEPPER not in metadata and NEW_PEPPER not in metadata


# --- The pepper ----------------------------------------------------------------------


@pytest.mark.postgres
def test_a_dictionary_without_the_pepper_matches_no_hash(secured):
    emails, phones = _source_contacts(secured.source)
    values = (
        emails | phones | {cleaned_email(e) for e in emails} | {cleaned_phone(p) for p in phones}
    ) - {None}
    assert len(values) > 300
    dictionary = set()
    for value in values:
        data = value.encode()
        dictionary |= {
            hashlib.sha256(data).hexdigest(),
            hashlib.sha256(b":" + data).hexdigest(),  # an empty pepper
            hmac.new(b"", data, hashlib.sha256).hexdigest(),
            hmac.new(b"wrong-pepper", data, hashlib.sha256).hexdigest(),
            keyed("wrong-pepper", value),
            keyed("${spark.retailnova.pii_pepper}", value),  # an unset conf, as Spark leaves it
        }
    stored = set().union(*secured.hashes_before_rotation.values())
    assert len(stored) > 300
    assert dictionary & stored == set()
    # With the pepper, the same dictionary finds them: the test can tell.
    with_pepper = {keyed(PEPPER, v) for v in values}
    assert len(with_pepper & stored) > 0.9 * len(stored)


@pytest.mark.postgres
def test_rotation_rehashes_history_with_the_new_pepper_and_keeps_no_old_hash(secured, spark):
    assert secured.rotate_code == 0, secured.rotate_output
    settings = secured.settings
    stg = delta(spark, settings, "silver.stg_retailnova__customers")
    bronze = delta(spark, settings, "bronze.customers")
    # Every version's raw values, from Bronze, by (customer_id, last_modified).
    raw = {
        (r.customer_id, r.last_modified): (r.email, r.phone)
        for r in bronze.select("customer_id", "last_modified", "email", "phone").collect()
    }

    def expected(pepper, key):
        email, phone = raw[key]
        return (
            keyed(pepper, cleaned_email(email or "")),
            keyed(pepper, cleaned_phone(phone or "")),
        )

    for relation in ("silver.snap_customers", "silver.int_customers_cleaned"):
        rows = delta(spark, settings, relation).collect()
        for row in rows:
            key = (row.customer_id, row.last_modified)
            assert (row.email_hash, row.phone_hash) == expected(NEW_PEPPER, key), relation
    assert stg.count() == len(raw)
    old = {h for key in raw for h in expected(PEPPER, key) if h}
    after = set().union(*_hash_columns(spark, settings).values())
    assert len(after) > 300
    assert after & old == set()
    # Nor in any file under the lake: old versions and logs were purged.
    assert scan(settings.lake, old) == {}
    # Snapshot history kept: the customers that changed still have two versions.
    snapshot = delta(spark, settings, "silver.snap_customers")
    for customer_id in secured.history_customers:
        assert snapshot.where(F.col("customer_id") == customer_id).count() == 2


@pytest.mark.postgres
def test_after_rotation_the_snapshot_opens_no_new_version(secured):
    assert secured.snapshot_versions_after == secured.snapshot_versions_before


# --- Without a pipeline ----------------------------------------------------------------


def test_spark_errors_name_the_pepper_instead_of_quoting_it(spark):
    spark.conf.set("spark.retailnova.pii_pepper", PEPPER)
    protect_session(spark, PEPPER)
    queries = [
        # The analyzer prints its plan, literals included.
        "select sha2(concat('${spark.retailnova.pii_pepper}', ':', no_such_column), 256)",
        # The parser prints the statement, after substitution.
        "selec sha2(concat('${spark.retailnova.pii_pepper}', ':', 'x'), 256)",
    ]
    for query in queries:
        with pytest.raises(Exception) as caught:
            spark.sql(query)
        assert PEPPER not in str(caught.value)
        assert PEPPER_REFERENCE in str(caught.value)
    # Working queries are untouched: the hash is the pepper's.
    query = "select sha2(concat('${spark.retailnova.pii_pepper}', ':', 'a'), 256) as h"
    (row,) = spark.sql(query).collect()
    assert row.h == keyed(PEPPER, "a")


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (None, "RETAILNOVA_PII_PEPPER_NEW is not set"),
        ("short", "at least 32 characters"),
        (PEPPER, "equals the current pepper"),
    ],
)
def test_a_rotation_needs_a_new_long_pepper(tmp_path, new, message):
    environ = {"RETAILNOVA_PII_PEPPER": PEPPER}
    if new:
        environ["RETAILNOVA_PII_PEPPER_NEW"] = new
    settings = make_settings(tmp_path / "home", **environ)
    with pytest.raises(SettingsError, match=message):
        check_new_pepper(settings, settings.resolve_pepper())
