"""The PII scan's query (macro pii_values_query) on a real Silver table:
through the Silver scan `assert_no_pii_in_silver`, with its failing rows
stored. Each probe value sits in a column of its own, so a hit names it."""

from __future__ import annotations

import pytest

from extract.pipeline import dbt, prepare_spark

PROBES = {
    "email": ("maria.p@gmail.com", "email"),
    "email_in_text": ("contact: Maria.P@Gmail.com today", "email"),
    "phone_spaced": ("+30 690 123 4567", "phone"),
    "phone_10_digits": ("6901234567", "phone"),
    # 15 digits, letters-and-digits only: the longest value the scan reads in full.
    "phone_15_digits": ("690123456789012", "phone"),
    "phone_15_digits_plus": ("+306901234567890", "phone"),
    "hash": ("9f2c" * 16, None),
    "md5_key": ("0123456789abcdef0123456789abcdef", None),
    "digits_16": ("6901234567890123", None),
    "long_id": ("20260630T180000Z", None),
    "date": ("2026-06-30", None),
    "bare_at": ("x@y", None),
}


@pytest.fixture
def hits(catalog, settings):
    settings.ensure_dirs()
    prepare_spark(settings, settings.resolve_pepper())
    columns = ", ".join(f"'{value}' as {name}" for name, (value, _) in PROBES.items())
    # A table model's relation, read whole by the scan.
    catalog.sql(
        f"create table silver.int_stores_cleaned using delta as select 1 as store_id, {columns}"
    )
    passed = dbt(settings, ["test", "--select", "assert_no_pii_in_silver", "--store-failures"])
    rows = catalog.table("dq_failures.assert_no_pii_in_silver").collect()
    return passed, {(row.column_name, row.pii_kind): row.hits for row in rows}


def test_the_scan_finds_every_email_and_phone_and_nothing_else(hits):
    passed, found = hits
    expected = {(name, kind): 1 for name, (_, kind) in PROBES.items() if kind}
    assert not passed
    assert found == expected
