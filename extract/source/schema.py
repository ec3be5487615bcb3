"""The OLTP source contract (contract section 1), in one place.

The sample source is created from these tables, and the extractor checks a
real source against them and reads every column with the Spark type given
here, so Bronze has the same schema whichever database the rows came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
)
from sqlalchemy.dialects import mssql

# No foreign keys on purpose: the production source does not enforce them
# (lines whose product is missing, orders that arrive before their customer),
# and the sample source has to be able to hold those rows.
metadata = MetaData()

# Microseconds on every backend: SQL Server's plain DATETIME would round to
# 3.33 ms, so it gets datetime2, whose precision the watermark literal honours.
Timestamp = DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql")


CURSOR_COLUMN = "last_modified"


def cursor_index_name(table: str) -> str:
    return f"ix_{table}_{CURSOR_COLUMN}"


def _cursor_index(table: str) -> Index:
    """What makes a watermark pull read the day's rows, not the table: the
    pull's `last_modified >= ? OR last_modified IS NULL` and the late-row
    check's band are index range scans with it (PostgreSQL, scale 100: a
    day's three queries on the order lines scan 12.5 million rows without)."""
    return Index(cursor_index_name(table), CURSOR_COLUMN)


customers = Table(
    "customers",
    metadata,
    Column("customer_id", Integer, primary_key=True, autoincrement=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("email", String(255)),
    Column("phone", String(50)),
    Column("date_of_birth", Date),
    Column("address", String(255)),
    Column("city", String(100)),
    Column("postal_code", String(20)),
    Column("country", String(100)),
    Column("loyalty_tier", String(20), nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("last_modified", Timestamp),
    _cursor_index("customers"),
)

products = Table(
    "products",
    metadata,
    Column("product_id", Integer, primary_key=True, autoincrement=False),
    Column("product_code", String(50), nullable=False),
    Column("product_name", String(255), nullable=False),
    Column("category", String(100)),
    Column("brand", String(100)),
    Column("unit_price", Numeric(10, 2), nullable=False),
    Column("unit_cost", Numeric(10, 2)),
    Column("is_active", Boolean, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("last_modified", Timestamp),
    _cursor_index("products"),
)

stores = Table(
    "stores",
    metadata,
    Column("store_id", Integer, primary_key=True, autoincrement=False),
    Column("store_code", String(20), nullable=False),
    Column("store_name", String(100), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("city", String(100)),
    Column("region", String(100)),
    Column("opened_date", Date),
    Column("is_active", Boolean, nullable=False),
    Column("last_modified", Timestamp),
    _cursor_index("stores"),
)

sales_orders = Table(
    "sales_orders",
    metadata,
    Column("order_id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer),
    Column("store_id", Integer),
    Column("order_date", Timestamp, nullable=False),
    Column("status", String(20), nullable=False),
    Column("payment_method", String(30)),
    Column("shipping_cost", Numeric(10, 2)),
    Column("discount_pct", Numeric(5, 2)),
    Column("created_at", Timestamp, nullable=False),
    Column("last_modified", Timestamp),
    _cursor_index("sales_orders"),
)

sales_order_lines = Table(
    "sales_order_lines",
    metadata,
    Column("order_line_id", Integer, primary_key=True, autoincrement=False),
    Column("order_id", Integer),
    Column("product_id", Integer),
    Column("quantity", Integer),
    Column("unit_price", Numeric(10, 2)),
    Column("created_at", Timestamp, nullable=False),
    Column("last_modified", Timestamp),
    _cursor_index("sales_order_lines"),
)

# Extraction order: parents first, so a run that stops half-way leaves
# children that are at most as new as their parents.
TABLES: tuple[Table, ...] = (stores, products, customers, sales_orders, sales_order_lines)
TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in TABLES)


@dataclass(frozen=True)
class SourceColumn:
    name: str
    spark_type: str  # Spark SQL type Bronze stores the column as
    family: str  # int, text, decimal, bool, date, timestamp: for drift checks


def type_family(col_type) -> str:
    """int, text, decimal, bool, date or timestamp: what drift checks compare."""
    if isinstance(col_type, Boolean):
        return "bool"
    if isinstance(col_type, Integer):
        return "int"
    if isinstance(col_type, Numeric):
        return "decimal"
    if isinstance(col_type, DateTime):
        return "timestamp"
    if isinstance(col_type, Date):
        return "date"
    return "text"


_SPARK_TYPES = {"bool": "BOOLEAN", "int": "INT", "timestamp": "TIMESTAMP", "date": "DATE"}


def _spark_type(column: Column) -> tuple[str, str]:
    family = type_family(column.type)
    if family == "decimal":
        return f"DECIMAL({column.type.precision},{column.type.scale})", family
    return _SPARK_TYPES.get(family, "STRING"), family


def source_columns(table: Table) -> list[SourceColumn]:
    return [SourceColumn(c.name, *_spark_type(c)) for c in table.columns]


def primary_key(table: Table) -> str:
    (key,) = table.primary_key.columns
    return key.name


def table_by_name(name: str) -> Table:
    try:
        return metadata.tables[name]
    except KeyError:
        raise ValueError(
            f"unknown source table {name!r}; expected one of {', '.join(TABLE_NAMES)}"
        ) from None
