"""The rules table: validation that names the row, and generation of the tests."""

from __future__ import annotations

import pytest

from extract import dq
from extract.transform import NodeResult

HEADER = (
    "rule_name,target_table,target_column,rule_type,min_value,max_value,pattern,"
    "max_age_days,min_rows,threshold_pct,severity,is_active,description\n"
)


@pytest.fixture
def models(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "orders.sql").write_text("select 1")
    (folder / "_models.yml").write_text(
        "version: 2\nmodels:\n  - name: orders\n    columns:\n"
        "      - name: order_id\n      - name: discount_pct\n"
    )
    return folder


def rules_file(tmp_path, *rows: str):
    path = tmp_path / "dq_rules.csv"
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows))
    return path


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("r1,orders,order_id,sameness,,,,,,,CRITICAL,true,", r"line 2 \(r1\): unknown rule_type"),
        ("r2,nowhere,order_id,not_null,,,,,,,CRITICAL,true,", "'nowhere' is not a model"),
        ("r3,orders,ghost,not_null,,,,,,,CRITICAL,true,", "column 'ghost' does not exist"),
        ("r4,orders,order_id,regex,,,^([a-z,,,,WARNING,true,", "bad regex"),
        ("r5,orders,discount_pct,range,,,,,,,WARNING,true,", "needs min_value or max_value"),
        ("r6,orders,discount_pct,range,low,,,,,,WARNING,true,", "min_value must be a number"),
        ("r7,orders,order_id,not_null,,,,,,,URGENT,true,", "severity must be"),
        ("r8 x,orders,order_id,not_null,,,,,,,INFO,true,", "invalid rule_name"),
    ],
)
def test_an_invalid_row_is_a_clear_error_naming_it(tmp_path, models, row, message):
    with pytest.raises(dq.RuleError, match=message) as caught:
        dq.load_rules(rules_file(tmp_path, row), models)
    assert "dq_rules.csv line 2" in str(caught.value)


def test_the_shipped_rules_are_the_reference_18():
    rules = dq.load_rules()
    kinds = [r.rule_type for r in rules if r.is_active]
    assert len(kinds) == 18
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "not_null": 5, "unique": 3, "range": 3, "regex": 2,
        "row_count": 2, "freshness": 1, "completeness": 2,
    }  # fmt: skip


def test_rendered_tests_carry_severity_and_parameters(tmp_path, models):
    path = rules_file(
        tmp_path,
        r"code_format,orders,order_id,regex,,,^[A-Z]\d+'$,,,,INFO,true,Codes",
        "discount_range,orders,discount_pct,range,0,100,,,,,CRITICAL,true,Discounts",
        "complete,orders,order_id,completeness,,,,,,80,WARNING,true,",
        "off,orders,order_id,not_null,,,,,,,INFO,false,",
    )
    rules = dq.load_rules(path, models)

    files = {p.name: text for p, text in dq.generated_files(rules).items()}

    assert set(files) == {"code_format.sql", "discount_range.sql", "complete.sql"}
    assert files["code_format.sql"].startswith(dq.MARKER)
    assert "severity='warn'" in files["code_format.sql"]
    assert r"regex='^[A-Z]\\d+\'$'" in files["code_format.sql"]
    assert "severity='error'" in files["discount_range.sql"]
    assert "min_value=0,\n    max_value=100" in files["discount_range.sql"]
    assert "min_value=0.8" in files["complete.sql"]


def test_row_by_row_rules_on_a_model_with_a_landed_column_are_scoped(tmp_path, models):
    (models / "facts.sql").write_text("select 1")
    (models / "_facts.yml").write_text(
        "version: 2\nmodels:\n  - name: facts\n    config:\n      meta:\n"
        "        landed_column: loaded_at\n    columns:\n      - name: line_id\n"
    )
    path = rules_file(
        tmp_path,
        "line_unique,facts,line_id,unique,,,,,,,CRITICAL,true,",
        "line_present,facts,line_id,not_null,,,,,,,CRITICAL,true,",
        "facts_exist,facts,,row_count,,,,,1,,CRITICAL,true,",
        "order_unique,orders,order_id,unique,,,,,,,CRITICAL,true,",
    )

    files = {p.stem: text for p, text in dq.generated_files(dq.load_rules(path, models)).items()}

    scoped = "tags=['dq', 'dq_critical', 'landed_scope']"
    assert scoped in files["line_unique"] and scoped in files["line_present"]
    assert "'landed_column': 'loaded_at'" in files["line_present"]
    assert (
        "row_condition=landed_rows(ref('facts'), 'loaded_at', key='line_id')"
        in files["line_unique"]
    )
    assert "row_condition=landed_rows(ref('facts'), 'loaded_at')\n" in files["line_present"]
    # A table-level rule, and a model without the column, read every row.
    for whole in ("facts_exist", "order_unique"):
        assert "landed" not in files[whole], whole


def test_results_map_dbt_statuses_and_never_pass_silently():
    rules = dq.load_rules()[:3]
    nodes = [
        NodeResult("t1", "test", rules[0].rule_name, None, "test", "pass", 0.1, failures=0),
        NodeResult("t2", "test", rules[1].rule_name, None, "test", "fail", 0.1, failures=4),
    ]

    results = dq.evaluate(rules, nodes, lambda table: 100)

    assert [r.status for r in results] == ["PASS", "FAIL", "ERROR"]
    assert results[1].failing_rows == 4 and results[1].pass_rate == pytest.approx(0.96)
    assert results[2].checked_rows is None
    assert dq.summary_line(results) == (
        f"DATA QUALITY: 1/3 PASS, 1 FAIL ({rules[1].rule_name}), 1 ERROR ({rules[2].rule_name})"
    )


def test_generated_tests_are_up_to_date():
    assert dq.generate(check=True) == [], "run `retailnova dq generate`"
