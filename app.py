"""DeepClean Studio's dashboard entry point: `streamlit run app.py` (or `make run`)."""

from __future__ import annotations

import streamlit as st

from core.store import StoreError
from pages import common, login

st.set_page_config(page_title="DeepClean Studio", page_icon=":material/cleaning_services:", layout="wide")
mode = login.access()  # password or OIDC login first, when configured
try:
    common.executor()  # opens the run store: an unusable DEEPCLEAN_HOME is said here, not as a traceback
except StoreError as e:
    st.error(f"The run store cannot be used: {e}")
    st.stop()
page = st.navigation([
    st.Page("pages/model.py", title="Model", icon=":material/inventory_2:", default=True),
    st.Page("pages/forget.py", title="Forget set", icon=":material/target:"),
    st.Page("pages/unlearn.py", title="Unlearn", icon=":material/cleaning_services:"),
    st.Page("pages/results.py", title="Results", icon=":material/bar_chart:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
])
common.sidebar(mode)
page.run()
