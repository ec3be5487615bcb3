"""The extractor against real engines: a SQLite or PostgreSQL source, Spark's
JDBC reader, Delta Lake on disk, the SQLite metadata store."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from sqlalchemy import Column, Engine, Index, MetaData, Table, create_engine, event, text

from extract.extractor import (
    Extractor,
    format_result,
    late_band,
    parse_ts,
    pull_predicate,
    unindexed_warning,
)
from extract.jdbc import jdbc_source
from extract.metadata import (
    MetadataStore,
    pipeline_errors,
    pipeline_executions,
    pipeline_watermarks,
    utcnow,
)
from extract.pipeline import extract
from extract.source import schema
from extract.source.generate import init_source, simulate
from tests.conftest import make_settings, postgres_url

AS_OF = datetime(2026, 6, 30, 18, 0, 0)
SCALE = 0.02


def source_versions(engine, table: str) -> set[tuple[int, str]]:
    key = schema.primary_key(schema.table_by_name(table))
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {key}, last_modified FROM {table}"))
        return {(k, f"{lm:%Y-%m-%d %H:%M:%S.%f}" if lm else None) for k, lm in _typed(rows)}


def _typed(rows):
    for key, lm in rows:
        # SQLite hands back text through a raw SELECT; PostgreSQL a datetime.
        yield key, parse_ts(lm) if isinstance(lm, str) else lm


def bronze(spark, settings, table: str):
    return spark.read.format("delta").load(str(settings.lake / "bronze" / table))


def bronze_versions(spark, settings, table: str) -> list[tuple[int, str]]:
    key = schema.primary_key(schema.table_by_name(table))
    rows = bronze(spark, settings, table).select(
        key, F.date_format("last_modified", "yyyy-MM-dd HH:mm:ss.SSSSSS").alias("lm")
    )
    return [(r[0], r[1]) for r in rows.collect()]


def assert_bronze_matches_source(spark, settings, engine, history=None) -> None:
    """Every current source version is in Bronze exactly once; with the versions
    Bronze held before (`history`), nothing else is."""
    for table in schema.TABLE_NAMES:
        landed = bronze_versions(spark, settings, table)
        assert len(landed) == len(set(landed)), f"{table}: a version landed twice"
        expected = source_versions(engine, table) | (history or {}).get(table, set())
        assert set(landed) == expected, f"{table}: bronze != source"


def source_max(engine, table: str) -> datetime:
    with engine.connect() as conn:
        value = conn.execute(text(f"SELECT max(last_modified) FROM {table}")).scalar_one()
    return parse_ts(value) if isinstance(value, str) else value


def by_table(results):
    return {r.table: r for r in results}


@pytest.fixture
def source(settings):
    settings.ensure_dirs()
    engine = create_engine(settings.source_url)
    init_source(engine, scale=SCALE, seed=7, as_of=AS_OF)
    yield engine
    engine.dispose()


def test_first_extract_lands_every_source_row_once_with_audit_columns(catalog, settings, source):
    threads = set()
    side_by_side = replace(settings, extract_threads=3)
    landed = extract(side_by_side, progress=lambda m: threads.add(threading.current_thread().name))
    results = by_table(landed)

    assert [r.table for r in landed] == list(schema.TABLE_NAMES)
    # RETAILNOVA_EXTRACT_THREADS tables at once, each in its own thread.
    assert len({name for name in threads if name.startswith("extract")}) == 3
    assert all(r.status == "SUCCESS" for r in results.values())
    assert_bronze_matches_source(catalog, settings, source)
    for table in schema.TABLE_NAMES:
        frame = bronze(catalog, settings, table)
        audit = frame.select("_extracted_at", "_run_id", "_source_table", "year", "month")
        assert audit.where(F.col("_run_id").isNull() | F.col("_extracted_at").isNull()).count() == 0
        assert {r["_source_table"] for r in audit.collect()} == {table}
        assert results[table].rows_written == frame.count()
        # Registered in the catalog, so dbt sources resolve to it.
        assert catalog.table(f"bronze.{table}").count() == frame.count()
        store = MetadataStore(settings.metadata_url)
        assert store.get_watermark(table) == source_max(source, table)
    partitions = catalog.sql(
        f"DESCRIBE DETAIL delta.`{settings.lake / 'bronze' / 'sales_orders'}`"
    ).first()["partitionColumns"]
    assert partitions == ["year", "month"]


def test_second_extract_adds_nothing(catalog, settings, source):
    extract(settings)
    before = {t: bronze(catalog, settings, t).count() for t in schema.TABLE_NAMES}

    results = by_table(extract(settings))

    assert {t: r.rows_written for t, r in results.items()} == dict.fromkeys(schema.TABLE_NAMES, 0)
    assert {t: bronze(catalog, settings, t).count() for t in schema.TABLE_NAMES} == before


def test_after_a_simulated_day_exactly_the_changed_versions_land(catalog, settings, source):
    extract(settings)
    before = {t: set(bronze_versions(catalog, settings, t)) for t in schema.TABLE_NAMES}
    changes = simulate(source, days=1)

    results = by_table(extract(settings))

    for table in schema.TABLE_NAMES:
        expected_new = source_versions(source, table) - before[table]
        assert results[table].rows_written == len(expected_new), table
        changed = changes[table]["inserted"] + changes[table]["updated"]
        assert len(expected_new) == changed, table
    assert_bronze_matches_source(catalog, settings, source, before)


def test_a_row_sharing_the_watermark_timestamp_is_not_skipped(catalog, settings, source):
    extract(settings)
    watermark = MetadataStore(settings.metadata_url).get_watermark("stores")
    with source.begin() as conn:
        conn.execute(
            schema.stores.insert().values(
                store_id=99,
                store_code="ST99",
                store_name="Larissa",
                channel="Physical",
                city="Larissa",
                region="Thessaly",
                is_active=True,
                last_modified=watermark,
            )
        )

    results = by_table(extract(settings, ["stores"]))

    assert results["stores"].rows_written == 1
    assert_bronze_matches_source(catalog, settings, source)


def test_a_late_commit_inside_the_lag_window_is_picked_up(catalog, settings, source):
    extract(settings)
    watermark = MetadataStore(settings.metadata_url).get_watermark("sales_orders")
    late = watermark - timedelta(seconds=settings.extract_lag_seconds - 60)
    with source.begin() as conn:
        conn.execute(
            schema.sales_orders.insert().values(
                order_id=10_000_000,
                customer_id=1,
                store_id=1,
                order_date=late,
                status="Pending",
                created_at=late,
                last_modified=late,
            )
        )

    results = by_table(extract(settings, ["sales_orders"]))

    assert results["sales_orders"].rows_written == 1
    assert results["sales_orders"].watermark_after == watermark  # never moves backwards
    assert_bronze_matches_source(catalog, settings, source)


def _late_order(order_id: int, stamp: datetime) -> dict:
    return {
        "order_id": order_id,
        "customer_id": 1,
        "store_id": 1,
        "order_date": stamp,
        "status": "Pending",
        "created_at": stamp,
        "last_modified": stamp,
    }


def _insert_orders(source, *orders: dict) -> None:
    with source.begin() as conn:
        conn.execute(schema.sales_orders.insert(), list(orders))


@contextlib.contextmanager
def _late_row_counts():
    """The late-row check's source queries, as sent to any engine meanwhile."""
    sent: list[str] = []

    def record(conn, cursor, statement, *args):
        if "count(" in statement and "IS NOT NULL" in statement:
            sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_a_row_committed_older_than_the_lag_window_is_counted_and_warned(catalog, settings, source):
    extract(settings)
    store = MetadataStore(settings.metadata_url)
    watermark = store.get_watermark("sales_orders")
    lag = timedelta(seconds=settings.extract_lag_seconds)
    _insert_orders(
        source,
        _late_order(10_000_001, watermark - lag - timedelta(minutes=1)),  # too late
        _late_order(10_000_002, watermark - lag + timedelta(minutes=1)),  # in the window
    )

    with _late_row_counts() as counts:
        results = by_table(extract(settings, ["sales_orders"]))

    result = results["sales_orders"]
    assert (result.status, result.rows_written, result.missed_rows) == ("SUCCESS", 1, 1)
    # order_id is the source's primary key: rows are keys, no key is read.
    assert counts and all("count(*)" in c for c in counts), counts
    assert "WARNING: 1 source row(s) older than the lag window" in format_result(result)
    with store.engine.connect() as conn:
        warnings = conn.execute(
            pipeline_errors.select().where(pipeline_errors.c.error_type == "Warning")
        ).all()
    assert [w.step for w in warnings] == ["bronze:sales_orders"]
    with store.engine.connect() as conn:
        message = (
            conn.execute(
                pipeline_executions.select()
                .where(pipeline_executions.c.step == "sales_orders")
                .order_by(pipeline_executions.c.execution_id.desc())
            )
            .first()
            .message
        )
    assert "not in bronze" in message
    # The remedy the warning names: without a watermark, a full read lands it.
    with store.engine.begin() as conn:
        conn.execute(
            pipeline_watermarks.delete().where(pipeline_watermarks.c.table_name == "sales_orders")
        )
    again = by_table(extract(settings, ["sales_orders"]))["sales_orders"]
    assert (again.rows_written, again.missed_rows) == (1, 0)
    assert_bronze_matches_source(catalog, settings, source)


def test_late_rows_are_counted_by_key_where_the_source_does_not_enforce_one(
    catalog, settings, source
):
    extract(settings)
    # The same table without its primary key, as a source may keep it.
    with source.begin() as conn:
        conn.execute(text("ALTER TABLE sales_orders RENAME TO sales_orders_old"))
        conn.execute(text("DROP INDEX ix_sales_orders_last_modified"))
        unkeyed = Table(
            "sales_orders",
            MetaData(),
            *(Column(c.name, c.type) for c in schema.sales_orders.columns),
            Index(schema.cursor_index_name("sales_orders"), schema.CURSOR_COLUMN),
        )
        unkeyed.create(conn)
        conn.execute(text("INSERT INTO sales_orders SELECT * FROM sales_orders_old"))
        conn.execute(text("DROP TABLE sales_orders_old"))
    watermark = MetadataStore(settings.metadata_url).get_watermark("sales_orders")
    too_late = watermark - timedelta(seconds=settings.extract_lag_seconds, minutes=2)
    # Two versions of one key, both too late: one key is missing, not two.
    _insert_orders(
        source,
        _late_order(10_000_001, too_late),
        _late_order(10_000_001, too_late + timedelta(minutes=1)),
    )

    with _late_row_counts() as counts:
        result = by_table(extract(settings, ["sales_orders"]))["sales_orders"]

    assert (result.status, result.rows_written, result.missed_rows) == ("SUCCESS", 0, 1)
    assert counts and all("count(DISTINCT" in c for c in counts), counts


def test_a_daily_check_for_late_rows_reads_only_what_left_the_window_since_the_last(
    catalog, settings, source
):
    """Between full checks a pull counts late rows only among the source times
    that left the lag window since the previous check: one older than that is
    left to the next full check, which counts every late row again."""
    extract(settings)
    store = MetadataStore(settings.metadata_url)
    first = store.get_watermark("sales_orders")
    lag = timedelta(seconds=settings.extract_lag_seconds)
    _insert_orders(source, _late_order(10_000_011, first + timedelta(hours=1)))
    extract(settings, ["sales_orders"])  # the first check: all of history
    checked = store.missed_check("sales_orders")
    assert checked["checked_below"] == first - lag
    _insert_orders(
        source,
        _late_order(10_000_012, first - lag - timedelta(minutes=1)),  # before the band
        _late_order(10_000_013, first + timedelta(minutes=30)),  # in it
    )

    daily = by_table(extract(settings, ["sales_orders"]))["sales_orders"]
    # The pull ran from the second watermark minus the lag: both are too old.
    assert (daily.rows_written, daily.missed_rows) == (0, 1)
    assert store.missed_check("sales_orders")["checked_below"] == first + timedelta(hours=1) - lag
    assert store.missed_check("sales_orders")["full_checked_at"] == checked["full_checked_at"]
    # Nothing left the window since: no check, no count.
    quiet = by_table(extract(settings, ["sales_orders"]))["sales_orders"]
    assert quiet.missed_rows == 0

    full = by_table(extract(replace(settings, full_check_days=0), ["sales_orders"]))
    assert full["sales_orders"].missed_rows == 2
    assert store.missed_check("sales_orders")["full_checked_at"] > checked["full_checked_at"]


def test_a_source_clock_minutes_behind_the_extractor_loses_nothing(catalog, tmp_path):
    """The source stamps rows 10 minutes behind the extractor's clock, more than
    the lag: a boundary taken from the extractor's clock would skip them."""
    settings = make_settings(tmp_path / "home")
    settings.ensure_dirs()
    engine = create_engine(settings.source_url)
    behind = timedelta(minutes=10)
    init_source(engine, scale=SCALE, seed=7, as_of=utcnow() - behind)
    extract(settings)
    store = MetadataStore(settings.metadata_url)
    first = store.get_watermark("sales_orders")
    assert first == source_max(engine, "sales_orders")  # the source's value, not our clock
    late = utcnow() - behind + timedelta(seconds=30)  # committed now, by the source's clock
    assert late < utcnow() - timedelta(seconds=settings.extract_lag_seconds)
    with engine.begin() as conn:
        conn.execute(schema.sales_orders.insert(), [_late_order(10_000_003, late)])

    result = by_table(extract(settings, ["sales_orders"]))["sales_orders"]

    assert (result.rows_written, result.missed_rows) == (1, 0)
    assert store.get_watermark("sales_orders") == late
    assert_bronze_matches_source(catalog, settings, engine)
    engine.dispose()


def test_crash_between_delta_commit_and_watermark_update_loses_and_doubles_nothing(
    catalog, settings, source, monkeypatch
):
    extract(settings)
    history = {t: set(bronze_versions(catalog, settings, t)) for t in schema.TABLE_NAMES}
    simulate(source, days=1)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed after the Delta commit")

    with monkeypatch.context() as patch:
        patch.setattr(MetadataStore, "set_watermark", crash)
        with pytest.raises(KeyboardInterrupt):
            extract(settings, ["customers"])
    committed = bronze(catalog, settings, "customers").count()
    assert committed > len(history["customers"])
    history["customers"] |= source_versions(source, "customers")
    for table in ("stores", "products", "sales_orders", "sales_order_lines"):
        history[table] |= source_versions(source, table)
    simulate(source, days=1)

    extract(settings)

    assert bronze(catalog, settings, "customers").count() > committed
    assert_bronze_matches_source(catalog, settings, source, history)


def test_retrying_the_same_commit_is_a_no_op(catalog, settings, source):
    extract(settings, ["stores"])
    store = MetadataStore(settings.metadata_url)
    extractor = Extractor(settings, catalog, store, source)
    landed = bronze(catalog, settings, "stores").drop(
        "_extracted_at", "_run_id", "_source_table", "year", "month"
    )
    batch = catalog.createDataFrame(landed.limit(2).collect(), schema=landed.schema)
    before = bronze(catalog, settings, "stores").count()

    extractor._append("retry-run", "stores", 10_001, batch)
    extractor._append("retry-run", "stores", 10_001, batch)

    assert bronze(catalog, settings, "stores").count() == before + 2


def test_an_added_source_column_evolves_bronze_and_is_reported(catalog, settings, source):
    extract(settings)
    later = source_max(source, "customers") + timedelta(minutes=5)
    with source.begin() as conn:
        conn.execute(text("ALTER TABLE customers ADD COLUMN preferred_store INTEGER"))
        conn.execute(
            text(
                "UPDATE customers SET preferred_store = 3, last_modified = :lm "
                "WHERE customer_id = 1"
            ),
            {"lm": later.strftime("%Y-%m-%d %H:%M:%S.%f")},
        )

    results = by_table(extract(settings, ["customers"]))

    assert results["customers"].status == "SUCCESS"
    assert results["customers"].new_columns == ["preferred_store"]
    row = bronze(catalog, settings, "customers").where("customer_id = 1 AND preferred_store = 3")
    assert row.count() == 1


def test_a_missing_or_retyped_column_fails_that_table_and_writes_nothing(catalog, settings, source):
    extract(settings)
    before = {t: bronze(catalog, settings, t).count() for t in ("products", "stores")}
    watermarks = {t: MetadataStore(settings.metadata_url).get_watermark(t) for t in before}
    with source.begin() as conn:
        conn.execute(text("ALTER TABLE products DROP COLUMN brand"))
        conn.execute(text("ALTER TABLE stores RENAME COLUMN opened_date TO opened_old"))
        conn.execute(text("ALTER TABLE stores ADD COLUMN opened_date TEXT"))
    simulate_like_bump = source_max(source, "products") + timedelta(minutes=1)
    with source.begin() as conn:
        conn.execute(
            text("UPDATE products SET last_modified = :lm WHERE product_id = 1"),
            {"lm": simulate_like_bump.strftime("%Y-%m-%d %H:%M:%S.%f")},
        )

    results = by_table(extract(settings))

    assert results["products"].status == "FAILED"
    assert "brand" in results["products"].error
    assert results["stores"].status == "FAILED"
    assert "opened_date (date -> text)" in results["stores"].error
    assert results["customers"].status == "SUCCESS"
    store = MetadataStore(settings.metadata_url)
    for table, count in before.items():
        assert bronze(catalog, settings, table).count() == count
        assert store.get_watermark(table) == watermarks[table]


def run_cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "RETAILNOVA_HOME": str(home), **env}
    return subprocess.run(
        [sys.executable, "-m", "extract.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )


def test_an_unreachable_source_is_one_line_naming_host_and_setting(tmp_path):
    result = run_cli(
        tmp_path,
        "extract",
        RETAILNOVA_SOURCE_URL="postgresql://etl:TopSecret99@127.0.0.1:9/oltp",
    )

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "127.0.0.1:9" in result.stderr
    assert "RETAILNOVA_SOURCE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert "TopSecret99" not in result.stderr + result.stdout


def test_a_missing_source_table_is_named(tmp_path):
    empty = tmp_path / "empty.db"
    create_engine(f"sqlite:///{empty}").connect().close()

    result = run_cli(tmp_path, "extract", RETAILNOVA_SOURCE_URL=f"sqlite:///{empty}")

    assert result.returncode == 1
    assert "customers" in result.stderr and "not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "lake" / "bronze").exists()


def test_a_source_table_without_an_index_on_last_modified_is_warned_about(
    catalog, settings, source
):
    with source.begin() as conn:
        conn.execute(text("DROP INDEX ix_stores_last_modified"))
    said = []

    results = by_table(extract(settings, ["stores", "products"], progress=said.append))

    assert [m for m in said if "no index" in m] == [unindexed_warning("stores")]
    assert "CREATE INDEX ix_stores_last_modified ON stores (last_modified)" in said[0]
    store = MetadataStore(settings.metadata_url)
    with store.engine.connect() as conn:
        warnings = conn.execute(
            pipeline_errors.select().where(pipeline_errors.c.error_type == "Warning")
        ).all()
    assert [(w.step, w.message) for w in warnings] == [
        ("bronze:stores", unindexed_warning("stores"))
    ]
    # A warning, not a failure: the table still lands.
    assert [r.status for r in results.values()] == ["SUCCESS", "SUCCESS"]
    assert set(bronze_versions(catalog, settings, "stores")) == source_versions(source, "stores")


def _plan(engine, query: str) -> str:
    """The plan the source's own planner picks, with table scans priced out
    (a test table is small enough that a scan would win anyway)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
            rows = conn.execute(text(f"EXPLAIN {query}")).scalars()
        else:
            rows = (r[-1] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {query}")))
        return "\n".join(rows)


def _assert_pull_queries_use_the_cursor_index(engine) -> None:
    source = jdbc_source(engine.url)
    lower, since = AS_OF - timedelta(days=1), AS_OF - timedelta(days=2)
    for table in schema.TABLE_NAMES:
        index = schema.cursor_index_name(table)
        key = schema.primary_key(schema.table_by_name(table))
        window = pull_predicate(source, lower)
        pull = f"SELECT count(*), min({key}), max({key}) FROM {table}{window}"
        late = f"SELECT count(*) FROM {table} WHERE {late_band(source, lower, since)}"
        for query in (pull, late):
            plan = _plan(engine, query)
            assert index in plan, f"{table}: {query}\n{plan}"
            assert f"Seq Scan on {table}" not in plan and f"SCAN {table}" not in plan, plan


def test_a_pull_reads_the_window_through_the_cursor_index_on_sqlite(source):
    _assert_pull_queries_use_the_cursor_index(source)


@pytest.mark.postgres
def test_postgres_source_round_trip(catalog, tmp_path, pg_url):
    settings = make_settings(
        tmp_path / "home", RETAILNOVA_SOURCE_URL=pg_url.render_as_string(hide_password=False)
    )
    engine = create_engine(pg_url)
    init_source(engine, scale=SCALE, seed=7, as_of=AS_OF)

    extract(settings)
    assert_bronze_matches_source(catalog, settings, engine)
    before = {t: set(bronze_versions(catalog, settings, t)) for t in schema.TABLE_NAMES}
    simulate(engine, days=1)
    results = by_table(extract(settings))

    for table in schema.TABLE_NAMES:
        assert results[table].rows_written == len(source_versions(engine, table) - before[table])
    assert_bronze_matches_source(catalog, settings, engine, before)
    # The contract's types, whatever database the rows came from.
    types = dict(bronze(catalog, settings, "sales_orders").dtypes)
    assert types["shipping_cost"] == "decimal(10,2)"
    assert types["order_date"] == "timestamp"
    engine.dispose()


@pytest.mark.postgres
def test_a_pull_reads_the_window_through_the_cursor_index_on_postgres(pg_url):
    engine = create_engine(pg_url)
    init_source(engine, scale=SCALE, seed=7, as_of=AS_OF)
    try:
        _assert_pull_queries_use_the_cursor_index(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_wrong_postgres_credentials_are_one_line_without_the_password(tmp_path):
    url = postgres_url().set(password="Wr0ngPassw0rd")

    result = run_cli(
        tmp_path, "extract", RETAILNOVA_SOURCE_URL=url.render_as_string(hide_password=False)
    )

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"{url.host}:{url.port}" in result.stderr
    assert "RETAILNOVA_SOURCE_URL" in result.stderr
    assert "Wr0ngPassw0rd" not in result.stderr + result.stdout


class DelayedProxy:
    """A TCP forwarder to PostgreSQL that starts listening only after a delay:
    a source that refuses connections for a while, then comes back."""

    def __init__(self, target_port: int, delay: float):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.target_port = target_port
        self.delay = delay
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        time.sleep(self.delay)
        server = socket.create_server(("127.0.0.1", self.port))
        server.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()
        server.close()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@pytest.mark.postgres
def test_a_source_refusing_connections_for_a_while_is_retried(catalog, tmp_path, pg_url):
    engine = create_engine(pg_url)
    init_source(engine, scale=SCALE, seed=7, as_of=AS_OF)
    engine.dispose()
    proxy = DelayedProxy(pg_url.port, delay=1.5)
    proxied = pg_url.set(host="127.0.0.1", port=proxy.port)
    settings = make_settings(
        tmp_path / "home", RETAILNOVA_SOURCE_URL=proxied.render_as_string(hide_password=False)
    )
    messages: list[str] = []
    try:
        results = extract(settings, ["stores"], progress=messages.append)
    finally:
        proxy.stopped.set()

    assert results[0].status == "SUCCESS" and results[0].rows_written == 5
    retries = [m for m in messages if m.startswith("retry ")]
    assert retries and "Connection refused" in retries[0]
    assert pg_url.password not in " ".join(messages)


# --- kill -9 of `retailnova extract` --------------------------------------------------


def _extract_process(home: Path) -> subprocess.Popen:
    """`retailnova extract` in its own process group (Python and its JVM), so
    kill -9 takes both, as the OOM killer or a pulled plug would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILNOVA_")}
    if "RETAILNOVA_JAR_CACHE" in os.environ:
        env["RETAILNOVA_JAR_CACHE"] = os.environ["RETAILNOVA_JAR_CACHE"]
    env.update(RETAILNOVA_HOME=str(home), RETAILNOVA_SPARK_DRIVER_MEMORY="1g", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "extract.cli", "extract"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def _kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def test_kill_9_during_the_jdbc_read_loses_and_doubles_nothing(catalog, settings, source):
    process = _extract_process(settings.home)
    try:
        for line in process.stdout:
            if line.startswith("[sales_order_lines] reading"):
                break
        else:
            pytest.fail("the extract ended before reading sales_order_lines")
    finally:
        _kill(process)
    store = MetadataStore(settings.metadata_url)
    # Tables extracted one after another or side by side: either way some
    # were committed before sales_order_lines was read.
    committed = {name for name in schema.TABLE_NAMES if store.get_watermark(name) is not None}
    assert committed, "no table was committed before sales_order_lines was read"
    assert "sales_order_lines" not in committed

    results = by_table(extract(settings))

    assert all(r.status == "SUCCESS" for r in results.values())
    assert {name for name in committed if results[name].rows_written} == set()
    assert_bronze_matches_source(catalog, settings, source)


def test_kill_9_during_the_delta_commit_loses_and_doubles_nothing(catalog, settings, source):
    table = settings.lake / "bronze" / "sales_order_lines"
    process = _extract_process(settings.home)
    try:
        # The write's tasks put data files in place first; the commit (the log
        # entry that makes them part of the table) comes after the last one.
        deadline = time.monotonic() + 600
        while not any(table.glob("year=*/month=*/*.parquet")):
            assert process.poll() is None, "the extract ended before writing sales_order_lines"
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        _kill(process)
    orphans = list(table.glob("year=*/month=*/*.parquet"))
    assert orphans
    assert not list(table.glob("_delta_log/*.json")), "killed after the commit, not during it"

    results = by_table(extract(settings))

    assert results["sales_order_lines"].rows_written == source_count(source, "sales_order_lines")
    assert_bronze_matches_source(catalog, settings, source)
    # The killed write's files are still there, outside the table.
    assert all(p.exists() for p in orphans)


def source_count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
