"""Shared fixtures: one real Spark session for the whole test run, and a fresh
RetailNova home (source, metadata store, lake) per test."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import URL, create_engine, make_url

from extract.settings import Settings, load_settings
from extract.source import schema

# The caller's settings a test home keeps: only the machine-wide jar cache.
CARRIED = ("RETAILNOVA_JAR_CACHE",)


def make_settings(home: Path, **overrides: str) -> Settings:
    return load_settings({k: v for k, v in cli_env(home, **overrides).items() if v is not None})


def cli_env(home: Path, **settings: str) -> dict[str, str | None]:
    """One home's settings for `CliRunner.invoke(env=...)`: the caller's other
    RETAILNOVA_* unset (None), the jar cache kept."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("RETAILNOVA_")}
    env.update({name: os.environ[name] for name in CARRIED if name in os.environ})
    env["RETAILNOVA_HOME"] = str(home)
    env.update(settings)  # may name the home again, as make_settings(home, **env) does
    return env


def process_env(home: Path, **settings: str) -> dict[str, str]:
    """The same settings as the whole environment of a `retailnova` subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILNOVA_")}
    env.update({k: v for k, v in cli_env(home, **settings).items() if v is not None})
    return env


def assert_every_unit_test_passed(target: Path) -> None:
    """After `retailnova dbt test --select test_type:unit`: every unit test of
    the project ran and passed (dbt also reports the on-run-start hook)."""
    manifest = json.loads((target / "manifest.json").read_text())
    results = json.loads((target / "run_results.json").read_text())["results"]
    results = [r for r in results if r["unique_id"].startswith("unit_test.")]
    assert manifest["unit_tests"]
    assert sorted(r["unique_id"] for r in results) == sorted(manifest["unit_tests"])
    assert {r["status"] for r in results} == {"pass"}


def update_versions(
    conn: sa.Connection, table: sa.Table, changes: dict[int, dict], stamp: datetime
) -> None:
    """New versions of source rows, by key: their changed columns and a
    last_modified of `stamp`, as the OLTP system writes them."""
    key = table.c[schema.primary_key(table)]
    for value, columns in changes.items():
        conn.execute(table.update().where(key == value).values(**columns, last_modified=stamp))


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from extract.spark import get_spark

    session = get_spark(make_settings(tmp_path_factory.mktemp("spark-home")))
    yield session
    session.stop()


@pytest.fixture
def catalog(spark):
    """The shared session's catalog, emptied: each test's lake starts clean."""
    for layer in ("bronze", "silver", "gold"):
        spark.sql(f"DROP DATABASE IF EXISTS {layer} CASCADE")
    return spark


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "home")


def postgres_url() -> URL:
    """The test PostgreSQL (started by .ci/postgres.sh); in CI its absence is a failure."""
    value = os.environ.get("RETAILNOVA_TEST_PG_URL")
    if not value:
        if os.environ.get("CI"):
            pytest.fail("RETAILNOVA_TEST_PG_URL is not set; .ci/run starts PostgreSQL for this")
        pytest.skip("RETAILNOVA_TEST_PG_URL is not set (run .ci/postgres.sh to get one)")
    return make_url(value)


def empty_metastore_url() -> str:
    """The PostgreSQL database of .ci/postgres.sh for a Hive metastore, emptied."""
    url = postgres_url().set(database="retailnova_metastore")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    except Exception as exc:
        reason = f"no metastore database retailnova_metastore ({type(exc).__name__}); "
        reason += "restart PostgreSQL with .ci/postgres.sh, which creates it"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url.render_as_string(hide_password=False)


@pytest.fixture
def pg_url() -> URL:
    url = postgres_url()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "DROP TABLE IF EXISTS customers, products, stores, sales_orders, sales_order_lines"
        )
    engine.dispose()
    return url
