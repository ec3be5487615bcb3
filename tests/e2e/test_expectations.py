"""The e2e test's own oracle, checked on hand-made rows against the contract's
words, so a mistake in it cannot quietly agree with the same mistake in SQL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import create_engine

from extract.source import schema
from tests.e2e import expectations as ex
from tests.e2e.expectations import Line, Order


def order(order_id, customer_id, when, status="Delivered", discount="0"):
    return Order(order_id, customer_id, 1, datetime.fromisoformat(when), status, Decimal(discount))


def line(line_id, order_id, quantity=1, price="10.00", product_id=1):
    return Line(line_id, order_id, product_id, quantity, Decimal(price))


@pytest.mark.parametrize(
    ("days", "score"), [(0, 4), (30, 4), (31, 3), (60, 3), (61, 2), (90, 2), (91, 1), (400, 1)]
)
def test_r_score_boundaries(days, score):
    assert ex.r_score(days) == score


@pytest.mark.parametrize(("orders", "score"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (9, 4)])
def test_f_score_boundaries(orders, score):
    assert ex.f_score(orders) == score


@pytest.mark.parametrize(
    ("amount", "score"),
    [
        ("0", 1),
        ("299.99", 1),
        ("300", 2),
        ("999.999999", 2),
        ("1000.00", 3),
        ("1999.99", 3),
        ("2000", 4),
        ("25000", 4),
    ],
)
def test_m_score_boundaries(amount, score):
    assert ex.m_score(Decimal(amount)) == score


@pytest.mark.parametrize(
    ("r", "f", "m", "name"),
    [
        (4, 4, 4, "Champions"),
        (3, 3, 3, "Champions"),
        (3, 3, 2, "Loyal Customers"),  # Champions needs M >= 3
        (4, 2, 4, "Loyal Customers"),
        (4, 1, 4, "Promising"),
        (3, 1, 1, "Promising"),
        (2, 2, 1, "At Risk"),
        (2, 4, 4, "At Risk"),
        (2, 1, 4, "Need Attention"),
        (1, 4, 4, "Need Attention"),
        (1, 1, 1, "Need Attention"),
    ],
)
def test_segment_first_match_wins(r, f, m, name):
    assert ex.segment(r, f, m) == name


@pytest.mark.parametrize(
    ("price", "kept"), [(None, False), ("-1.00", False), ("0.00", False), ("0.01", True)]
)
def test_products_priced_zero_or_below_leave_the_dimension(price, kept):
    assert ex.is_product_kept(None if price is None else Decimal(price)) is kept


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("-0.01", "0"),
        ("0", "0"),
        ("15.50", "15.50"),
        ("100", "100"),
        ("100.01", "0"),
        ("250.00", "0"),
        (None, "0"),
    ],
)
def test_discount_outside_0_100_is_zero(raw, cleaned):
    assert ex.clean_discount(None if raw is None else Decimal(raw)) == Decimal(cleaned)


def test_net_amount_is_exact_decimal():
    # 3 x 19.99 x (1 - 12.5 / 100) = 52.47375, not rounded here.
    assert ex.net_amount(3, Decimal("19.99"), Decimal("12.50")) == Decimal("52.47375")
    assert ex.net_amount(2, Decimal("10.00"), Decimal("100")) == 0
    # Rounded line by line when asked: half up, to the cent.
    assert ex.net_amount(3, Decimal("19.99"), Decimal("12.50"), scale=2) == Decimal("52.47")
    assert ex.net_amount(1, Decimal("0.05"), Decimal("50"), scale=2) == Decimal("0.03")


def test_revenue_lines_apply_status_quantity_and_discount_rules():
    orders = [
        order(1, 10, "2026-01-05 10:00:00", "Delivered", "10"),
        order(2, 10, "2026-01-06 10:00:00", "Shipped", "150"),  # discount -> 0
        order(3, 11, "2026-01-07 10:00:00", "Pending"),
        order(4, 11, "2026-01-08 10:00:00", "Returned"),
        order(5, 12, "2026-01-09 10:00:00", "Delivered"),  # only a quarantined line
        order(6, 13, "2026-01-10 10:00:00", "Cancelled"),
    ]
    lines = [
        line(100, 1, 2, "10.00"),
        line(101, 1, 0, "10.00"),  # quantity 0: quarantined, order still revenue
        line(102, 2, 1, "5.00", product_id=99_999),  # missing product: still revenue
        line(103, 2, 1, "0.00"),  # zero price at sale: revenue of 0, still a line
        line(104, 3, 1),
        line(105, 4, 1),
        line(106, 5, -1),
        line(107, 6, 1),
        line(108, 404, 1),  # no such order
    ]

    result = ex.revenue_lines(orders, lines)

    assert set(result) == {100, 102, 103}
    assert result[100].net_amount == Decimal("18.000")
    assert result[102].net_amount == Decimal("5.00")
    assert result[102].discount_pct == 0
    assert result[103].net_amount == 0
    assert set(ex.revenue_orders(result)) == {1, 2}


def test_monthly_kpis_are_per_month_and_cumulative_to_month_end():
    orders = [
        order(1, 1, "2026-01-01 00:00:00"),
        order(2, 2, "2026-01-31 23:59:59", discount="50"),
        order(3, 1, "2026-02-15 12:00:00"),
        order(4, 3, "2026-04-01 08:00:00"),  # March has no revenue: no row
        order(5, 3, "2026-04-02 08:00:00", "Cancelled"),
    ]
    lines = [
        line(1, 1, 1, "100.00"),
        line(2, 1, 2, "50.00"),
        line(3, 2, 3, "20.00"),  # 3 x 20 x 0.5 = 30
        line(4, 3, 1, "70.00"),
        line(5, 4, 4, "25.00"),
        line(6, 5, 1, "999.00"),
    ]

    kpis = ex.monthly_kpis(ex.revenue_lines(orders, lines))

    assert [k.month_start for k in kpis] == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 4, 1)]
    jan, feb, apr = kpis
    assert (jan.total_revenue, jan.order_count, jan.unique_customers) == (230, 2, 2)
    assert jan.avg_order_value == 115
    assert jan.avg_basket_size == Decimal(3)  # (1 + 2 + 3) / 2
    assert jan.clv_to_date == 115  # 230 / 2 buyers
    assert jan.repeat_purchase_rate == 0
    assert (feb.total_revenue, feb.order_count, feb.unique_customers) == (70, 1, 1)
    assert feb.clv_to_date == 150  # 300 / 2 buyers up to the end of February
    assert feb.repeat_purchase_rate == Decimal("0.5")  # customer 1 now has 2 orders
    assert (apr.total_revenue, apr.order_count, apr.unique_customers) == (100, 1, 1)
    assert apr.avg_basket_size == 4
    assert apr.clv_to_date == ex.ratio(400, 3)  # 230 + 70 + 100 over buyers 1, 2 and 3
    assert apr.repeat_purchase_rate == ex.ratio(1, 3)


def test_customer_segments_use_revenue_orders_and_the_latest_order_date():
    orders = [
        order(1, 1, "2026-06-30 23:00:00"),  # sets the as-of date: 2026-06-30
        order(2, 1, "2026-06-01 09:00:00"),
        order(3, 1, "2026-05-31 09:00:00", "Shipped"),
        order(4, 2, "2026-04-01 23:59:59"),  # 90 days before 2026-06-30
        order(5, 2, "2026-03-01 10:00:00"),
        order(6, 3, "2026-07-15 10:00:00", "Pending"),  # not revenue: no row, no as-of
        order(7, 3, "2026-01-01 10:00:00", "Delivered", "101"),
    ]
    lines = [
        line(1, 1, 1, "1500.00"),
        line(2, 2, 1, "300.00"),
        line(3, 3, 1, "200.00"),
        line(4, 4, 1, "299.99"),
        line(5, 5, 1, "0.01"),
        line(6, 6, 1, "5000.00"),
        line(7, 7, 20, "100.00"),
    ]
    revenue = ex.revenue_lines(orders, lines)

    assert ex.default_as_of(revenue) == date(2026, 6, 30)
    segments = ex.customer_segments(revenue)

    assert segments[1] == ex.CustomerSegment(1, 0, 3, Decimal("2000.00"), 4, 3, 4, "Champions")
    assert segments[2] == ex.CustomerSegment(2, 90, 2, Decimal("300.00"), 2, 2, 2, "At Risk")
    assert segments[3] == ex.CustomerSegment(
        3, 180, 1, Decimal("2000.00"), 1, 1, 4, "Need Attention"
    )
    later = ex.customer_segments(revenue, as_of=date(2026, 7, 31))
    assert later[1].recency_days == 31 and later[1].r_score == 3


def test_cohorts_count_whole_months_across_years():
    orders = [
        order(1, 1, "2025-11-20 10:00:00"),
        order(2, 1, "2026-01-02 10:00:00"),
        order(3, 2, "2025-11-01 00:00:00"),
        order(4, 2, "2025-11-30 23:59:59"),
        order(5, 3, "2025-12-10 10:00:00"),
        order(6, 3, "2026-01-10 10:00:00"),
        order(7, 3, "2026-01-11 10:00:00"),
        order(8, 4, "2025-10-10 10:00:00", "Cancelled"),  # not a cohort member yet
        order(9, 4, "2026-01-15 10:00:00"),
    ]
    lines = [line(k, k) for k in range(1, 10)]

    rows = ex.cohorts(ex.revenue_lines(orders, lines))

    nov, dec, jan = date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1)
    assert rows == {
        (nov, 0): ex.CohortMonth(nov, 0, 2, 2, Decimal(1)),
        (nov, 2): ex.CohortMonth(nov, 2, 2, 1, Decimal("0.5")),
        (dec, 0): ex.CohortMonth(dec, 0, 1, 1, Decimal(1)),
        (dec, 1): ex.CohortMonth(dec, 1, 1, 1, Decimal(1)),
        (jan, 0): ex.CohortMonth(jan, 0, 1, 1, Decimal(1)),
    }


def test_source_rows_come_back_typed_from_sqlite(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'source.db'}")
    schema.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            schema.sales_orders.insert().values(
                order_id=1,
                customer_id=7,
                store_id=1,
                order_date=datetime(2026, 3, 31, 23, 59, 59, 999999),
                status="Delivered",
                discount_pct=Decimal("12.50"),
                created_at=datetime(2026, 3, 31),
                last_modified=datetime(2026, 4, 2),
            )
        )
        conn.execute(
            schema.sales_order_lines.insert().values(
                order_line_id=1,
                order_id=1,
                product_id=3,
                quantity=2,
                unit_price=Decimal("9.99"),
                created_at=datetime(2026, 3, 31),
                last_modified=datetime(2026, 3, 31),
            )
        )

    result = ex.from_source(engine)
    engine.dispose()

    assert result.lines[1].net_amount == Decimal("17.4825")
    assert result.as_of == date(2026, 3, 31)
    assert result.kpis[0].month_start == date(2026, 3, 1)
