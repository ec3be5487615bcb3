"""Contract section 3, computed in plain Python from the source database.

An independent second implementation of the Gold numbers: no Spark, no dbt,
no SQL beyond plain SELECTs of the source tables. It reads the source's
current rows (the current version of every key is what Silver keeps), applies
the contract section 2 rules that change a number, and derives what
agg_monthly_kpis, customer_segments, cohort_analysis and fact_sales must hold.

Every amount is an exact Decimal (money) or an exact ratio turned into a
Decimal with 40 significant digits (rates); rounding to a column's declared
scale is the comparison's job, not this module's.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from extract.source import schema

REVENUE_STATUSES = frozenset({"Shipped", "Delivered"})
HUNDRED = Decimal(100)
# Enough digits that a quotient is exact to far below any declared scale.
_CONTEXT = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)


# --- Source rows -----------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    order_id: int
    customer_id: int | None
    store_id: int | None
    order_date: datetime
    status: str
    discount_pct: Decimal | None


@dataclass(frozen=True)
class Line:
    order_line_id: int
    order_id: int | None
    product_id: int | None
    quantity: int | None
    unit_price: Decimal | None


def load_orders(engine: sa.Engine) -> list[Order]:
    o = schema.sales_orders
    query = sa.select(
        o.c.order_id, o.c.customer_id, o.c.store_id, o.c.order_date, o.c.status, o.c.discount_pct
    )
    with engine.connect() as conn:
        return [Order(*row) for row in conn.execute(query)]


def load_lines(engine: sa.Engine) -> list[Line]:
    ol = schema.sales_order_lines
    query = sa.select(
        ol.c.order_line_id, ol.c.order_id, ol.c.product_id, ol.c.quantity, ol.c.unit_price
    )
    with engine.connect() as conn:
        return [Line(*row) for row in conn.execute(query)]


def load_product_prices(engine: sa.Engine) -> dict[int, Decimal]:
    """product_id -> current unit_price."""
    p = schema.products
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(p.c.product_id, p.c.unit_price)).all())


def load_customer_ids(engine: sa.Engine) -> set[int]:
    c = schema.customers
    with engine.connect() as conn:
        return set(conn.execute(sa.select(c.c.customer_id)).scalars())


# --- Contract section 2: the rules that change a number ---------------------------


def clean_discount(discount_pct: Decimal | None) -> Decimal:
    """discount_pct outside [0, 100] -> 0 (a missing discount is no discount)."""
    if discount_pct is None or not Decimal(0) <= discount_pct <= HUNDRED:
        return Decimal(0)
    return Decimal(discount_pct)


def is_product_kept(unit_price: Decimal | None) -> bool:
    """products: unit_price <= 0 -> quarantined from the product dimension."""
    return unit_price is not None and unit_price > 0


def is_line_kept(line: Line) -> bool:
    """Order lines with quantity <= 0 are quarantined; nothing else removes a line.

    A line whose product is missing or quarantined (unit_price <= 0 in products)
    stays: the fact maps it to the unknown member or keeps its own price at sale.
    """
    return line.quantity is not None and line.quantity > 0


def net_amount(
    quantity: int, unit_price: Decimal, discount_pct: Decimal, scale: int | None = None
) -> Decimal:
    """quantity x unit_price x (1 - discount_pct / 100): exact, as contract 3 words it,
    or rounded half up to `scale` decimals (2: to the cent, line by line)."""
    with decimal.localcontext(_CONTEXT):
        amount = Decimal(quantity) * unit_price * (1 - discount_pct / HUNDRED)
    if scale is None:
        return amount
    return amount.quantize(Decimal(1).scaleb(-scale), rounding=decimal.ROUND_HALF_UP)


# --- Revenue-bearing lines ------------------------------------------------------------


@dataclass(frozen=True)
class RevenueLine:
    order_line_id: int
    order_id: int
    customer_id: int | None
    store_id: int | None
    order_date: datetime
    product_id: int | None
    quantity: int
    unit_price: Decimal
    discount_pct: Decimal  # the order's cleaned discount
    net_amount: Decimal


def revenue_lines(
    orders: Iterable[Order], lines: Iterable[Line], line_scale: int | None = None
) -> dict[int, RevenueLine]:
    """order_line_id -> the line, for every kept line of a revenue-bearing order.

    Revenue-bearing order: current status Shipped or Delivered and at least one
    non-quarantined line. Every kept line of such an order is revenue; a line
    whose order is not in the source is not. line_scale rounds each line's net
    amount (None: exact, contract 3's wording).
    """
    by_order = {order.order_id: order for order in orders}
    result: dict[int, RevenueLine] = {}
    for line in lines:
        order = by_order.get(line.order_id)
        if order is None or order.status not in REVENUE_STATUSES or not is_line_kept(line):
            continue
        discount = clean_discount(order.discount_pct)
        result[line.order_line_id] = RevenueLine(
            order_line_id=line.order_line_id,
            order_id=order.order_id,
            customer_id=order.customer_id,
            store_id=order.store_id,
            order_date=order.order_date,
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount_pct=discount,
            net_amount=net_amount(line.quantity, line.unit_price, discount, line_scale),
        )
    return result


@dataclass(frozen=True)
class RevenueOrder:
    order_id: int
    customer_id: int | None
    order_date: datetime
    net_amount: Decimal
    quantity: int


def revenue_orders(lines: dict[int, RevenueLine]) -> dict[int, RevenueOrder]:
    """The revenue-bearing orders (an order is one iff it has a revenue line)."""
    grouped: dict[int, list[RevenueLine]] = defaultdict(list)
    for line in lines.values():
        grouped[line.order_id].append(line)
    return {
        order_id: RevenueOrder(
            order_id=order_id,
            customer_id=group[0].customer_id,
            order_date=group[0].order_date,
            net_amount=sum((line.net_amount for line in group), Decimal(0)),
            quantity=sum(line.quantity for line in group),
        )
        for order_id, group in grouped.items()
    }


# --- Calendar helpers -------------------------------------------------------------------


def month_start(moment: date | datetime) -> date:
    return date(moment.year, moment.month, 1)


def months_between(start: date, end: date) -> int:
    """Whole calendar months from start's month to end's month."""
    return (end.year - start.year) * 12 + end.month - start.month


def ratio(numerator: Decimal | int, denominator: Decimal | int) -> Decimal:
    with decimal.localcontext(_CONTEXT):
        return Decimal(numerator) / Decimal(denominator)


# --- agg_monthly_kpis -------------------------------------------------------------------


@dataclass(frozen=True)
class MonthlyKpi:
    month_start: date
    total_revenue: Decimal
    order_count: int
    unique_customers: int
    avg_order_value: Decimal
    avg_basket_size: Decimal
    clv_to_date: Decimal
    repeat_purchase_rate: Decimal


def monthly_kpis(lines: dict[int, RevenueLine]) -> list[MonthlyKpi]:
    """One row per calendar month with a revenue-bearing order, oldest first."""
    by_month: dict[date, list[RevenueOrder]] = defaultdict(list)
    for order in revenue_orders(lines).values():
        by_month[month_start(order.order_date)].append(order)

    result = []
    revenue_to_date = Decimal(0)
    orders_to_date: dict[int | None, int] = defaultdict(int)  # buyer -> orders up to month end
    for month in sorted(by_month):
        orders = by_month[month]
        revenue = sum((order.net_amount for order in orders), Decimal(0))
        quantity = sum(order.quantity for order in orders)
        buyers = {order.customer_id for order in orders if order.customer_id is not None}
        revenue_to_date += revenue
        for order in orders:
            if order.customer_id is not None:
                orders_to_date[order.customer_id] += 1
        repeaters = sum(1 for count in orders_to_date.values() if count >= 2)
        result.append(
            MonthlyKpi(
                month_start=month,
                total_revenue=revenue,
                order_count=len(orders),
                unique_customers=len(buyers),
                avg_order_value=ratio(revenue, len(orders)),
                avg_basket_size=ratio(quantity, len(orders)),
                clv_to_date=ratio(revenue_to_date, len(orders_to_date)),
                repeat_purchase_rate=ratio(repeaters, len(orders_to_date)),
            )
        )
    return result


# --- customer_segments ------------------------------------------------------------------


def r_score(recency_days: int) -> int:
    if recency_days <= 30:
        return 4
    if recency_days <= 60:
        return 3
    if recency_days <= 90:
        return 2
    return 1


def f_score(frequency: int) -> int:
    if frequency >= 5:
        return 4
    if frequency >= 3:
        return 3
    if frequency >= 2:
        return 2
    return 1


def m_score(monetary: Decimal) -> int:
    if monetary >= 2000:
        return 4
    if monetary >= 1000:
        return 3
    if monetary >= 300:
        return 2
    return 1


def segment(r: int, f: int, m: int) -> str:
    """First match wins."""
    if r >= 3 and f >= 3 and m >= 3:
        return "Champions"
    if r >= 3 and f >= 2:
        return "Loyal Customers"
    if r >= 3 and f == 1:
        return "Promising"
    if r == 2 and f >= 2:
        return "At Risk"
    return "Need Attention"


@dataclass(frozen=True)
class CustomerSegment:
    customer_id: int
    recency_days: int
    frequency: int
    monetary: Decimal
    r_score: int
    f_score: int
    m_score: int
    segment: str


def default_as_of(lines: dict[int, RevenueLine]) -> date:
    """The latest order date among revenue-bearing orders, as a date."""
    return max(line.order_date for line in lines.values()).date()


def customer_segments(
    lines: dict[int, RevenueLine], as_of: date | None = None
) -> dict[int, CustomerSegment]:
    """customer_id -> RFM row, for every customer with a revenue-bearing order.

    Recency counts from the customer's last revenue-bearing order.
    """
    as_of = as_of or default_as_of(lines)
    grouped: dict[int, list[RevenueOrder]] = defaultdict(list)
    for order in revenue_orders(lines).values():
        if order.customer_id is not None:
            grouped[order.customer_id].append(order)
    result = {}
    for customer_id, orders in grouped.items():
        recency = (as_of - max(order.order_date for order in orders).date()).days
        frequency = len(orders)
        monetary = sum((order.net_amount for order in orders), Decimal(0))
        r, f, m = r_score(recency), f_score(frequency), m_score(monetary)
        result[customer_id] = CustomerSegment(
            customer_id, recency, frequency, monetary, r, f, m, segment(r, f, m)
        )
    return result


# --- cohort_analysis --------------------------------------------------------------------


@dataclass(frozen=True)
class CohortMonth:
    cohort_month: date
    month_number: int
    cohort_size: int
    active_customers: int
    retention_rate: Decimal


def cohorts(lines: dict[int, RevenueLine]) -> dict[tuple[date, int], CohortMonth]:
    """(cohort_month, month_number) -> row, for every cohort month with activity."""
    active_months: dict[int, set[date]] = defaultdict(set)
    for order in revenue_orders(lines).values():
        if order.customer_id is not None:
            active_months[order.customer_id].add(month_start(order.order_date))
    cohort_of = {customer: min(months) for customer, months in active_months.items()}
    size: dict[date, int] = defaultdict(int)
    for cohort in cohort_of.values():
        size[cohort] += 1
    active: dict[tuple[date, int], int] = defaultdict(int)
    for customer, months in active_months.items():
        for month in months:
            active[(cohort_of[customer], months_between(cohort_of[customer], month))] += 1
    return {
        (cohort, number): CohortMonth(
            cohort, number, size[cohort], count, ratio(count, size[cohort])
        )
        for (cohort, number), count in active.items()
    }


# --- Everything, from a source database ---------------------------------------------


@dataclass(frozen=True)
class Expected:
    lines: dict[int, RevenueLine]
    kpis: list[MonthlyKpi]
    segments: dict[int, CustomerSegment]
    cohorts: dict[tuple[date, int], CohortMonth]
    as_of: date


def from_lines(lines: dict[int, RevenueLine], as_of: date | None = None) -> Expected:
    as_of = as_of or default_as_of(lines)
    return Expected(
        lines=lines,
        kpis=monthly_kpis(lines),
        segments=customer_segments(lines, as_of),
        cohorts=cohorts(lines),
        as_of=as_of,
    )


def from_source(
    engine: sa.Engine, as_of: date | None = None, line_scale: int | None = None
) -> Expected:
    lines = revenue_lines(load_orders(engine), load_lines(engine), line_scale)
    return from_lines(lines, as_of)


def raw_pii(engine: sa.Engine) -> tuple[set[str], set[str]]:
    """The source's current raw emails and phones (as stored, not cleaned)."""
    c = schema.customers
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.c.email, c.c.phone)).all()
    return {r.email for r in rows if r.email}, {r.phone for r in rows if r.phone}
