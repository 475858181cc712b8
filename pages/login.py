"""Access control in front of every page: OIDC login or the password gate, when configured."""

from __future__ import annotations

import streamlit as st

from core.auth import PasswordGate


@st.cache_resource
def password_gate() -> PasswordGate:
    return PasswordGate()


def oidc_configured() -> bool:
    """Whether Streamlit's OIDC login is set up ([auth] in secrets.toml)."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all
        return False


def access() -> str:
    """Ask for login or password before any page; returns how access is controlled ("oidc", "password", "open")."""
    if oidc_configured():
        if not st.user.is_logged_in:
            _only(_oidc_page)
        return "oidc"
    if not password_gate().enabled:
        return "open"
    if not st.session_state.get("authenticated"):
        _only(_password_page)
    return "password"


def _only(page) -> None:
    """Show just this page (no navigation to the others) and stop."""
    st.navigation([st.Page(page, title="Log in", icon=":material/lock:")], position="hidden").run()
    st.stop()


def _oidc_page() -> None:
    st.title("DeepClean Studio")
    st.button("Log in", on_click=st.login, type="primary", key="oidc_login")


def _password_page() -> None:
    st.title("DeepClean Studio")
    with st.form("login"):
        entered = st.text_input("Password", type="password", key="password")
        sent = st.form_submit_button("Enter", type="primary")
    if sent:
        ok, message = password_gate().attempt(entered)
        if ok:
            st.session_state["authenticated"] = True
            st.rerun()
        st.error(message)
