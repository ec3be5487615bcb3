"""Pieces every page shares: where the numbers come from, how they are
formatted, the trust badge, and the empty states."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
import streamlit as st

from app import data

DQ_PAGE = "views/data_quality.py"
RUN_COMMANDS = (
    "retailnova source init   # once: the sample OLTP source\n"
    "retailnova run           # extract into Bronze, then dbt build Silver and Gold"
)
SEGMENTS = ("Champions", "Loyal Customers", "Promising", "At Risk", "Need Attention")
SEGMENT_COLORS = ("#2e7d32", "#66bb6a", "#42a5f5", "#ffa726", "#ef5350")
DASH = "\u2013"  # an en dash: a value that is not there
# Statuses and severities as colored badges in tables (plain text: no emoji
# font is needed to read them).
BADGE_STYLES = {
    "SUCCESS": ("#1b5e20", "#e8f5e9"),
    "PASS": ("#1b5e20", "#e8f5e9"),
    "WARNING": ("#8a4b00", "#fff3e0"),
    "RUNNING": ("#8a4b00", "#fff3e0"),
    "FAIL": ("#b71c1c", "#ffebee"),
    "FAILED": ("#b71c1c", "#ffebee"),
    "ERROR": ("#b71c1c", "#ffebee"),
    "CRITICAL": ("#b71c1c", "#ffebee"),
    "INFO": ("#0d47a1", "#e3f2fd"),
}

# --- Formatting ---------------------------------------------------------------------------


def money(value: float | None) -> str:
    return DASH if value is None or pd.isna(value) else f"€{value:,.2f}"


def count(value: float | None) -> str:
    return DASH if value is None or pd.isna(value) else f"{int(value):,}"


def percent(value: float | None, digits: int = 1) -> str:
    return DASH if value is None or pd.isna(value) else f"{value * 100:.{digits}f}%"


def change(current: float | None, previous: float | None) -> str | None:
    """A metric's delta against the previous period, as a relative change."""
    if current is None or previous is None or pd.isna(previous) or not previous:
        return None
    return f"{(current - previous) / previous * 100:+.1f}%"


def stamp(value: datetime | pd.Timestamp | None) -> str:
    if value is None or pd.isna(value):
        return DASH
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M UTC")


def month_label(value) -> str:
    return pd.Timestamp(value).strftime("%b %Y")


def age(value: datetime | pd.Timestamp | None, now: datetime | None = None) -> str:
    """How long ago, in the largest sensible unit."""
    if value is None or pd.isna(value):
        return DASH
    now = now or pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime()
    seconds = (pd.Timestamp(now) - pd.Timestamp(value)).total_seconds()
    if seconds < 0:
        return "just now"
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d ago"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h ago"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds:.0f} s ago"


# --- Page scaffolding ---------------------------------------------------------------------


def sources() -> data.Sources:
    """The settings of this process, or a clear message and a stopped page."""
    try:
        return data.sources()
    except data.AppConfigError as exc:
        st.error(f"The settings cannot be read: {exc}", icon=":material/settings:")
        st.stop()
        raise  # unreachable: st.stop ends the script run


def metadata(read, *args):
    """A metadata-store read, or a clear message and a stopped page."""
    try:
        return read(*args)
    except data.MetadataUnavailable as exc:
        st.error(
            f"The metadata store does not answer: {exc}. Check RETAILNOVA_METADATA_URL "
            "and `retailnova status`.",
            icon=":material/database_off:",
        )
        st.stop()
        raise


def no_gold(src: data.Sources, tables: Iterable[str]) -> None:
    """The empty state of a page that reads Gold: what is missing and what to run."""
    names = ", ".join(f"gold.{t}" for t in tables)
    st.info(
        f"No Gold data yet: {names} not found under `{src.gold}`. "
        "Build the lake first, then reload this page:",
        icon=":material/hourglass_empty:",
    )
    st.code(RUN_COMMANDS, language="bash")
    st.caption(f"RETAILNOVA_HOME is `{src.home}`; point it at the home a run used to see its data.")


def require_gold(
    src: data.Sources, table: str, *, empty: str, missing: Iterable[str] = ()
) -> tuple[pd.DataFrame, data.TableInfo]:
    """A Gold table the page cannot do without, or the page's empty state and
    a stop: not built yet (what to run; `missing` names the page's other
    tables), or built without rows (`empty` says why)."""
    frame, info = data.gold(src, table)
    if frame is None:
        no_gold(src, [table, *missing])
        st.stop()
    if frame.empty:
        st.info(empty, icon=":material/hourglass_empty:")
        based_on(src, [info])
        st.stop()
    return frame, info


def no_runs(src: data.Sources, what: str) -> None:
    st.info(
        f"No {what} yet in the metadata store ({src.metadata_label}). "
        "They are recorded by every run:",
        icon=":material/hourglass_empty:",
    )
    st.code(RUN_COMMANDS, language="bash")


def based_on(src: data.Sources, infos: Iterable[data.TableInfo | None]) -> None:
    """The provenance line of a page: the Gold versions it read, the last
    successful run, and the trust badge of the tables behind it."""
    infos = [i for i in infos if i is not None]
    parts = [f"gold.{i.name} v{i.version} (committed {stamp(i.committed_at)})" for i in infos]
    run = metadata(data.last_successful_run, src.metadata_url)
    run_text = (
        f"last successful run `{run['run_id']}` finished {stamp(run['finished_at'])}"
        if run
        else "no successful run recorded"
    )
    if not parts:
        parts = [f"the metadata store ({src.metadata_label})"]
    with st.container(border=True):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.caption("Based on " + "; ".join(parts) + f" · {run_text}")
        with right:
            trust_badge(src, [i.name for i in infos])


def trust_badge(src: data.Sources, tables: Iterable[str]) -> None:
    """The data-quality status of the rules on the tables behind these Gold
    tables, each rule's newest result; links to the Data Quality page."""
    latest = data.latest_per_rule(
        metadata(data.dq_log, src.metadata_url), metadata(data.dq_rules, src.metadata_url)
    )
    relevant, scope = data.quality_behind(src, latest, list(tables))
    if relevant.empty:
        st.badge("DQ: no results", icon=":material/help:", color="gray", help=scope)
    else:
        status = relevant["status"]
        failures = int(status.isin(["FAIL", "ERROR"]).sum())
        warnings = int((status == "WARNING").sum())
        passed = int((status == "PASS").sum())
        label = f"DQ {passed}/{len(relevant)} pass"
        if failures:
            st.badge(
                f"{label}, {failures} failing", icon=":material/error:", color="red", help=scope
            )
        elif warnings:
            st.badge(
                f"{label}, {warnings} warn", icon=":material/warning:", color="orange", help=scope
            )
        else:
            st.badge(label, icon=":material/verified:", color="green", help=scope)
    st.page_link(DQ_PAGE, label="Data quality details", icon=":material/arrow_forward:")


def badges(frame: pd.DataFrame, *columns: str):
    """The frame for st.dataframe, its status/severity columns colored as badges."""

    def style(value: object) -> str:
        colors = BADGE_STYLES.get(str(value))
        if not colors:
            return ""
        return f"color: {colors[0]}; background-color: {colors[1]}; font-weight: 600"

    return frame.style.map(style, subset=list(columns))
