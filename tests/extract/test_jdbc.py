from datetime import datetime

import pytest
from sqlalchemy import make_url

from extract.jdbc import check_identifier, describe, jdbc_source, redact

MOMENT = datetime(2026, 3, 1, 9, 30, 15, 123456)


def test_sqlserver_url_schema_and_datetime2_literal():
    source = jdbc_source(
        make_url("mssql+pyodbc://etl:s3cret@sql01.corp:1433/RetailNova_OLTP?driver=ODBC+Driver+18")
    )
    assert source.jdbc_url() == (
        "jdbc:sqlserver://sql01.corp:1433;databaseName=RetailNova_OLTP;"
        "encrypt=true;trustServerCertificate=false"
    )
    assert source.driver == "com.microsoft.sqlserver.jdbc.SQLServerDriver"
    assert source.table_ref("customers") == "[dbo].[customers]"
    # Seven fraction digits, typed: datetime2's precision, not datetime's 3.33 ms.
    assert source.timestamp_literal(MOMENT) == (
        "CAST('2026-03-01 09:30:15.1234560' AS datetime2(7))"
    )
    assert source.properties() == {
        "driver": "com.microsoft.sqlserver.jdbc.SQLServerDriver",
        "user": "etl",
        "password": "s3cret",
    }


def test_sqlserver_url_honours_trust_setting_and_default_port():
    source = jdbc_source(make_url("mssql+pyodbc://u:p@db/shop?TrustServerCertificate=yes"))
    assert source.jdbc_url().startswith("jdbc:sqlserver://db:1433;databaseName=shop;")
    assert source.jdbc_url().endswith("trustServerCertificate=yes")


def test_postgres_url_keeps_query_parameters():
    source = jdbc_source(make_url("postgresql+psycopg2://u:p@pg.local/oltp?sslmode=require"))
    assert source.jdbc_url() == "jdbc:postgresql://pg.local:5432/oltp?sslmode=require"
    assert source.table_ref("stores") == '"stores"'
    assert source.timestamp_literal(MOMENT) == "TIMESTAMP '2026-03-01 09:30:15.123456'"


def test_sqlite_reads_temporal_and_decimal_columns_as_text(tmp_path):
    source = jdbc_source(make_url(f"sqlite:///{tmp_path}/s.db"))
    assert source.jdbc_url() == f"jdbc:sqlite:{tmp_path}/s.db"
    assert source.timestamp_literal(MOMENT) == "'2026-03-01 09:30:15.123456'"
    assert source.text_families() == {"timestamp", "date", "decimal"}


def test_unsupported_backend_names_the_setting():
    with pytest.raises(Exception, match="RETAILNOVA_SOURCE_URL"):
        jdbc_source(make_url("oracle://u:p@h/db"))


@pytest.mark.parametrize("name", ["customers; DROP TABLE x", "a b", "1abc", "x'--", ""])
def test_identifiers_from_configuration_are_validated(name):
    with pytest.raises(ValueError, match="invalid"):
        check_identifier(name)
    with pytest.raises(ValueError):
        jdbc_source(make_url("postgresql://h/db")).quote(name)


def test_redact_and_describe_never_show_the_password():
    url = make_url("postgresql://etl:Pa55word!@db.corp:6543/oltp")
    assert "Pa55word!" not in describe(url)
    assert describe(url) == "postgresql at db.corp:6543/oltp"
    assert redact("login Pa55word! failed", url) == "login *** failed"
