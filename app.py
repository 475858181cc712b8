"""DeepClean Studio's dashboard: `streamlit run app.py` (or `make run`).

This file has two roles. `streamlit run app.py` finds `app` below (Streamlit's ASGI app, `st.App`) and serves
it: our HTTP layer (pages/access.py) checks access on every request before Streamlit sees it, adds the login
and health routes, and starts the job executor with the server. Streamlit then runs this same file as
`__main__` for every page view (AppTest does too): that is `dashboard()`.
"""

from __future__ import annotations

import streamlit as st


def dashboard() -> None:
    from core.store import StoreError
    from pages import common, login

    st.set_page_config(page_title="DeepClean Studio", page_icon=":material/cleaning_services:", layout="wide")
    mode = login.access()  # password or OIDC login first, when configured (checked before Streamlit, again here)
    try:
        common.executor()  # opens the run store: an unusable DEEPCLEAN_HOME is said here, not as a traceback
    except StoreError as e:
        st.error(f"The run store cannot be used: {e}")
        st.stop()
    except RuntimeError as e:  # core.dask_executor.ClusterUnreachable: say so, keep serving, retry on reload
        if type(e).__name__ != "ClusterUnreachable":
            raise
        st.error(f"The job cluster is not reachable: {e}")
        st.stop()
    page = st.navigation([
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/model.py", title="Model", icon=":material/inventory_2:"),
        st.Page("pages/forget.py", title="Forget set", icon=":material/target:"),
        st.Page("pages/unlearn.py", title="Unlearn", icon=":material/cleaning_services:"),
        st.Page("pages/results.py", title="Results", icon=":material/bar_chart:"),
        st.Page("pages/inside.py", title="Inside the model", icon=":material/hub:"),
        st.Page("pages/compare_runs.py", title="Compare runs", icon=":material/compare_arrows:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    ])
    common.sidebar(mode)
    st.sidebar.toggle("Expert details", key="expert", help="Symbols (Df, Dr, γ, MIA), raw figures, the attack's AUC, "
                      "prediction divergence and layer keys, for ML engineers.")
    page.run()


if __name__ == "__main__":  # Streamlit running the page script
    dashboard()
else:  # `streamlit run app.py` importing the module to serve it
    from pages import access

    app = st.App(__file__, routes=access.routes(), middleware=access.middleware(), lifespan=access.lifespan)
