"""Overview: the latest month's revenue, orders and customers, the data-quality
pass rate, each against the period before; the revenue trend; the latest runs."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import components as ui
from app import data

st.title("Overview")
src = ui.sources()
kpis, info = ui.require_gold(
    src,
    "agg_monthly_kpis",
    empty="gold.agg_monthly_kpis is empty: no revenue-bearing order yet (an order counts once it "
    "is Shipped or Delivered). Run `retailnova source simulate` then `retailnova run`.",
)

kpis = kpis.sort_values("month_start").reset_index(drop=True)
months = list(kpis["month_start"])
month = st.selectbox(
    "Month", months, index=len(months) - 1, format_func=ui.month_label, key="overview_month"
)
current = kpis[kpis["month_start"] == month].iloc[0]
previous_start = pd.Timestamp(month) - pd.DateOffset(months=1)
before = kpis[kpis["month_start"] == previous_start]
previous = before.iloc[0] if not before.empty else None


def prior(column: str) -> float | None:
    return None if previous is None else float(previous[column])


log = ui.metadata(data.dq_log, src.metadata_url)
quality = data.quality_by_run(log)

last_day = data.last_sale_day(src)
partial = last_day is not None and (last_day.year, last_day.month) == (
    pd.Timestamp(month).year,
    pd.Timestamp(month).month,
)
st.caption(
    ui.month_label(month)
    + (f" (sales through {last_day:%Y-%m-%d})" if partial else "")
    + " against "
    + (ui.month_label(previous_start) if previous is not None else "no previous month in Gold")
)
revenue, orders, customers, dq = st.columns(4)
revenue.metric(
    "Revenue",
    ui.money(current["total_revenue"]),
    ui.change(current["total_revenue"], prior("total_revenue")),
    border=True,
)
orders.metric(
    "Orders",
    ui.count(current["order_count"]),
    ui.change(current["order_count"], prior("order_count")),
    border=True,
)
customers.metric(
    "Customers",
    ui.count(current["unique_customers"]),
    ui.change(current["unique_customers"], prior("unique_customers")),
    border=True,
)
if quality:
    latest = quality[-1]
    delta = (
        f"{(latest.pass_rate - quality[-2].pass_rate) * 100:+.1f} pp" if len(quality) > 1 else None
    )
    dq.metric(
        "DQ pass rate",
        ui.percent(latest.pass_rate),
        delta,
        border=True,
        help=f"{latest.passed} of {latest.total} rules passed in run {latest.run_id}; "
        "the change is against the run before it",
    )
else:
    dq.metric("DQ pass rate", ui.DASH, border=True, help="No data-quality results recorded yet")

st.subheader("Revenue by month")
trend = kpis.assign(
    month=kpis["month_start"], revenue=kpis["total_revenue"], shown=kpis["month_start"] == month
)
chart = (
    alt.Chart(trend)
    .mark_bar()
    .encode(
        x=alt.X("yearmonth(month):T", title=None),
        y=alt.Y("revenue:Q", title="Revenue (€)"),
        color=alt.Color(
            "shown:N",
            scale=alt.Scale(domain=[False, True], range=["#1e88e5", "#ff8f00"]),
            legend=None,
        ),
        tooltip=[
            alt.Tooltip("yearmonth(month):T", title="Month"),
            alt.Tooltip("revenue:Q", title="Revenue", format=",.2f"),
            alt.Tooltip("order_count:Q", title="Orders", format=","),
        ],
    )
    .properties(height=280)
)
st.altair_chart(chart, width="stretch")

st.subheader("Latest runs")
recent = ui.metadata(data.runs, src.metadata_url)
if recent.empty:
    ui.no_runs(src, "runs")
else:
    shown = recent.head(10)[
        ["run_id", "command", "status", "started_at", "duration_seconds", "error_message"]
    ].fillna({"error_message": ""})
    st.dataframe(
        ui.badges(shown, "status"),
        hide_index=True,
        column_config={
            "run_id": "Run",
            "command": "Command",
            "status": "Status",
            "started_at": st.column_config.DatetimeColumn(
                "Started (UTC)", format="YYYY-MM-DD HH:mm"
            ),
            "duration_seconds": st.column_config.NumberColumn("Duration (s)", format="%.1f"),
            "error_message": "Error",
        },
    )

ui.based_on(src, [info])
