"""The reconciliation ledger: the source's revenue computed by SQL against an
independent Python reading of the contract, the store on SQLite and
PostgreSQL, and the messages of each equation. The ledger of real runs is
tested in test_dq_defects.py, which runs the pipeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from extract import ledger
from extract.metadata import MetadataStore, metadata
from extract.source.generate import init_source
from tests.conftest import postgres_url
from tests.e2e import expectations as ex

AS_OF = datetime(2026, 6, 30, 18, 0, 0)


def expected_revenue(engine: sa.Engine) -> tuple[int, Decimal]:
    lines = ex.revenue_lines(ex.load_orders(engine), ex.load_lines(engine))
    return len(lines), sum((line.net_amount for line in lines.values()), Decimal(0))


def check_source_revenue(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        everything = ledger.source_revenue(conn, AS_OF, AS_OF)
        lines, amount = expected_revenue(engine)
        assert everything == (lines, amount)
        assert amount != amount.quantize(Decimal("0.01")), "exactness needs sub-cent lines"
        # As of an earlier extraction: what changed since is left out.
        cut = AS_OF - timedelta(days=30)
        earlier = ledger.source_revenue(conn, cut, cut)
    assert 0 < earlier[0] < lines and earlier[1] < amount


def test_source_revenue_is_contract_3_exactly_on_sqlite(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'source.db'}")
    init_source(engine, scale=0.02, seed=7, as_of=AS_OF)
    check_source_revenue(engine)


@pytest.mark.postgres
def test_source_revenue_is_contract_3_exactly_on_postgresql(pg_url):
    engine = sa.create_engine(pg_url)
    try:
        init_source(engine, scale=0.02, seed=7, as_of=AS_OF)
        check_source_revenue(engine)
    finally:
        engine.dispose()


def sample_entries() -> list[ledger.LedgerEntry]:
    entries = [
        ledger.LedgerEntry("customers", changed_rows=12, skipped_rows=2, landed_rows=10,
                           source_rows=200, changed_after=1, silver_rows=200, quarantined_rows=0),
        ledger.LedgerEntry("sales_order_lines", watermark=AS_OF, changed_rows=5, skipped_rows=0,
                           landed_rows=4, source_rows=90, silver_rows=88, quarantined_rows=2,
                           source_revenue_lines=70, source_net_amount=Decimal("1234.567800"),
                           fact_lines=69, fact_net_amount=Decimal("1200.000001")),
    ]  # fmt: skip
    for entry in entries:
        entry.check()
    return entries


def test_each_equation_that_does_not_hold_is_named():
    customers, lines = sample_entries()

    assert customers.status == "BALANCED" and customers.differences == []
    assert lines.status == "UNEXPLAINED"
    assert lines.differences == [
        "bronze holds 4 rows of this run, the extractor wrote 5 (-1)",
        "fact_sales has 69 lines, the source 70 revenue-bearing lines (-1)",
        "fact_sales net amount 1,200.000001, the source 1,234.567800 (-34.567799)",
    ]
    assert ledger.format_entry(customers) == (
        "[customers] read 12 = 2 already in bronze + 10 landed; "
        "source 200 (1 changed since, left out) = silver 200 + quarantined 0: ok"
    )
    assert "revenue lines 70 != fact_sales 69" in ledger.format_entry(lines)
    assert ledger.summary_line([customers]) == "LEDGER: balanced"
    assert ledger.summary_line([customers, lines]).startswith(
        "LEDGER: 1 UNEXPLAINED (sales_order_lines: bronze holds 4 rows"
    )


def check_store_round_trip(store: MetadataStore) -> None:
    entries = sample_entries()
    store.log_ledger("run-a", entries[:1])
    store.log_ledger("run-b", entries)

    assert [r["table_name"] for r in store.ledger()] == ["customers", "sales_order_lines"]
    assert [r["status"] for r in store.ledger("run-a")] == ["BALANCED"]
    back = ledger.from_rows(store.ledger("run-b"))
    assert [(e.table_name, e.status, e.differences) for e in back] == [
        (e.table_name, e.status, e.differences) for e in entries
    ]
    assert back[1].source_net_amount == Decimal("1234.567800")
    assert back[1].fact_net_amount == Decimal("1200.000001")
    assert back[1].watermark == AS_OF


def test_the_ledger_is_stored_exactly_on_sqlite(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    try:
        check_store_round_trip(store)
    finally:
        store.dispose()


@pytest.mark.postgres
def test_the_ledger_is_stored_exactly_on_postgresql():
    url = postgres_url()
    engine = sa.create_engine(url)
    metadata.drop_all(engine)
    store = MetadataStore(url)
    try:
        check_store_round_trip(store)
    finally:
        store.dispose()
        metadata.drop_all(engine)
        engine.dispose()
