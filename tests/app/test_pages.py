"""Every page of the app through streamlit.testing.v1.AppTest: over a real
pipeline run, its cards show Gold's numbers (read here straight from the Delta
tables) and the metadata store's; over an empty home, a helpful message and
never a traceback."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from deltalake import DeltaTable
from sqlalchemy import create_engine, text
from streamlit.testing.v1 import AppTest

from app import data
from extract.dq import RuleResult
from extract.metadata import MetadataStore
from tests.app.conftest import ENTRYPOINT, PAGES, PipelineHome

TIMEOUT = 60  # seconds for one script run; a cold first run imports pandas, altair, deltalake


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(ENTRYPOINT), default_timeout=TIMEOUT)
    at.run()
    if page != "views/overview.py":
        at.switch_page(page).run()
    return at


def rendered(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def cards(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def gold_rows(pipeline: PipelineHome, table: str, columns: Iterable[str] | None = None):
    delta = DeltaTable(str(pipeline.gold / table))
    rows = delta.to_pyarrow_table(columns=list(columns) if columns else None).to_pylist()
    return rows, delta.version()


def money(value: Decimal) -> str:
    return f"€{value.quantize(Decimal('0.01'), ROUND_HALF_EVEN):,.2f}"


def change(current, previous) -> str:
    return f"{(float(current) - float(previous)) / float(previous) * 100:+.1f}%"


def store_rows(pipeline: PipelineHome, sql: str) -> list[dict]:
    engine = create_engine(pipeline.metadata_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def provenance(at: AppTest, pipeline: PipelineHome, *tables: str) -> None:
    """The page names the Gold versions it read and the run that built them."""
    shown = captions(at)
    for table in tables:
        version = DeltaTable(str(pipeline.gold / table)).version()
        assert f"gold.{table} v{version} (committed " in shown, shown
    assert f"last successful run `{pipeline.run_id}`" in shown, shown


# --- Over a real run ----------------------------------------------------------------------


@pytest.fixture
def at_run(pipeline_home, app_env):
    app_env(pipeline_home.home)
    return pipeline_home


def test_overview_cards_are_golds_latest_month_against_the_one_before(at_run):
    at = open_page("views/overview.py")

    rendered(at)
    kpis, _ = gold_rows(at_run, "agg_monthly_kpis")
    by_month = {r["month_start"]: r for r in kpis}
    latest = max(by_month)
    previous = by_month.get(date(latest.year - (latest.month == 1), (latest.month - 2) % 12 + 1, 1))
    now = by_month[latest]
    shown = cards(at)
    assert shown["Revenue"][0] == money(now["total_revenue"])
    assert shown["Orders"][0] == f"{now['order_count']:,}"
    assert shown["Customers"][0] == f"{now['unique_customers']:,}"
    assert previous is not None, "the sample source has every month of its history"
    assert shown["Revenue"][1] == change(now["total_revenue"], previous["total_revenue"])
    assert shown["Orders"][1] == change(now["order_count"], previous["order_count"])
    assert shown["Customers"][1] == change(now["unique_customers"], previous["unique_customers"])
    results = store_rows(
        at_run,
        "SELECT status FROM data_quality_log WHERE run_id = "
        "(SELECT run_id FROM data_quality_log ORDER BY log_id DESC LIMIT 1)",
    )
    passed = sum(r["status"] == "PASS" for r in results)
    assert shown["DQ pass rate"][0] == f"{passed / len(results) * 100:.1f}%"
    assert charts(at) >= 1
    assert at_run.run_id in set(at.dataframe[0].value["run_id"])
    provenance(at, at_run, "agg_monthly_kpis")


def test_kpis_cards_cover_the_chosen_months(at_run):
    at = open_page("views/kpis.py")

    rendered(at)
    kpis, _ = gold_rows(at_run, "agg_monthly_kpis")
    kpis.sort(key=lambda r: r["month_start"])
    revenue = sum(r["total_revenue"] for r in kpis)
    orders = sum(r["order_count"] for r in kpis)
    last = kpis[-1]
    shown = cards(at)
    assert shown["Revenue"][0] == money(revenue)
    assert shown["Orders"][0] == f"{orders:,}"
    assert shown["Avg order value"][0] == money(revenue / orders)
    assert shown["Avg basket size"][0] == f"{float(last['avg_basket_size']):.2f}"
    assert shown["CLV to date"][0] == money(last["clv_to_date"])
    assert shown["Repeat rate"][0] == f"{float(last['repeat_purchase_rate']) * 100:.1f}%"
    assert charts(at) == 6
    provenance(at, at_run, "agg_monthly_kpis")

    # The date range filter: the last three months only.
    months = [r["month_start"] for r in kpis]
    at.select_slider(key="kpis_range").set_range(months[-3], months[-1]).run()

    rendered(at)
    window = kpis[-3:]
    revenue = sum(r["total_revenue"] for r in window)
    assert cards(at)["Revenue"][0] == money(revenue)
    assert cards(at)["Orders"][0] == f"{sum(r['order_count'] for r in window):,}"


def test_kpis_of_every_store_recomputed_from_fact_sales_are_agg_monthly_kpis(at_run):
    gold, _ = gold_rows(at_run, "agg_monthly_kpis")
    _, version = gold_rows(at_run, "fact_sales", ["order_id"])
    stores, _ = gold_rows(at_run, "dim_store", ["store_key"])

    for keys in (None, tuple(s["store_key"] for s in stores)):
        recomputed = data.monthly_kpis(data.read_sales(str(at_run.gold), version, keys))

        by_month = {r["month_start"].date(): r for r in recomputed.to_dict("records")}
        assert sorted(by_month) == sorted(r["month_start"] for r in gold)
        for row in gold:
            mine = by_month[row["month_start"]]
            for column in data.KPI_COLUMNS[1:]:
                expected = row[column]
                assert mine[column] == (None if expected is None else float(expected)), (
                    row["month_start"],
                    column,
                )


def channel_oracle(pipeline: PipelineHome, channel: str) -> dict | None:
    """The KPI page's cards over all months for one channel, counted here row
    by row from gold.fact_sales and gold.dim_store."""
    stores, _ = gold_rows(pipeline, "dim_store", ["store_key", "channel"])
    keys = {s["store_key"] for s in stores if s["channel"] == channel}
    sales, _ = gold_rows(
        pipeline, "fact_sales", ["order_id", "customer_id", "order_date", "net_amount", "store_key"]
    )
    mine = [r for r in sales if r["store_key"] in keys]
    if not mine:
        return None
    monthly = defaultdict(Decimal)
    orders_by_month = defaultdict(set)
    orders_by_customer = defaultdict(set)
    for row in mine:
        month = (row["order_date"].year, row["order_date"].month)
        monthly[month] += row["net_amount"]
        orders_by_month[month].add(row["order_id"])
        if row["customer_id"] is not None:
            orders_by_customer[row["customer_id"]].add(row["order_id"])
    revenue = sum(m.quantize(Decimal("0.01"), ROUND_HALF_UP) for m in monthly.values())
    buyers = len(orders_by_customer)
    repeaters = sum(len(o) >= 2 for o in orders_by_customer.values())
    total = sum(monthly.values())
    return {
        "Revenue": money(revenue),
        "Orders": f"{sum(len(o) for o in orders_by_month.values()):,}",
        "CLV to date": money((total / buyers).quantize(Decimal("0.01"), ROUND_HALF_UP)),
        "Repeat rate": f"{repeaters / buyers * 100:.1f}%",
    }


def test_kpis_channel_and_store_filter(at_run):
    stores, store_version = gold_rows(at_run, "dim_store", ["store_name", "channel"])
    _, fact_version = gold_rows(at_run, "fact_sales", ["order_id"])
    channels = sorted({s["channel"] for s in stores})
    at = open_page("views/kpis.py")
    everything = cards(at)["Revenue"][0]
    with_sales = 0

    for channel in channels:
        at.multiselect(key="kpis_channel").set_value([channel]).run()

        rendered(at)
        expected = channel_oracle(at_run, channel)
        assert f"gold.fact_sales v{fact_version} (committed " in captions(at)
        assert f"gold.dim_store v{store_version} (committed " in captions(at)
        if expected is None:  # e.g. the unknown member's channel
            assert "No sales between" in at.info[0].value
            assert not cards(at)
            continue
        with_sales += 1
        shown = cards(at)
        assert {label: shown[label][0] for label in expected} == expected, channel
        assert shown["Revenue"][0] != everything, "a channel is a part of the chain"
        assert f"Sales of channel {channel} (gold.fact_sales)" in captions(at)
        assert charts(at) == 6
    assert with_sales >= 2, "the sample chain sells in stores and online"

    # A store outside the chosen channel: nothing matches, and the page says so.
    other = next(s["store_name"] for s in stores if s["channel"] != channels[-1])
    at.multiselect(key="kpis_store").set_value([other]).run()

    rendered(at)
    assert "No store has" in at.info[0].value
    assert not cards(at)

    at.multiselect(key="kpis_channel").set_value([]).run()
    at.multiselect(key="kpis_store").set_value([]).run()

    assert cards(at)["Revenue"][0] == everything


def manifest_upstream(pipeline: PipelineHome, table: str) -> set[str]:
    """What dbt's manifest says `table` is built from, through depends_on."""
    nodes = json.loads((pipeline.home / "dbt" / "target" / "manifest.json").read_text())["nodes"]
    by_id = {uid: node for uid, node in nodes.items() if node["resource_type"] != "test"}
    found, todo = set(), [uid for uid, n in by_id.items() if n["name"] == table]
    while todo:
        node = by_id[todo.pop()]
        if node["name"] not in found:
            found.add(node["name"])
            todo += [p for p in node["depends_on"]["nodes"] if p in by_id]
    return found


def badge_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown if "DQ " in m.value)


NEWEST_PER_RULE = (
    "SELECT log.rule_name, log.target_table, log.status FROM data_quality_log AS log "
    "JOIN data_quality_rules AS rules ON rules.rule_name = log.rule_name AND rules.is_active "
    "WHERE log.log_id = (SELECT max(log_id) FROM data_quality_log WHERE rule_name = log.rule_name)"
)


def expected_badge(pipeline: PipelineHome, targets: set[str]) -> str:
    latest = store_rows(pipeline, NEWEST_PER_RULE)
    rules = [r for r in latest if r["target_table"] in targets]
    passed = sum(r["status"] == "PASS" for r in rules)
    return f"DQ {passed}/{len(rules)} pass"


def test_trust_badge_counts_the_rules_on_the_tables_behind_the_page(at_run):
    at = open_page("views/kpis.py")

    behind = manifest_upstream(at_run, "agg_monthly_kpis")
    assert {"fact_sales", "int_orders_enriched"} <= behind
    assert expected_badge(at_run, behind) in badge_text(at)

    # Filtered by store: the page reads fact_sales and dim_store instead.
    at.multiselect(key="kpis_channel").set_value([at.multiselect(key="kpis_channel").options[0]])
    at.run()

    behind = manifest_upstream(at_run, "fact_sales") | manifest_upstream(at_run, "dim_store")
    assert expected_badge(at_run, behind) in badge_text(at)


def test_trust_badge_without_a_manifest_counts_the_pages_own_tables(at_run, tmp_path):
    src = data.Sources(
        home=str(tmp_path),  # no dbt/target/manifest.json here
        gold=str(at_run.gold),
        metadata_url=at_run.metadata_url,
        metadata_label="test",
    )
    latest = data.latest_per_rule(data.dq_log(src.metadata_url), data.dq_rules(src.metadata_url))

    relevant, scope = data.quality_behind(src, latest, ["fact_sales"])

    assert set(relevant["target_table"]) == {"fact_sales"}
    assert len(relevant) == len(latest[latest["target_table"] == "fact_sales"]) > 0
    assert "no dbt manifest" in scope


def test_trust_badge_keeps_each_rules_newest_result_across_runs(at_run, tmp_path):
    """A run that rebuilds only Gold evaluates only Gold's rules: the Silver
    rules keep the result of the run that last evaluated them."""
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    shutil.copy(at_run.home / "metadata.db", tmp_path / "metadata.db")
    full_run = store_rows(at_run, NEWEST_PER_RULE)
    gold_rule = next(r for r in full_run if r["target_table"] == "fact_sales")
    store = MetadataStore(url)
    store.log_quality(
        "a-gold-only-run",
        [RuleResult(gold_rule["rule_name"], "fact_sales", None, "CRITICAL", "FAIL", 10, 1)],
    )
    store.dispose()

    newest = data.latest_per_rule(data.dq_log(url), data.dq_rules(url))

    statuses = dict(zip(newest["rule_name"], newest["status"], strict=True))
    assert statuses == {r["rule_name"]: r["status"] for r in full_run} | {
        gold_rule["rule_name"]: "FAIL"
    }


def test_customers_segments_table_and_cohorts(at_run):
    at = open_page("views/customers.py")

    rendered(at)
    segments, _ = gold_rows(at_run, "customer_segments")
    shown = cards(at)
    assert shown["Customers with orders"][0] == f"{len(segments):,}"
    champions = sum(r["segment"] == "Champions" for r in segments)
    assert shown["Champions"][0] == f"{champions:,}"
    assert shown["At Risk"][0] == f"{sum(r['segment'] == 'At Risk' for r in segments):,}"
    assert shown["RFM as of"][0] == max(r["as_of_date"] for r in segments).isoformat()
    assert charts(at) == 2  # the segment distribution and the cohort heatmap
    per_segment, customers = at.dataframe[0].value, at.dataframe[1].value
    counts = dict(zip(per_segment["segment"], per_segment["customers"], strict=True))
    assert counts == {
        s: sum(r["segment"] == s for r in segments) for s in {r["segment"] for r in segments}
    }
    assert len(customers) == len(segments)
    provenance(at, at_run, "customer_segments", "cohort_analysis", "dim_customer")

    at.multiselect(key="customers_segment").set_value(["Champions"]).run()

    rendered(at)
    customers = at.dataframe[1].value
    assert len(customers) == champions
    assert set(customers["segment"]) == {"Champions"}


def test_data_quality_pass_rate_rules_and_history(at_run):
    at = open_page("views/data_quality.py")

    rendered(at)
    latest = store_rows(
        at_run,
        "SELECT rule_name, status FROM data_quality_log WHERE run_id = "
        "(SELECT run_id FROM data_quality_log ORDER BY log_id DESC LIMIT 1)",
    )
    rules = store_rows(at_run, "SELECT rule_name, severity FROM data_quality_rules")
    passed = sum(r["status"] == "PASS" for r in latest)
    shown = cards(at)
    assert shown["Pass rate"][0] == f"{passed / len(latest) * 100:.1f}%"
    assert shown["Passed"][0] == f"{passed} / {len(latest)}"
    assert shown["Warnings"][0] == f"{sum(r['status'] == 'WARNING' for r in latest):,}"
    assert shown["Failures"][0] == f"{sum(r['status'] in ('FAIL', 'ERROR') for r in latest):,}"
    assert charts(at) == 1
    results, table = at.dataframe[0].value, at.dataframe[1].value
    assert sorted(results["rule_name"]) == sorted(r["rule_name"] for r in latest)
    assert len(table) == len(rules)
    assert {s.split()[-1] for s in table["severity"]} == {r["severity"] for r in rules}


def test_pipeline_monitor_runs_steps_and_watermarks(at_run):
    at = open_page("views/pipeline_monitor.py")

    rendered(at)
    shown = cards(at)
    assert shown["Latest run"][0].endswith("SUCCESS")
    errors = store_rows(at_run, "SELECT error_id FROM pipeline_errors")
    assert shown["Errors and retries"][0] == f"{len(errors):,}"
    _, version = gold_rows(at_run, "fact_sales", ["order_id"])
    assert shown["Gold fact_sales"][0] == f"v{version}"
    assert charts(at) == 1
    frames = [d.value for d in at.dataframe]
    runs, steps, watermarks = frames[0], frames[1], frames[2]
    recorded = store_rows(at_run, "SELECT run_id FROM pipeline_runs")
    assert sorted(runs["run_id"]) == sorted(r["run_id"] for r in recorded)
    shown_run = at.selectbox(key="monitor_run").value
    steps_recorded = store_rows(
        at_run, f"SELECT step FROM pipeline_executions WHERE run_id = '{shown_run}'"
    )
    assert steps_recorded, "the newest run with steps is shown"
    assert sorted(steps["step"]) == sorted(r["step"] for r in steps_recorded)
    marks = store_rows(at_run, "SELECT table_name FROM pipeline_watermarks")
    assert sorted(watermarks["table_name"]) == sorted(r["table_name"] for r in marks)
    provenance(at, at_run, "fact_sales")


# --- Before any run -----------------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGES))
def test_an_empty_home_says_what_to_run(page, tmp_path, app_env):
    home = tmp_path / "home"
    app_env(home)

    at = open_page(page)

    rendered(at)
    messages = "\n".join(i.value for i in at.info)
    assert "retailnova run" in "\n".join(c.value for c in at.code), messages
    assert "No " in messages
    assert not home.exists(), "the app must not create a home (or a metadata store) by reading"


@pytest.mark.parametrize("page", list(PAGES))
def test_a_failed_first_run_leaves_no_gold_and_the_pages_say_so(page, tmp_path, app_env):
    home = tmp_path / "home"
    home.mkdir()
    store = MetadataStore(f"sqlite:///{home / 'metadata.db'}")
    with store.run("run") as run:
        run.fail("failed: sales_orders")
    store.dispose()
    app_env(home)

    at = open_page(page)

    rendered(at)
    if page == "views/pipeline_monitor.py":
        shown = cards(at)
        assert shown["Last successful run"][0] == "never"
        assert shown["Latest run"][0].endswith("FAILED")
        assert shown["Gold fact_sales"][0] == "not built"
    else:
        assert "retailnova run" in "\n".join(c.value for c in at.code)
        assert "No " in "\n".join(i.value for i in at.info)


def test_a_broken_setting_is_a_message_not_a_traceback(tmp_path, app_env, monkeypatch):
    app_env(tmp_path / "home")
    monkeypatch.setenv("RETAILNOVA_ENV", "staging")

    at = open_page("views/overview.py")

    assert not at.exception
    assert "RETAILNOVA_ENV" in at.error[0].value
