"""Pipeline Monitor: runs with their durations, each run's steps, errors and
retries, the extraction watermark of each source table, and freshness."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import components as ui
from app import data

st.title("Pipeline Monitor")
src = ui.sources()
runs = ui.metadata(data.runs, src.metadata_url)
if runs.empty:
    ui.no_runs(src, "pipeline runs")
    st.stop()

executions = ui.metadata(data.executions, src.metadata_url)
errors = ui.metadata(data.errors, src.metadata_url)
watermarks = ui.metadata(data.watermarks, src.metadata_url)
success = data.last_successful_run(src.metadata_url)
fact = data.gold_info(src.gold, "fact_sales", src.storage)

cards = st.columns(4)
cards[0].metric(
    "Last successful run",
    ui.age(success["finished_at"]) if success else "never",
    border=True,
    help=f"{success['run_id']} finished {ui.stamp(success['finished_at'])}" if success else None,
)
newest = runs.iloc[0]
cards[1].metric(
    "Latest run",
    newest["status"],
    border=True,
    icon={
        "SUCCESS": ":material/check_circle:",
        "FAILED": ":material/error:",
        "RUNNING": ":material/pending:",
    }.get(newest["status"]),
    help=f"{newest['run_id']} ({newest['command']}) started {ui.stamp(newest['started_at'])}",
)
cards[2].metric(
    "Gold fact_sales",
    f"v{fact.version}" if fact else "not built",
    border=True,
    help=f"committed {ui.stamp(fact.committed_at)}" if fact else "run `retailnova run`",
)
cards[3].metric(
    "Errors and retries", ui.count(len(errors)), border=True, help="Recorded in pipeline_errors"
)

st.subheader("Runs")
timeline = runs.head(30).sort_values("started_at").copy()
timeline["started"] = pd.to_datetime(timeline["started_at"]).dt.strftime("%m-%d %H:%M:%S")
timeline["duration_seconds"] = timeline["duration_seconds"].fillna(
    (
        pd.Timestamp.now(tz="UTC").tz_localize(None) - pd.to_datetime(timeline["started_at"])
    ).dt.total_seconds()
)
chart = (
    alt.Chart(timeline)
    .mark_bar()
    .encode(
        x=alt.X("started:O", title="Started (UTC)", sort=None, axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("duration_seconds:Q", title="Duration (s)"),
        color=alt.Color(
            "status:N",
            scale=alt.Scale(
                domain=["SUCCESS", "FAILED", "RUNNING"], range=["#43a047", "#e53935", "#fb8c00"]
            ),
            legend=alt.Legend(orient="top", title=None),
        ),
        tooltip=[
            alt.Tooltip("run_id:N", title="Run"),
            alt.Tooltip("command:N", title="Command"),
            alt.Tooltip("status:N", title="Status"),
            alt.Tooltip("duration_seconds:Q", title="Duration (s)", format=",.1f"),
        ],
    )
    .properties(height=220)
)
st.altair_chart(chart, width="stretch")
st.dataframe(
    ui.badges(
        runs[
            [
                "run_id",
                "command",
                "status",
                "started_at",
                "finished_at",
                "duration_seconds",
                "sla_breached",
                "error_message",
            ]
        ].fillna({"error_message": ""}),
        "status",
    ),
    hide_index=True,
    column_config={
        "run_id": "Run",
        "command": "Command",
        "status": "Status",
        "started_at": st.column_config.DatetimeColumn(
            "Started (UTC)", format="YYYY-MM-DD HH:mm:ss"
        ),
        "finished_at": st.column_config.DatetimeColumn(
            "Finished (UTC)", format="YYYY-MM-DD HH:mm:ss"
        ),
        "duration_seconds": st.column_config.NumberColumn("Duration (s)", format="%.1f"),
        "sla_breached": st.column_config.CheckboxColumn("SLA breached"),
        "error_message": "Error",
    },
)

st.subheader("Steps of a run")
with_steps = [r for r in runs["run_id"] if not executions.empty and r in set(executions["run_id"])]
if not with_steps:
    st.caption("No steps recorded yet.")
else:
    run_id = st.selectbox("Run", with_steps, key="monitor_run")
    steps = executions[executions["run_id"] == run_id].sort_values("execution_id")
    st.dataframe(
        ui.badges(
            steps[
                [
                    "layer",
                    "step",
                    "status",
                    "rows_read",
                    "rows_written",
                    "duration_seconds",
                    "watermark_before",
                    "watermark_after",
                    "message",
                ]
            ].fillna({"message": ""}),
            "status",
        ),
        hide_index=True,
        column_config={
            "layer": "Layer",
            "step": "Step",
            "status": "Status",
            "rows_read": st.column_config.NumberColumn("Rows read", format="%d"),
            "rows_written": st.column_config.NumberColumn("Rows written", format="%d"),
            "duration_seconds": st.column_config.NumberColumn("Duration (s)", format="%.1f"),
            "watermark_before": st.column_config.DatetimeColumn("Watermark before"),
            "watermark_after": st.column_config.DatetimeColumn("Watermark after"),
            "message": "Message",
        },
    )

left, right = st.columns(2)
with left:
    st.subheader("Watermarks")
    if watermarks.empty:
        st.caption("Nothing extracted yet.")
    else:
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        marks = watermarks.assign(advanced=watermarks["updated_at"].map(lambda t: ui.age(t, now)))
        st.dataframe(
            marks[["table_name", "watermark", "advanced", "updated_at"]],
            hide_index=True,
            column_config={
                "table_name": "Source table",
                "watermark": st.column_config.DatetimeColumn(
                    "Watermark (source last_modified)", format="YYYY-MM-DD HH:mm:ss"
                ),
                "advanced": "Advanced",
                "updated_at": st.column_config.DatetimeColumn(
                    "Advanced at (UTC)", format="YYYY-MM-DD HH:mm"
                ),
            },
        )
with right:
    st.subheader("Errors and retries")
    if errors.empty:
        st.success("No errors recorded.", icon=":material/check_circle:")
    else:
        st.dataframe(
            errors[["occurred_at", "run_id", "step", "error_type", "message"]],
            hide_index=True,
            column_config={
                "occurred_at": st.column_config.DatetimeColumn(
                    "When (UTC)", format="YYYY-MM-DD HH:mm:ss"
                ),
                "run_id": "Run",
                "step": "Step",
                "error_type": "Type",
                "message": "Message",
            },
        )

ui.based_on(src, [fact])
