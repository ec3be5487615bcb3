"""`retailnova erase` on a real pipeline: a sample source, Bronze with two
versions of the customer, a snapshot with two versions, Gold with facts; the
erasure; then a source that still holds the customer, a simulated day and
another run.

One pipeline for the module (the `erasure` fixture): every test reads what it
left at each stage.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from pyspark.sql import functions as F

from extract import unchanged
from extract.cli import main
from extract.erase import ERASED_NAME
from extract.metadata import MetadataStore
from extract.pipeline import dbt, extract, run
from extract.settings import Settings
from extract.source import schema
from extract.source.generate import init_source, simulate
from extract.spark import LAYERS
from extract.transform import state_dir
from tests.conftest import cli_env, make_settings
from tests.extract.lake_scan import needles, parquet_files, scan

AS_OF = datetime(2026, 6, 30, 18, 0, 0)
SCALE = 0.02
SEED = 8080
PEPPER = "3c5e7a9b1d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c"


def cleaned_email(value: str | None) -> str | None:
    # stg_retailnova__customers: nullif(lower(trim(email)), '')
    return (value or "").strip().lower() or None


def cleaned_phone(value: str | None) -> str | None:
    # stg_retailnova__customers: nullif(regexp_replace(phone, '[\s().-]', ''), '')
    return "".join(c for c in (value or "") if not (c.isspace() or c in "().-")) or None


def pii_hash(value: str | None) -> str | None:
    # macros/hash_pii.sql: sha2(concat(pepper, ':', value), 256)
    return hashlib.sha256(f"{PEPPER}:{value}".encode()).hexdigest() if value else None


def delta(spark, settings: Settings, relation: str):
    layer, table = relation.split(".")
    return spark.read.format("delta").load(str(settings.lake / layer / table))


@dataclass
class Erasure:
    settings: Settings
    customer_id: int
    # Every form the customer's email and phone took: raw in the source and
    # Bronze, cleaned, hashed (two versions: the original and a change).
    secrets: set[str]
    other_email: str  # a customer left alone: the scan's positive control
    facts_before: set[tuple[int, str]]  # (order_line_id, customer_key)
    others_before: list  # int_customers_cleaned rows of everyone else
    others_after_erase: list = field(default_factory=list)
    cli_output: str = ""
    hits_after_erase: dict = field(default_factory=dict)
    parquet_after_erase: int = 0
    hits_after_rerun: dict = field(default_factory=dict)
    home_hits_after_rerun: dict = field(default_factory=dict)
    record_after_erase: bool = True
    rerun_ok: bool = False
    bronze_versions_before_rerun: int = 0


def _pick_customer(engine: sa.Engine) -> int:
    """A customer with an email and a phone nobody else has and the most
    delivered orders: one whose facts are certain to be in Gold."""
    c, o = schema.customers, schema.sales_orders
    with engine.connect() as conn:
        emails = sa.select(c.c.email).group_by(c.c.email).having(sa.func.count() == 1)
        phones = sa.select(c.c.phone).group_by(c.c.phone).having(sa.func.count() == 1)
        return conn.execute(
            sa.select(c.c.customer_id)
            .join(o, o.c.customer_id == c.c.customer_id)
            .where(
                o.c.status == "Delivered",
                c.c.email.in_(emails),
                c.c.phone.in_(phones),
                c.c.email.like("%@%.%"),
            )
            .group_by(c.c.customer_id)
            .order_by(sa.func.count().desc(), c.c.customer_id)
            .limit(1)
        ).scalar_one()


def _clock(engine: sa.Engine) -> datetime:
    """The source's clock: its newest last_modified (what simulate starts from)."""
    stamps = []
    with engine.connect() as conn:
        for table in schema.TABLES:
            value = conn.execute(sa.select(sa.func.max(table.c.last_modified))).scalar_one()
            stamps.append(datetime.fromisoformat(str(value)))
    return max(stamps)


def _touch(engine: sa.Engine, customer_id: int, **values) -> None:
    stamp = _clock(engine) + timedelta(minutes=1)
    with engine.begin() as conn:
        conn.execute(
            schema.customers.update()
            .where(schema.customers.c.customer_id == customer_id)
            .values(**values, last_modified=stamp)
        )


def _source_contact(engine: sa.Engine, customer_id: int) -> tuple[str, str]:
    c = schema.customers
    with engine.connect() as conn:
        return conn.execute(
            sa.select(c.c.email, c.c.phone).where(c.c.customer_id == customer_id)
        ).one()


@pytest.fixture(scope="module")
def erasure(request, tmp_path_factory) -> Erasure:
    spark = request.getfixturevalue("spark")
    for layer in LAYERS:  # what the `catalog` fixture does, for the module
        spark.sql(f"DROP DATABASE IF EXISTS {layer} CASCADE")
    home = tmp_path_factory.mktemp("erase") / "home"
    settings = make_settings(home, RETAILNOVA_PII_PEPPER=PEPPER)
    settings.ensure_dirs()
    engine = sa.create_engine(settings.source_url)
    try:
        init_source(engine, scale=SCALE, seed=SEED, as_of=AS_OF)
        customer_id = _pick_customer(engine)
        first_email, first_phone = _source_contact(engine, customer_id)
        # A first snapshot, then a second version of the customer (a new email
        # and phone), so Bronze and the snapshot both hold history to erase.
        extract(settings)
        assert dbt(settings, ["run", "--select", "stg_retailnova__customers int_customers_cleaned"])
        assert dbt(settings, ["snapshot"])
        new_email = f"Erase.Me.{customer_id}@Example.org "
        new_phone = f"+30 (210) 555-{customer_id:04d}"
        _touch(engine, customer_id, email=new_email, phone=new_phone, address="Odos Lithis 1")
        summary = run(settings)
        assert summary.ok, summary.failed

        stg = delta(spark, settings, "silver.stg_retailnova__customers")
        hashes = stg.where(F.col("customer_id") == customer_id).select("email_hash", "phone_hash")
        stored = {v for row in hashes.collect() for v in row if v}
        expected = {
            pii_hash(cleaned_email(first_email)),
            pii_hash(cleaned_email(new_email)),
            pii_hash(cleaned_phone(first_phone)),
            pii_hash(cleaned_phone(new_phone)),
        }
        assert stored == expected  # the pipeline hashed what this test thinks it did
        secrets = needles(
            first_email,
            new_email,
            first_phone,
            new_phone,
            cleaned_email(first_email),
            cleaned_email(new_email),
            cleaned_phone(first_phone),
            cleaned_phone(new_phone),
            *expected,
        )
        c = schema.customers
        with engine.connect() as conn:
            other_email = conn.execute(
                sa.select(c.c.email)
                .where(c.c.customer_id != customer_id, c.c.email.like("%@%"))
                .order_by(c.c.customer_id)
                .limit(1)
            ).scalar_one()
        facts = delta(spark, settings, "gold.fact_sales").where(F.col("customer_id") == customer_id)
        facts_before = {(r.order_line_id, r.customer_key) for r in facts.collect()}
        others_before = sorted(
            delta(spark, settings, "silver.int_customers_cleaned")
            .where(F.col("customer_id") != customer_id)
            .collect()
        )
        # Deletion vectors on Bronze: its UPDATE keeps the old file referenced
        # until REORG ... APPLY (PURGE) rewrites it.
        bronze_customers = (settings.lake / "bronze" / "customers").as_uri()
        spark.sql(
            f"ALTER TABLE delta.`{bronze_customers}` "
            "SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')"
        )

        assert (state_dir(settings) / unchanged.RECORD).is_file()  # the run recorded its build
        state = Erasure(settings, customer_id, secrets, other_email, facts_before, others_before)
        env = cli_env(home, RETAILNOVA_PII_PEPPER=PEPPER)
        result = CliRunner().invoke(main, ["erase", "--customer-id", str(customer_id)], env=env)
        print(result.output)
        assert result.exit_code == 0, result.output
        state.cli_output = result.output
        state.record_after_erase = (state_dir(settings) / unchanged.RECORD).is_file()
        state.hits_after_erase = scan(settings.lake, secrets | {other_email})
        state.parquet_after_erase = len(parquet_files(settings.lake))
        state.others_after_erase = sorted(
            delta(spark, settings, "silver.int_customers_cleaned")
            .where(F.col("customer_id") != customer_id)
            .collect()
        )

        # A day passes; the source still holds the customer, and changes it.
        simulate(engine, days=1)
        _touch(engine, customer_id, loyalty_tier="Platinum")
        state.bronze_versions_before_rerun = (
            delta(spark, settings, "bronze.customers")
            .where(F.col("customer_id") == customer_id)
            .count()
        )
        state.rerun_ok = run(settings).ok
        state.hits_after_rerun = scan(settings.lake, secrets)
        # Logs, dbt's artifacts, the metadata store: nothing but the source holds it.
        state.home_hits_after_rerun = scan(home, secrets, skip=("source.db", "lake/"))
        return state
    finally:
        engine.dispose()


def test_the_cli_reports_each_table_and_the_purge(erasure):
    output = erasure.cli_output
    for table in (
        "bronze.customers",
        "silver.stg_retailnova__customers",
        "silver.int_customers_cleaned",
        "silver.snap_customers",
        "gold.dim_customer",
    ):
        assert f"[{table}]" in output
    assert "old files" in output
    assert f"customer {erasure.customer_id} erased" in output


def test_no_file_under_the_lake_holds_the_customers_email_or_phone(erasure):
    # Every Parquet file (data, old versions, checkpoints) and every log file.
    assert erasure.parquet_after_erase > 50
    hits = {f: v for f, v in erasure.hits_after_erase.items() if v != [erasure.other_email]}
    assert hits == {}
    # The scan does find what is there: another customer's email.
    assert any(erasure.other_email in v for v in erasure.hits_after_erase.values())


def test_every_layer_shows_the_customer_erased(erasure, spark):
    settings, customer = erasure.settings, F.col("customer_id") == erasure.customer_id
    bronze = delta(spark, settings, "bronze.customers").where(customer).collect()
    assert len(bronze) >= 3  # two versions before the erasure, one after
    for row in bronze:
        assert (row.first_name, row.last_name) == (ERASED_NAME, ERASED_NAME)
        assert row.email is row.phone is row.date_of_birth is row.address is None
        assert row.city is row.postal_code is None
    for relation in ("silver.int_customers_cleaned", "silver.snap_customers", "gold.dim_customer"):
        rows = delta(spark, settings, relation).where(customer).collect()
        assert rows, relation
        for row in rows:
            assert (row.first_name, row.last_name) == (ERASED_NAME, ERASED_NAME), relation
            assert row.email_hash is row.phone_hash is row.date_of_birth is None, relation
            assert row.address is row.city is row.postal_code is None, relation


def test_facts_are_kept_and_point_to_an_erased_member(erasure, spark):
    settings = erasure.settings
    assert len(erasure.facts_before) > 0
    facts = delta(spark, settings, "gold.fact_sales").where(
        F.col("customer_id") == erasure.customer_id
    )
    assert {(r.order_line_id, r.customer_key) for r in facts.collect()} >= erasure.facts_before
    members = delta(spark, settings, "gold.dim_customer").join(
        facts.select("customer_key").distinct(), "customer_key"
    )
    assert {r.first_name for r in members.collect()} == {ERASED_NAME}


def test_the_erasure_has_the_next_run_rebuild_every_node(erasure):
    # It rewrote tables outside a run: what a run would leave alone is forgotten.
    assert not erasure.record_after_erase


def test_the_erasure_is_audited(erasure):
    store = MetadataStore(erasure.settings.metadata_url)
    try:
        (audit,) = store.erasures(erasure.customer_id)
    finally:
        store.dispose()
    assert audit["status"] == "SUCCESS"
    assert audit["requested_by"] == getpass.getuser()
    assert audit["started_at"] <= audit["finished_at"]
    tables = json.loads(audit["tables"])
    assert tables["bronze.customers"] == 2
    assert tables["silver.snap_customers"] == 2
    assert tables["gold.dim_customer"] == 2
    assert tables["silver.int_customers_cleaned"] == 1
    assert audit["rows_affected"] == sum(tables.values())
    assert audit["files_purged"] > 0


def test_a_later_run_keeps_the_customer_erased_though_the_source_still_has_it(erasure, spark):
    assert erasure.rerun_ok
    settings, customer = erasure.settings, F.col("customer_id") == erasure.customer_id
    # The source's change landed, masked on its way in.
    bronze = delta(spark, settings, "bronze.customers").where(customer)
    assert bronze.count() > erasure.bronze_versions_before_rerun
    assert erasure.hits_after_rerun == {}
    assert erasure.home_hits_after_rerun == {}
    current = (
        delta(spark, settings, "gold.dim_customer").where(customer & F.col("is_current")).collect()
    )
    assert [(r.first_name, r.loyalty_tier, r.email_hash) for r in current] == [
        (ERASED_NAME, "Platinum", None)
    ]


def test_other_customers_are_untouched(erasure):
    assert len(erasure.others_before) > 100
    assert erasure.others_after_erase == erasure.others_before


def test_bronze_is_readable_by_the_pipeline_user_only(erasure):
    lake = erasure.settings.lake
    assert (lake / "bronze").stat().st_mode & 0o777 == 0o700
    for layer in ("silver", "gold"):
        assert (lake / layer).stat().st_mode & 0o005 == 0o005, layer  # others: read, traverse
    assert Path(lake).stat().st_mode & 0o005 == 0o005
