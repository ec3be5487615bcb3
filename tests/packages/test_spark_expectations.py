"""The local spark_expectations package: every test passes on good data and
fails on bad data, run by real dbt on the real Spark session."""

from __future__ import annotations

import pytest
from dbt.cli.main import dbtRunner

from extract.spark import ensure_schema
from extract.transform import PROJECT_DIR

INTEGRATION = PROJECT_DIR / "packages" / "spark_expectations" / "integration_tests"
TESTS = (
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_unique",
    "expect_column_values_to_be_between",
    "expect_column_values_to_match_regex",
    "expect_row_values_to_have_recent_data",
    "expect_table_row_count_to_be_between",
    "expect_column_proportion_of_non_null_values_to_be_between",
    "expect_column_checks_to_pass",
)


@pytest.fixture(scope="module")
def outcomes(spark, tmp_path_factory):
    from tests.conftest import make_settings

    for layer in ("bronze", "silver", "gold"):
        spark.sql(f"DROP DATABASE IF EXISTS {layer} CASCADE")
    settings = make_settings(tmp_path_factory.mktemp("expectations"))
    ensure_schema(spark, settings, "silver")
    common = [
        "--project-dir", str(INTEGRATION),
        "--profiles-dir", str(PROJECT_DIR / "profiles"),
        "--log-path", str(settings.logs),
    ]  # fmt: skip
    runner = dbtRunner()
    assert runner.invoke(["deps", *common]).success
    target = ["--target", "local", "--target-path", str(settings.home / "target")]
    result = runner.invoke(["build", *common, *target])
    assert result.result is not None, result.exception
    return {
        r.node.unique_id: (set(r.node.tags), str(r.status), r.failures, r.node.test_metadata.name)
        for r in result.result.results
        if r.node.resource_type == "test"
    }


def test_every_test_is_proven_both_ways(outcomes):
    for name in TESTS:
        tags = [set(tags) for tags, _, _, test in outcomes.values() if test == name]
        proven = set().union(*tags) if tags else set()
        assert {"expect_pass", "expect_fail"} <= proven, f"{name} is not proven both ways"


def test_tests_pass_on_good_data(outcomes):
    passing = {uid: status for uid, (tags, status, *_) in outcomes.items() if "expect_pass" in tags}
    assert passing
    assert not {uid: status for uid, status in passing.items() if status != "pass"}


def test_tests_fail_on_bad_data(outcomes):
    failing = {
        uid: (status, failures)
        for uid, (tags, status, failures, _) in outcomes.items()
        if "expect_fail" in tags
    }
    assert failing
    wrong = {uid: v for uid, v in failing.items() if v[0] != "fail" or v[1] < 1}
    assert not wrong


def test_column_checks_count_failing_rows_across_checks(outcomes):
    # readings_bad: two null readings, reading_id 1 twice, sensors c and d
    # outside [a, b]; one query, the failures summed over its groups.
    counted = [failures for tags, _, failures, _ in outcomes.values() if "six_failing_rows" in tags]
    assert counted == [6]
