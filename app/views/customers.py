"""Customers: RFM segments (gold.customer_segments) with per-segment figures,
the customer list by segment, and cohort retention (gold.cohort_analysis)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import components as ui
from app import data

st.title("Customers")
src = ui.sources()
segments, segments_info = ui.require_gold(
    src,
    "customer_segments",
    missing=["cohort_analysis"],
    empty="gold.customer_segments is empty: no customer has a revenue-bearing order yet.",
)

order = [s for s in ui.SEGMENTS if s in set(segments["segment"])] + sorted(
    set(segments["segment"]) - set(ui.SEGMENTS)
)
as_of = segments["as_of_date"].max()
total_customers = len(segments)
total_revenue = segments["monetary"].sum()

cards = st.columns(4)
cards[0].metric("Customers with orders", ui.count(total_customers), border=True)
cards[1].metric("Champions", ui.count((segments["segment"] == "Champions").sum()), border=True)
cards[2].metric("At Risk", ui.count((segments["segment"] == "At Risk").sum()), border=True)
cards[3].metric(
    "RFM as of",
    pd.Timestamp(as_of).strftime("%Y-%m-%d"),
    border=True,
    help="Recency is counted to this date (dbt var as_of_date, default the latest order date)",
)

stats = (
    segments.groupby("segment")
    .agg(
        customers=("customer_id", "count"),
        avg_recency_days=("recency_days", "mean"),
        avg_frequency=("frequency", "mean"),
        avg_monetary=("monetary", "mean"),
        revenue=("monetary", "sum"),
    )
    .reindex(order)
    .reset_index()
)
stats["customer_share"] = stats["customers"] / total_customers
stats["revenue_share"] = stats["revenue"] / total_revenue if total_revenue else 0.0

colors = alt.Scale(domain=list(ui.SEGMENTS), range=list(ui.SEGMENT_COLORS))
left, right = st.columns([2, 3])
with left:
    st.subheader("Segments")
    distribution = (
        alt.Chart(stats)
        .mark_bar()
        .encode(
            y=alt.Y("segment:N", sort=order, title=None),
            x=alt.X("customers:Q", title="Customers"),
            color=alt.Color("segment:N", scale=colors, legend=None),
            tooltip=[
                alt.Tooltip("segment:N", title="Segment"),
                alt.Tooltip("customers:Q", title="Customers", format=","),
                alt.Tooltip("customer_share:Q", title="Share", format=".1%"),
                alt.Tooltip("revenue:Q", title="Revenue", format=",.2f"),
            ],
        )
        .properties(height=240)
    )
    st.altair_chart(distribution, width="stretch")
with right:
    st.subheader("Per segment")
    st.dataframe(
        stats,
        hide_index=True,
        column_config={
            "segment": "Segment",
            "customers": st.column_config.NumberColumn("Customers", format="%d"),
            "avg_recency_days": st.column_config.NumberColumn("Avg recency (days)", format="%.0f"),
            "avg_frequency": st.column_config.NumberColumn("Avg orders", format="%.1f"),
            "avg_monetary": st.column_config.NumberColumn("Avg revenue (€)", format="%.2f"),
            "revenue": st.column_config.NumberColumn("Revenue (€)", format="%.2f"),
            "customer_share": st.column_config.NumberColumn("Customer share", format="percent"),
            "revenue_share": st.column_config.NumberColumn("Revenue share", format="percent"),
        },
    )

st.subheader("Customers")
chosen = st.multiselect(
    "Segment", order, default=[], placeholder="All segments", key="customers_segment"
)
customers, customers_info = data.gold(
    src,
    "dim_customer",
    columns=(
        "customer_id",
        "first_name",
        "last_name",
        "city",
        "country",
        "loyalty_tier",
        "is_current",
    ),
)
table = segments if not chosen else segments[segments["segment"].isin(chosen)]
if customers is not None:
    current = customers[customers["is_current"]].drop(columns="is_current")
    table = table.merge(current, on="customer_id", how="left")
table = table.sort_values("monetary", ascending=False)
st.caption(f"{len(table):,} customers" + (f" in {', '.join(chosen)}" if chosen else ""))
columns = [
    c
    for c in (
        "customer_id",
        "first_name",
        "last_name",
        "city",
        "loyalty_tier",
        "segment",
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "last_order_date",
    )
    if c in table.columns
]
st.dataframe(
    table[columns],
    hide_index=True,
    column_config={
        "customer_id": st.column_config.NumberColumn("Customer", format="%d"),
        "first_name": "First name",
        "last_name": "Last name",
        "city": "City",
        "loyalty_tier": "Tier",
        "segment": "Segment",
        "recency_days": st.column_config.NumberColumn("Recency (days)", format="%d"),
        "frequency": st.column_config.NumberColumn("Orders", format="%d"),
        "monetary": st.column_config.NumberColumn("Revenue (€)", format="%.2f"),
        "r_score": "R",
        "f_score": "F",
        "m_score": "M",
        "last_order_date": st.column_config.DateColumn("Last order"),
    },
)

st.subheader("Cohort retention")
cohorts, cohorts_info = data.gold(src, "cohort_analysis")
if cohorts is None or cohorts.empty:
    st.info(
        "gold.cohort_analysis is not built yet: `retailnova run` builds it with the other marts.",
        icon=":material/hourglass_empty:",
    )
else:
    cohorts = cohorts.assign(cohort=cohorts["cohort_month"].dt.strftime("%Y-%m"))
    heatmap = (
        alt.Chart(cohorts)
        .mark_rect()
        .encode(
            x=alt.X("month_number:O", title="Months since first order"),
            y=alt.Y("cohort:O", title="Cohort (first order)", sort="ascending"),
            color=alt.Color(
                "retention_rate:Q",
                title="Retention",
                scale=alt.Scale(scheme="blues", domain=[0, 1]),
                legend=alt.Legend(format=".0%"),
            ),
            tooltip=[
                alt.Tooltip("cohort:O", title="Cohort"),
                alt.Tooltip("month_number:O", title="Month"),
                alt.Tooltip("cohort_size:Q", title="Cohort size", format=","),
                alt.Tooltip("active_customers:Q", title="Active", format=","),
                alt.Tooltip("retention_rate:Q", title="Retention", format=".1%"),
            ],
        )
        .properties(height=max(240, 16 * cohorts["cohort"].nunique()))
    )
    st.altair_chart(heatmap, width="stretch")

ui.based_on(src, [segments_info, cohorts_info, customers_info])
