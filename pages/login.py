"""Access control as the pages see it: the HTTP layer (pages/access.py) has already refused every request
without a login; this checks the session again (defence in depth, and for AppTest, which has no HTTP)."""

from __future__ import annotations

import streamlit as st

from core import auth
from pages.access import COOKIE, oidc_configured, url


def access() -> str:
    """Stop unless this session is logged in, when login is configured; returns how access is controlled
    ("oidc", "password", "open")."""
    if oidc_configured():
        if not st.user.is_logged_in:
            _only(_oidc_page)
        return "oidc"
    try:
        gate = auth.gate()
    except auth.AuthConfigError as e:
        st.error(f"Access control is misconfigured: {e}")
        st.stop()
    if not gate.enabled:
        return "open"
    if not gate.valid(st.context.cookies.get(COOKIE)):
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
    st.info("This server asks for a password.")
    st.link_button("Log in", url("/login"), type="primary")
