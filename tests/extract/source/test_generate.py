"""The sample source generator against real databases: SQLite files, and
PostgreSQL when RETAILNOVA_TEST_PG_URL names one."""

from __future__ import annotations

import re
import shutil
import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select

from extract.source import generate, schema
from extract.source.generate import SourceExistsError, init_source, simulate

AS_OF = datetime(2026, 6, 30, 18, 0, 0)
SCALE = 0.1  # 1,000 customers, 50 products, 5,000 orders
TINY = 0.005  # below every floor: 50 customers, 40 products, 250 orders
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def sqlite_engine(path: Path) -> Engine:
    return create_engine(f"sqlite:///{path}")


def make_source(path: Path, **options) -> Engine:
    engine = sqlite_engine(path)
    init_source(engine, **{"scale": SCALE, "seed": 7, "as_of": AS_OF, **options})
    return engine


@pytest.fixture(scope="module")
def base_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("base") / "source.db"
    make_source(path).dispose()
    return path


@pytest.fixture
def base(base_file) -> Engine:
    """The module's source, read only."""
    engine = sqlite_engine(base_file)
    yield engine
    engine.dispose()


@pytest.fixture
def scratch(base_file, tmp_path) -> Engine:
    """A private copy of the module's source, to change."""
    path = tmp_path / "scratch.db"
    shutil.copyfile(base_file, path)
    engine = sqlite_engine(path)
    yield engine
    engine.dispose()


def count(engine: Engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def counts(engine: Engine) -> dict[str, int]:
    return {table.name: count(engine, table) for table in schema.TABLES}


def all_rows(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(select(table).order_by(table.c[schema.primary_key(table)]))
            ]
            for table in schema.TABLES
        }


def clock(engine: Engine) -> datetime:
    with engine.connect() as conn:
        return max(
            conn.execute(select(func.max(t.c.last_modified))).scalar_one() for t in schema.TABLES
        )


def raw(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


# --- init_source ------------------------------------------------------------------


def test_volumes_follow_the_scale_and_the_stores_are_fixed(base):
    rows = counts(base)

    assert rows["customers"] == 1_000
    assert rows["products"] == 50
    assert rows["sales_orders"] == 5_000
    assert 2.2 <= rows["sales_order_lines"] / rows["sales_orders"] <= 2.7
    with base.connect() as conn:
        stores = conn.execute(select(schema.stores.c.channel, schema.stores.c.city)).all()
    assert sorted(stores) == [
        ("Online", "Athens"),
        ("Physical", "Athens"),
        ("Physical", "Heraklion"),
        ("Physical", "Patras"),
        ("Physical", "Thessaloniki"),
    ]


def test_a_tiny_scale_keeps_a_few_dozen_customers_and_products(tmp_path):
    rows = counts(make_source(tmp_path / "tiny.db", scale=TINY))

    assert rows["stores"] == 5
    assert rows["customers"] == generate.MIN_CUSTOMERS >= 36
    assert rows["products"] == generate.MIN_PRODUCTS >= 36
    assert rows["sales_orders"] == generate.MIN_ORDERS


def test_same_seed_same_rows_other_seed_other_rows(base, tmp_path):
    again = make_source(tmp_path / "again.db")
    other = make_source(tmp_path / "other.db", seed=8)

    assert all_rows(again) == all_rows(base)
    other_rows, base_rows = all_rows(other), all_rows(base)
    assert other_rows["customers"] != base_rows["customers"]
    assert other_rows["sales_orders"] != base_rows["sales_orders"]


def test_orders_look_like_a_retail_chain(base_file):
    online = raw(base_file, "SELECT avg(store_id = 5) FROM sales_orders")[0][0]
    by_month = dict(
        raw(base_file, "SELECT substr(order_date, 6, 2), count(*) FROM sales_orders GROUP BY 1")
    )
    old = dict(
        raw(
            base_file,
            "SELECT status, count(*) FROM sales_orders WHERE order_date < '2026-06-01' GROUP BY 1",
        )
    )
    recent = {
        s
        for (s,) in raw(
            base_file, "SELECT DISTINCT status FROM sales_orders WHERE order_date >= '2026-06-27'"
        )
    }
    repeat = raw(
        base_file,
        "SELECT count(*) FROM (SELECT customer_id FROM sales_orders "
        "GROUP BY 1 HAVING count(*) >= 5)",
    )[0][0]

    assert 0.2 <= online <= 0.3
    assert by_month["12"] > by_month["08"] and by_month["11"] > by_month["06"]
    assert old["Delivered"] > 0.9 * sum(old.values())
    assert old["Cancelled"] > 0 and old["Returned"] > 0
    assert not {"Pending", "Processing", "Shipped"} & set(old)
    assert {"Pending", "Processing", "Shipped"} <= recent
    assert repeat >= 50


def segment(r: int, f: int, m: int) -> str:
    if r >= 3 and f >= 3 and m >= 3:
        return "Champions"
    if r >= 3 and f >= 2:
        return "Loyal Customers"
    if r >= 3:
        return "Promising"
    if r == 2 and f >= 2:
        return "At Risk"
    return "Need Attention"


def rfm_segments(path: Path) -> set[str]:
    """Contract section 3's customer_segments, computed straight from the source."""
    rows = raw(
        path,
        """
        SELECT o.customer_id, date(o.order_date),
               sum(l.quantity * l.unit_price * (1 - CASE WHEN o.discount_pct BETWEEN 0 AND 100
                                                    THEN o.discount_pct ELSE 0 END / 100.0))
        FROM sales_orders o JOIN sales_order_lines l ON l.order_id = o.order_id
        WHERE o.status IN ('Shipped', 'Delivered') AND l.quantity > 0
        GROUP BY o.order_id""",
    )
    as_of = max(datetime.fromisoformat(day) for _, day, _ in rows)
    buyers: dict[int, list] = {}
    for customer, day, amount in rows:
        last, frequency, monetary = buyers.get(customer, (day, 0, 0.0))
        buyers[customer] = [max(last, day), frequency + 1, monetary + amount]
    segments = set()
    for last, f, m in buyers.values():
        recency = (as_of - datetime.fromisoformat(last)).days
        r = 4 if recency <= 30 else 3 if recency <= 60 else 2 if recency <= 90 else 1
        f = 4 if f >= 5 else 3 if f >= 3 else 2 if f >= 2 else 1
        m = 4 if m >= 2000 else 3 if m >= 1000 else 2 if m >= 300 else 1
        segments.add(segment(r, f, m))
    return segments


def test_every_rfm_segment_has_customers(base_file):
    assert rfm_segments(base_file) == {
        "Champions",
        "Loyal Customers",
        "Promising",
        "At Risk",
        "Need Attention",
    }


DEFECTS = {
    "mixed-case email": "SELECT count(*) FROM customers WHERE email <> lower(email)",
    "padded email": "SELECT count(*) FROM customers WHERE email <> trim(email)",
    "null email": "SELECT count(*) FROM customers WHERE email IS NULL",
    "null phone": "SELECT count(*) FROM customers WHERE phone IS NULL",
    "padded customer name": "SELECT count(*) FROM customers "
    "WHERE first_name <> trim(first_name) OR last_name <> trim(last_name)",
    "lower-case product code": "SELECT count(*) FROM products "
    "WHERE product_code <> upper(product_code)",
    "padded product name": "SELECT count(*) FROM products WHERE product_name <> trim(product_name)",
    "zero price": "SELECT count(*) FROM products WHERE unit_price = 0",
    "negative shipping": "SELECT count(*) FROM sales_orders WHERE shipping_cost < 0",
    "discount above 100": "SELECT count(*) FROM sales_orders WHERE discount_pct > 100",
    "quantity <= 0": "SELECT count(*) FROM sales_order_lines WHERE quantity <= 0",
    "missing product": "SELECT count(*) FROM sales_order_lines "
    "WHERE product_id NOT IN (SELECT product_id FROM products)",
    "late customer": "SELECT count(*) FROM sales_orders o JOIN customers c USING (customer_id) "
    "WHERE c.created_at > o.last_modified",
}


def invalid_emails(path: Path) -> int:
    emails = [e for (e,) in raw(path, "SELECT email FROM customers WHERE email IS NOT NULL")]
    return sum(not EMAIL_PATTERN.match(e.strip().lower()) for e in emails)


@pytest.mark.parametrize("scale", [TINY, SCALE])
def test_every_defect_of_the_contract_is_present(tmp_path, scale):
    path = tmp_path / "dirty.db"
    make_source(path, scale=scale).dispose()

    found = {name: raw(path, sql)[0][0] for name, sql in DEFECTS.items()}

    assert {name: n for name, n in found.items() if n == 0} == {}
    assert invalid_emails(path) > 0


def test_defect_rates_are_exact_shares(base_file):
    def found(name: str) -> int:
        return raw(base_file, DEFECTS[name])[0][0]

    assert found("null email") == round(1_000 * generate.EMAIL_NULL_RATE)
    assert found("mixed-case email") == round(1_000 * generate.EMAIL_MIXED_CASE_RATE)
    assert found("padded email") == round(1_000 * generate.EMAIL_PADDED_RATE)
    assert invalid_emails(base_file) == round(1_000 * generate.EMAIL_INVALID_RATE)
    assert found("null phone") == round(1_000 * generate.PHONE_NULL_RATE)
    assert found("lower-case product code") == round(50 * generate.PRODUCT_CODE_LOWER_RATE)
    assert found("negative shipping") == round(5_000 * generate.NEGATIVE_SHIPPING_RATE)
    assert found("discount above 100") == round(5_000 * generate.DISCOUNT_OVER_100_RATE)
    assert found("quantity <= 0") == round(5_000 * generate.BAD_QUANTITY_RATE)
    assert found("missing product") == round(5_000 * generate.MISSING_PRODUCT_RATE)


def test_timestamps_are_ordered_and_never_after_as_of(base):
    s, c, p, o, ln = (
        schema.stores,
        schema.customers,
        schema.products,
        schema.sales_orders,
        schema.sales_order_lines,
    )

    assert count(base, s, s.c.last_modified > AS_OF) == 0
    for table in (c, p, o, ln):
        assert count(base, table, table.c.created_at > table.c.last_modified) == 0, table.name
        assert count(base, table, table.c.last_modified > AS_OF) == 0, table.name
        assert count(base, table, table.c.last_modified.is_(None)) == 0, table.name
    assert count(base, o, o.c.last_modified < o.c.order_date) == 0


def test_sqlite_values_are_stored_as_sqlalchemy_stores_them(base_file, base):
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
    stamps = raw(
        base_file,
        "SELECT created_at, last_modified FROM sales_order_lines "
        "UNION ALL SELECT order_date, last_modified FROM sales_orders",
    )
    assert all(stamp.match(a) and stamp.match(b) for a, b in stamps)
    assert {t for (t,) in raw(base_file, "SELECT DISTINCT typeof(is_active) FROM customers")} == {
        "integer"
    }
    assert all(
        re.match(r"^\d{4}-\d\d-\d\d$", d)
        for (d,) in raw(
            base_file, "SELECT date_of_birth FROM customers WHERE date_of_birth IS NOT NULL"
        )
    )

    with base.connect() as conn:
        prices = conn.execute(select(schema.products.c.unit_price)).scalars().all()
        flags = set(conn.execute(select(schema.products.c.is_active)).scalars())
    assert all(isinstance(p, Decimal) and p == p.quantize(Decimal("0.01")) for p in prices)
    assert flags <= {True, False}


def test_an_existing_source_is_refused_unless_forced(scratch):
    with pytest.raises(SourceExistsError, match=r"scratch\.db.*--force"):
        init_source(scratch, scale=0.02, seed=7, as_of=AS_OF)
    assert counts(scratch)["customers"] == 1_000

    replaced = init_source(scratch, scale=0.02, seed=7, as_of=AS_OF, force=True)

    assert replaced == counts(scratch)
    assert replaced["customers"] == 200


def test_empty_tables_are_no_reason_to_refuse(tmp_path):
    engine = sqlite_engine(tmp_path / "empty.db")
    schema.metadata.create_all(engine)

    assert init_source(engine, scale=0.02, as_of=AS_OF)["sales_orders"] == 1_000


# --- simulate -----------------------------------------------------------------------


def check_one_simulated_day(engine: Engine) -> dict[str, dict[str, int]]:
    """simulate(days=1) adds exactly the versions it reports, all after the old clock."""
    before, old_clock = counts(engine), clock(engine)
    old_max = {t.name: _max_key(engine, t) for t in schema.TABLES}

    changes = simulate(engine, days=1)

    new_clock = clock(engine)
    assert new_clock > old_clock
    assert new_clock.date() == old_clock.date() + timedelta(days=1)
    for table in schema.TABLES:
        name, key = table.name, table.c[schema.primary_key(table)]
        changed = count(engine, table, table.c.last_modified > old_clock)
        updated = count(engine, table, table.c.last_modified > old_clock, key <= old_max[name])
        assert changed == changes[name]["inserted"] + changes[name]["updated"], name
        assert updated == changes[name]["updated"], name
        assert counts(engine)[name] == before[name] + changes[name]["inserted"], name
    for name in ("customers", "sales_orders", "sales_order_lines"):
        assert changes[name]["inserted"] > 0, name
    for name in ("customers", "products", "sales_orders"):
        assert changes[name]["updated"] > 0, name
    return changes


def _max_key(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.max(table.c[schema.primary_key(table)]))).scalar_one()


def test_a_simulated_day_inserts_and_updates_after_the_clock(scratch):
    check_one_simulated_day(scratch)


def test_simulated_orders_walk_through_their_statuses(scratch):
    o = schema.sales_orders
    old_clock = clock(scratch)
    with scratch.connect() as conn:
        was_open = dict(
            conn.execute(
                select(o.c.order_id, o.c.status).where(o.c.status.in_(["Pending", "Processing"]))
            ).all()
        )

    simulate(scratch, days=3)

    with scratch.connect() as conn:
        now = dict(
            conn.execute(select(o.c.order_id, o.c.status).where(o.c.order_id.in_(was_open))).all()
        )
        progressed = conn.execute(
            select(func.count()).where(
                o.c.order_date <= old_clock,
                o.c.last_modified > old_clock,
                o.c.status.in_(["Shipped", "Delivered"]),
            )
        ).scalar_one()
    assert now != was_open
    assert all(now[k] != "Pending" for k, status in was_open.items() if status == "Processing")
    assert progressed > 0


def test_an_order_arrives_before_its_customer_within_a_few_days(scratch):
    old_clock = clock(scratch)

    simulate(scratch, days=3)

    o, c = schema.sales_orders, schema.customers
    with scratch.connect() as conn:
        late = conn.execute(
            select(func.count())
            .select_from(o.join(c, c.c.customer_id == o.c.customer_id))
            .where(o.c.created_at > old_clock, c.c.created_at > o.c.last_modified)
        ).scalar_one()
        orphans = conn.execute(
            select(func.count())
            .select_from(o)
            .where(o.c.customer_id.not_in(select(c.c.customer_id)))
        ).scalar_one()
    assert late > 0
    assert orphans == 0  # by the end of the run every customer has arrived


def test_simulate_is_deterministic(base_file, tmp_path):
    engines = []
    for name in ("a.db", "b.db"):
        shutil.copyfile(base_file, tmp_path / name)
        engines.append(sqlite_engine(tmp_path / name))

    results = [simulate(engine, days=2) for engine in engines]

    assert results[0] == results[1]
    assert all_rows(engines[0]) == all_rows(engines[1])


def test_a_key_gets_several_versions_over_simulated_days(scratch):
    c, o = schema.customers, schema.sales_orders
    old_clock = clock(scratch)

    simulate(scratch, days=2)

    assert count(scratch, c, c.c.created_at < old_clock, c.c.last_modified > old_clock) > 0
    assert count(scratch, o, o.c.created_at < old_clock, o.c.last_modified > old_clock) > 0


# --- PostgreSQL ------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_loads_the_same_rows_and_simulates_the_same_days(pg_url, base_file, tmp_path):
    engine = create_engine(pg_url)
    shutil.copyfile(base_file, tmp_path / "twin.db")
    twin = sqlite_engine(tmp_path / "twin.db")
    try:
        loaded = init_source(engine, scale=SCALE, seed=7, as_of=AS_OF, force=True)

        assert loaded == counts(twin)
        assert all_rows(engine) == all_rows(twin)
        assert check_one_simulated_day(engine) == simulate(twin, days=1)
        assert simulate(engine, days=2) == simulate(twin, days=2)
        assert all_rows(engine) == all_rows(twin)
        with pytest.raises(SourceExistsError, match="--force"):
            init_source(engine, scale=0.02, as_of=AS_OF)
    finally:
        schema.metadata.drop_all(engine)
        engine.dispose()
        twin.dispose()
