"""RetailNova: the business's numbers from Gold, and the data team's view of
the runs behind them. A router: each page is a script in app/views/.

    retailnova app                       # or:
    streamlit run app/streamlit_app.py

Settings come from the same RETAILNOVA_* variables (and ./.env) as the CLI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts this folder on sys.path; the pages import `app.*`.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import data  # noqa: E402

st.set_page_config(page_title="RetailNova", page_icon=":material/storefront:", layout="wide")

pages = {
    "Business": [
        st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("views/kpis.py", title="KPIs", icon=":material/monitoring:"),
        st.Page("views/customers.py", title="Customers", icon=":material/groups:"),
    ],
    "Operations": [
        st.Page("views/data_quality.py", title="Data Quality", icon=":material/verified:"),
        st.Page(
            "views/pipeline_monitor.py", title="Pipeline Monitor", icon=":material/conversion_path:"
        ),
    ],
}
page = st.navigation(pages)

with st.sidebar:
    try:
        src = data.sources()
        st.caption(f"Home `{src.home}`  \nMetadata {src.metadata_label}")
    except data.AppConfigError:
        pass  # the page itself says what is wrong
    if st.button("Reload data", icon=":material/refresh:", help="Clear the cached tables"):
        st.cache_data.clear()

try:
    page.run()
except data.LakeUnavailable as exc:
    st.error(
        f"The lake does not answer: {exc}. Check RETAILNOVA_LAKE_URL, RETAILNOVA_S3_ENDPOINT "
        "and the AWS credentials, and `retailnova status`.",
        icon=":material/cloud_off:",
    )
