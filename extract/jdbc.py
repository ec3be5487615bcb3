"""From the source's SQLAlchemy URL to what Spark's JDBC reader needs.

One class per database family keeps the dialect specifics (JDBC URL, schema,
identifier quoting, the watermark literal, which columns need a text round
trip) out of the extractor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import URL

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class UnsupportedSourceError(Exception):
    pass


def check_identifier(name: str, what: str = "identifier") -> str:
    """Names from configuration reach SQL only after this check."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid {what} {name!r}: expected letters, digits and underscores")
    return name


def redact(text: str, *urls: URL) -> str:
    """Remove every password of the given URLs from a message."""
    for url in urls:
        if url.password:
            text = text.replace(str(url.password), "***")
    return text


def describe(url: URL) -> str:
    """Where a URL points, without credentials: for error messages."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite file {url.database}"
    port = f":{url.port}" if url.port else ""
    return f"{url.get_backend_name()} at {url.host}{port}/{url.database}"


@dataclass(frozen=True)
class JdbcSource:
    url: URL

    driver = ""
    quote_open = '"'
    quote_close = '"'

    def jdbc_url(self) -> str:
        raise NotImplementedError

    def properties(self) -> dict[str, str]:
        props = {"driver": self.driver}
        if self.url.username:
            props["user"] = self.url.username
        if self.url.password:
            props["password"] = str(self.url.password)
        return props

    def quote(self, name: str) -> str:
        return f"{self.quote_open}{check_identifier(name)}{self.quote_close}"

    def table_ref(self, table: str) -> str:
        return self.quote(table)

    def timestamp_literal(self, value: datetime) -> str:
        return f"TIMESTAMP '{value:%Y-%m-%d %H:%M:%S.%f}'"

    def text_families(self) -> frozenset[str]:
        """Column families read as text and cast in Spark (see SqliteSource)."""
        return frozenset()


class SqliteSource(JdbcSource):
    driver = "org.sqlite.JDBC"

    def jdbc_url(self) -> str:
        return f"jdbc:sqlite:{Path(self.url.database or '').resolve()}"

    def timestamp_literal(self, value: datetime) -> str:
        # SQLite keeps timestamps as fixed-width text, so text order is time order.
        return f"'{value:%Y-%m-%d %H:%M:%S.%f}'"

    def text_families(self) -> frozenset[str]:
        # sqlite-jdbc parses stored text with a millisecond pattern: six fraction
        # digits would be misread as thousands of milliseconds. Decimals come
        # back as floats. Text is exact, and Spark casts it.
        return frozenset({"timestamp", "date", "decimal"})


class PostgresSource(JdbcSource):
    driver = "org.postgresql.Driver"

    def jdbc_url(self) -> str:
        port = self.url.port or 5432
        query = "&".join(f"{k}={v}" for k, v in sorted(self.url.query.items()))
        return f"jdbc:postgresql://{self.url.host}:{port}/{self.url.database}" + (
            f"?{query}" if query else ""
        )


class SqlServerSource(JdbcSource):
    driver = "com.microsoft.sqlserver.jdbc.SQLServerDriver"
    quote_open = "["
    quote_close = "]"
    schema = "dbo"

    def jdbc_url(self) -> str:
        port = self.url.port or 1433
        encrypt = self.url.query.get("Encrypt", self.url.query.get("encrypt", "true"))
        trust = self.url.query.get(
            "TrustServerCertificate", self.url.query.get("trustServerCertificate", "false")
        )
        return (
            f"jdbc:sqlserver://{self.url.host}:{port};databaseName={self.url.database};"
            f"encrypt={str(encrypt).lower()};trustServerCertificate={str(trust).lower()}"
        )

    def table_ref(self, table: str) -> str:
        return f"{self.quote(self.schema)}.{self.quote(table)}"

    def timestamp_literal(self, value: datetime) -> str:
        # datetime2(7) has 100ns ticks; an untyped literal would be compared as
        # datetime (3.33ms) and could skip rows at the boundary.
        return f"CAST('{value:%Y-%m-%d %H:%M:%S.%f}0' AS datetime2(7))"


def jdbc_source(url: URL) -> JdbcSource:
    backend = url.get_backend_name()
    kinds = {"sqlite": SqliteSource, "postgresql": PostgresSource, "mssql": SqlServerSource}
    if backend not in kinds:
        raise UnsupportedSourceError(
            f"RETAILNOVA_SOURCE_URL uses {backend!r}; supported: sqlite, postgresql, mssql"
        )
    return kinds[backend](url)
