"""Data Quality: the rules table with severities, the latest run's results,
the pass rate over runs, and a failing rule's stored rows on demand."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from app import components as ui
from app import data

st.title("Data Quality")
src = ui.sources()
rules = ui.metadata(data.dq_rules, src.metadata_url)
log = ui.metadata(data.dq_log, src.metadata_url)
if rules.empty and log.empty:
    ui.no_runs(src, "data-quality rules or results")
    st.caption(
        "Rules live in `seeds/dq_rules.csv`; `retailnova dq generate` turns them into dbt tests "
        "and each run records one result per rule."
    )
    st.stop()

quality = data.quality_by_run(log)
latest = data.latest_quality(log)
newest = data.latest_per_rule(log, rules)
if quality:
    last = quality[-1]
    before = quality[-2] if len(quality) > 1 else None
    cards = st.columns(4)
    cards[0].metric(
        "Pass rate",
        ui.percent(last.pass_rate),
        f"{(last.pass_rate - before.pass_rate) * 100:+.1f} pp" if before else None,
        border=True,
        help=f"Rules with status PASS in run {last.run_id} ({ui.stamp(last.evaluated_at)})",
    )
    cards[1].metric("Passed", f"{last.passed} / {last.total}", border=True)
    cards[2].metric("Warnings", ui.count(last.warnings), border=True)
    cards[3].metric(
        "Failures", ui.count(last.failures), border=True, help="FAIL, and ERROR (not evaluated)"
    )
else:
    st.info("No results recorded yet: the next `retailnova run` evaluates every active rule.")

st.subheader("Pass rate over runs")
if quality:
    history = pd.DataFrame(
        {
            "run_id": [q.run_id for q in quality],
            "evaluated_at": [q.evaluated_at for q in quality],
            "pass_rate": [q.pass_rate for q in quality],
            "passed": [q.passed for q in quality],
            "total": [q.total for q in quality],
        }
    )
    chart = (
        alt.Chart(history)
        .mark_line(point=alt.OverlayMarkDef(size=60))
        .encode(
            x=alt.X(
                "run_id:O",
                title="Run",
                sort=None,
                axis=alt.Axis(labelAngle=-30, labelLimit=240),
            ),
            y=alt.Y(
                "pass_rate:Q",
                title="Pass rate",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format=".0%"),
            ),
            tooltip=[
                alt.Tooltip("run_id:N", title="Run"),
                alt.Tooltip("evaluated_at:T", title="Evaluated", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("pass_rate:Q", title="Pass rate", format=".1%"),
                alt.Tooltip("passed:Q", title="Passed"),
                alt.Tooltip("total:Q", title="Rules"),
            ],
        )
        .properties(height=240)
    )
    st.altair_chart(chart, width="stretch")
else:
    st.caption("No runs with results yet.")

st.subheader("Latest results")
if latest.empty:
    st.caption("No results yet.")
else:
    st.caption(
        f"Run `{latest['run_id'].iloc[0]}`, evaluated {ui.stamp(latest['evaluated_at'].max())}"
    )
    # Worst first: failures, then warnings, each by severity.
    rank = {"FAIL": 0, "ERROR": 0, "WARNING": 1, "PASS": 2}
    weight = {"CRITICAL": 0, "WARNING": 1, "INFO": 2}
    shown = latest.assign(
        _rank=latest["status"].map(rank).fillna(3), _weight=latest["severity"].map(weight)
    ).sort_values(["_rank", "_weight", "rule_name"])[
        [
            "rule_name",
            "status",
            "severity",
            "target_table",
            "target_column",
            "checked_rows",
            "failing_rows",
            "pass_rate",
        ]
    ]
    st.dataframe(
        ui.badges(shown, "status", "severity"),
        hide_index=True,
        column_config={
            "rule_name": "Rule",
            "status": "Status",
            "severity": "Severity",
            "target_table": "Table",
            "target_column": "Column",
            "checked_rows": st.column_config.NumberColumn("Checked rows", format="%d"),
            "failing_rows": st.column_config.NumberColumn("Failing rows", format="%d"),
            "pass_rate": st.column_config.ProgressColumn(
                "Pass rate", format="percent", min_value=0.0, max_value=1.0
            ),
        },
    )

st.subheader("Rules")
if rules.empty:
    st.caption("The rules table has not been synced yet: it is written by every run.")
else:
    table = rules.assign(
        parameters=rules["parameters"].map(
            lambda p: ", ".join(f"{k}={v}" for k, v in json.loads(p).items()) if p else ""
        ),
        # A rule a later run did not evaluate (a Gold-only run) keeps its last result.
        last_status=rules["rule_name"].map(
            dict(zip(newest["rule_name"], newest["status"], strict=True))
            if not newest.empty
            else {}
        ),
    )[
        [
            "rule_name",
            "severity",
            "last_status",
            "rule_type",
            "target_table",
            "target_column",
            "parameters",
            "is_active",
            "description",
        ]
    ]
    st.dataframe(
        ui.badges(table, "severity", "last_status"),
        hide_index=True,
        column_config={
            "rule_name": "Rule",
            "severity": "Severity",
            "last_status": "Latest status",
            "rule_type": "Type",
            "target_table": "Table",
            "target_column": "Column",
            "parameters": "Parameters",
            "is_active": st.column_config.CheckboxColumn("Active"),
            "description": "Description",
        },
    )

failing = latest[latest["status"].isin(["WARNING", "FAIL"])] if not latest.empty else latest
if not failing.empty:
    st.subheader("Failing rows")
    rule = st.selectbox("Rule", list(failing["rule_name"]), key="dq_failing_rule")
    if st.button("Show failing rows", icon=":material/table_rows:"):
        rows = data.failing_rows(src.gold, rule, storage=src.storage)
        if rows is None:
            st.info(f"No stored failures for {rule} (dbt stores them in schema dq_failures).")
        else:
            st.dataframe(rows, hide_index=True)

ui.based_on(src, [])
