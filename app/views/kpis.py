"""KPIs over a chosen range of months, for all stores (gold.agg_monthly_kpis)
or some stores and channels (the same formulas over their gold.fact_sales
rows): revenue, orders and customers; average order value and basket size;
CLV to date and repeat rate."""

from __future__ import annotations

import altair as alt
import streamlit as st

from app import components as ui
from app import data

st.title("KPIs")
src = ui.sources()
kpis, info = ui.require_gold(
    src,
    "agg_monthly_kpis",
    empty="gold.agg_monthly_kpis is empty: no revenue-bearing order yet. "
    "Run `retailnova source simulate` then `retailnova run`.",
)

months = sorted(kpis["month_start"])
stores, stores_info = data.gold(src, "dim_store", columns=("store_key", "store_name", "channel"))
span, channel_box, store_box = st.columns([2, 1, 1])
if len(months) > 1:
    first, last = span.select_slider(
        "Months",
        options=months,
        value=(months[0], months[-1]),
        format_func=ui.month_label,
        key="kpis_range",
    )
else:
    first = last = months[0]
channels = names = []
if stores is not None and not stores.empty:
    channels = channel_box.multiselect(
        "Channel",
        sorted(stores["channel"].unique()),
        placeholder="All channels",
        key="kpis_channel",
    )
    names = store_box.multiselect(
        "Store", sorted(stores["store_name"].unique()), placeholder="All stores", key="kpis_store"
    )

infos = [info]
if channels or names:
    # Some stores: agg_monthly_kpis's formulas over their rows of
    # gold.fact_sales. All stores: Gold's own agg_monthly_kpis.
    chosen = stores
    if channels:
        chosen = chosen[chosen["channel"].isin(channels)]
    if names:
        chosen = chosen[chosen["store_name"].isin(names)]
    picked = " and ".join(
        part
        for part in (
            f"channel {', '.join(channels)}" if channels else "",
            f"store {', '.join(names)}" if names else "",
        )
        if part
    )
    if chosen.empty:
        st.info(f"No store has {picked}.", icon=":material/filter_alt_off:")
        ui.based_on(src, [stores_info])
        st.stop()
    kpis, fact_info = data.store_kpis(src, tuple(chosen["store_key"]))
    if kpis is None:
        ui.no_gold(src, ["fact_sales"])
        st.stop()
    infos = [fact_info, stores_info]
    scope = f"Sales of {picked} (gold.fact_sales)"
else:
    scope = "All stores and channels (gold.agg_monthly_kpis)"

kpis = kpis.sort_values("month_start").reset_index(drop=True)
shown = kpis[(kpis["month_start"] >= first) & (kpis["month_start"] <= last)]
if shown.empty:
    st.info(
        f"No sales between {ui.month_label(first)} and {ui.month_label(last)} ({scope}).",
        icon=":material/filter_alt_off:",
    )
    ui.based_on(src, infos)
    st.stop()
end = shown.iloc[-1]
last = end["month_start"]

# The range's totals are sums of the monthly figures (average order value:
# their ratio). Basket size, CLV to date and repeat rate are the values of the
# range's last month with sales: the last two are cumulative up to its end.
revenue = shown["total_revenue"].sum()
orders = shown["order_count"].sum()
st.caption(f"{scope}: {ui.month_label(first)} to {ui.month_label(last)}")
cards = st.columns(3)
cards[0].metric("Revenue", ui.money(revenue), border=True)
cards[1].metric("Orders", ui.count(orders), border=True)
cards[2].metric(
    "Avg order value",
    ui.money(revenue / orders if orders else None),
    border=True,
    help="Revenue / orders over the range",
)
st.caption(f"At {ui.month_label(last)}")
cards = st.columns(3)
cards[0].metric(
    "Avg basket size",
    f"{end['avg_basket_size']:.2f}",
    border=True,
    help=f"Items per order in {ui.month_label(last)}",
)
cards[1].metric(
    "CLV to date",
    ui.money(end["clv_to_date"]),
    border=True,
    help=f"Revenue / buyers up to the end of {ui.month_label(last)}",
)
cards[2].metric(
    "Repeat rate",
    ui.percent(end["repeat_purchase_rate"]),
    border=True,
    help=f"Share of buyers with 2+ orders up to the end of {ui.month_label(last)}",
)

frame = shown.rename(columns={"month_start": "month"})


def line_chart(columns: dict[str, str], title: str, fmt: str, axis_format: str | None = None):
    long = frame.melt(id_vars="month", value_vars=list(columns), var_name="kpi").replace(
        {"kpi": columns}
    )
    return (
        alt.Chart(long, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("yearmonth(month):T", title=None),
            y=alt.Y("value:Q", title=None, axis=alt.Axis(format=axis_format or fmt)),
            color=alt.Color("kpi:N", title=None, legend=alt.Legend(orient="top")),
            tooltip=[
                alt.Tooltip("yearmonth(month):T", title="Month"),
                alt.Tooltip("kpi:N", title="KPI"),
                alt.Tooltip("value:Q", format=fmt),
            ],
        )
        .properties(height=260)
    )


revenue_chart = (
    alt.Chart(frame, title="Revenue")
    .mark_bar()
    .encode(
        x=alt.X("yearmonth(month):T", title=None),
        y=alt.Y("total_revenue:Q", title="€"),
        tooltip=[
            alt.Tooltip("yearmonth(month):T", title="Month"),
            alt.Tooltip("total_revenue:Q", title="Revenue", format=",.2f"),
        ],
    )
    .properties(height=260)
)
left, right = st.columns(2)
left.altair_chart(revenue_chart, width="stretch")
right.altair_chart(
    line_chart(
        {"order_count": "Orders", "unique_customers": "Customers"}, "Orders and customers", ",d"
    ),
    width="stretch",
)
left, right = st.columns(2)
left.altair_chart(
    line_chart({"avg_order_value": "Avg order value (€)"}, "Average order value", ",.2f"),
    width="stretch",
)
right.altair_chart(
    line_chart({"avg_basket_size": "Avg basket size (items)"}, "Average basket size", ",.2f"),
    width="stretch",
)
left, right = st.columns(2)
left.altair_chart(
    line_chart({"clv_to_date": "CLV to date (€)"}, "Customer lifetime value to date", ",.2f"),
    width="stretch",
)
right.altair_chart(
    line_chart({"repeat_purchase_rate": "Repeat rate"}, "Repeat purchase rate", ".1%"),
    width="stretch",
)

with st.expander("Monthly figures"):
    st.dataframe(
        shown.sort_values("month_start", ascending=False),
        hide_index=True,
        column_config={
            "month_start": st.column_config.DateColumn("Month", format="MMM YYYY"),
            "total_revenue": st.column_config.NumberColumn("Revenue (€)", format="%.2f"),
            "order_count": st.column_config.NumberColumn("Orders", format="%d"),
            "unique_customers": st.column_config.NumberColumn("Customers", format="%d"),
            "avg_order_value": st.column_config.NumberColumn("AOV (€)", format="%.2f"),
            "avg_basket_size": st.column_config.NumberColumn("Basket size", format="%.2f"),
            "clv_to_date": st.column_config.NumberColumn("CLV to date (€)", format="%.2f"),
            "repeat_purchase_rate": st.column_config.NumberColumn("Repeat rate", format="percent"),
        },
    )

ui.based_on(src, infos)
