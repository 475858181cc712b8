"""Password access: constant-time check, lock-out per client with a server-wide ceiling, signed sessions,
the password from a file, the access check in front of Streamlit; every page behind it; open mode says so.
(tests/test_access.py runs the same against a real server.)"""

import asyncio
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import auth
from core.auth import FREE_ATTEMPTS, GLOBAL_CEILING, GLOBAL_WINDOW_S, PasswordGate

APP = str(Path(__file__).resolve().parents[1] / "app.py")


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_lockout_grows_and_refuses_even_the_right_password_while_locked():
    clock = Clock()
    gate = PasswordGate("s3cret", clock=clock)
    for _ in range(FREE_ATTEMPTS - 1):
        assert gate.attempt("nope", "a") == (False, "Wrong password.")
    ok, msg = gate.attempt("nope", "a")
    assert not ok and "Locked for 2 s" in msg
    assert gate.attempt("s3cret", "a")[0] is False  # locked: not even compared
    clock.t += 2.1
    ok, msg = gate.attempt("still wrong", "a")
    assert "Locked for 4 s" in msg
    clock.t += 4.1
    assert gate.attempt("s3cret", "a") == (True, "")
    assert gate.wait_s("a") == 0


def test_one_clients_failures_never_lock_out_another():
    """Issue 13, item 4: seven wrong passwords from one address used to lock out everyone."""
    clock = Clock()
    gate = PasswordGate("s3cret", clock=clock)
    for _ in range(7):
        gate.attempt("nope", "10.0.0.1")
    assert gate.attempt("s3cret", "10.0.0.1")[0] is False and gate.wait_s("10.0.0.1") > 0
    assert gate.attempt("s3cret", "10.0.0.2") == (True, "")


def test_the_server_wide_ceiling_bounds_many_addresses_but_never_locks_out_a_correct_password_for_good():
    clock = Clock()
    gate = PasswordGate("s3cret", clock=clock)
    for k in range(GLOBAL_CEILING):  # a botnet: one guess per address
        gate.attempt("guess", f"10.1.{k // 250}.{k % 250}")
    ok, msg = gate.attempt("guess", "10.9.9.9")  # over the ceiling a fresh address gets one guess, then waits
    assert not ok and "Locked" in msg
    clock.t += 3
    ok, msg = gate.attempt("guess-again", "10.9.9.9")
    assert not ok and "on this server" in msg  # it failed within the window: refused without comparing
    assert gate.attempt("s3cret", "192.168.1.5") == (True, "")  # an address with no failure is compared
    mistyped = "192.168.1.6"
    gate.attempt("s3cre", mistyped)  # a user who mistyped during the attack waits, but not for ever
    assert gate.attempt("s3cret", mistyped)[0] is False
    clock.t += GLOBAL_WINDOW_S + 1
    assert gate.attempt("s3cret", mistyped) == (True, "")


def test_sessions_are_signed_expire_and_end_at_logout():
    wall = [5000.0]
    gate = PasswordGate("s3cret", wall=lambda: wall[0])
    token = gate.issue(lifetime_s=60)
    assert gate.valid(token) and not gate.valid(token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not gate.valid("9999999999.00.abc") and not gate.valid(None) and not gate.valid("")
    assert not PasswordGate("other").valid(token)  # another password (or server secret): not ours
    wall[0] += 61
    assert not gate.valid(token)
    wall[0] -= 61
    gate.revoke(token)
    assert not gate.valid(token)
    assert not PasswordGate("").valid(PasswordGate("").issue())  # no password: no sessions to speak of


def test_the_password_can_come_from_a_file_and_an_unreadable_one_fails_closed(tmp_path, monkeypatch):
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("DEEPCLEAN_PASSWORD", "from-the-environment")
    monkeypatch.setenv("DEEPCLEAN_PASSWORD_FILE", str(secret))
    assert auth.configured_password() == "from-a-file"
    secret.write_text("")
    with pytest.raises(auth.AuthConfigError, match="is empty"):
        auth.configured_password()
    monkeypatch.setenv("DEEPCLEAN_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(auth.AuthConfigError, match="cannot be read"):
        auth.gate()
    # the HTTP layer then refuses everything but the health checks
    assert asgi("GET", "/")[0] == 503 and asgi("GET", "/_stcore/health")[0] == "reached"
    assert asgi("WEBSOCKET", "/_stcore/stream")[0] == "closed"


def test_the_client_address_is_the_peer_unless_a_trusted_proxy_forwards_it(monkeypatch):
    monkeypatch.delenv("DEEPCLEAN_TRUSTED_PROXIES", raising=False)
    assert auth.client_address("203.0.113.9", "1.2.3.4") == "203.0.113.9"  # nobody trusted: spoofing is moot
    monkeypatch.setenv("DEEPCLEAN_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    assert auth.client_address("10.1.2.3", "6.6.6.6, 1.2.3.4, 10.0.0.7") == "1.2.3.4"
    assert auth.client_address("203.0.113.9", "1.2.3.4") == "203.0.113.9"  # not from the proxy
    monkeypatch.setenv("DEEPCLEAN_TRUSTED_PROXIES", "not-an-address")
    with pytest.raises(auth.AuthConfigError, match="DEEPCLEAN_TRUSTED_PROXIES"):
        auth.client_address("10.1.2.3", "1.2.3.4")


def asgi(method: str, path: str, cookie: str | None = None):
    """Send one request through the access middleware to a stand-in for Streamlit: (status or "closed"
    or "reached", headers)."""
    from pages.access import AccessMiddleware

    async def streamlit(scope, receive, send):
        sent.append(("reached", {}))

    sent, out = [], []

    async def send(msg):
        if msg["type"] == "http.response.start":
            out.append((msg["status"], dict((k.decode(), v.decode()) for k, v in msg["headers"])))
        elif msg["type"] == "websocket.close":
            out.append(("closed", {}))

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    headers = [(b"cookie", cookie.encode())] if cookie else []
    scope = {"type": "websocket" if method == "WEBSOCKET" else "http", "method": method, "path": path,
             "headers": headers, "query_string": b"", "client": ("127.0.0.1", 5000), "scheme": "http"}
    asyncio.run(AccessMiddleware(streamlit)(scope, receive, send))
    return (sent or out)[0]


def test_with_a_password_every_path_but_health_and_login_needs_the_session_cookie(monkeypatch):
    monkeypatch.setenv("DEEPCLEAN_PASSWORD", "s3cret")
    monkeypatch.delenv("DEEPCLEAN_PASSWORD_FILE", raising=False)
    assert asgi("GET", "/unlearn")[0] == 303 and asgi("GET", "/unlearn")[1]["location"] == "/login?next=/unlearn"
    for path in ("/_stcore/upload_file/s/f", "/media/x.png", "/static/js/a.js", "/_stcore/host-config"):
        assert asgi("GET", path)[0] == 401 and asgi("PUT", path)[0] == 401
    assert asgi("WEBSOCKET", "/_stcore/stream")[0] == "closed"
    for path in ("/_stcore/health", "/healthz", "/login", "/logout"):
        assert asgi("GET", path)[0] == "reached"
    token = auth.gate().issue()
    for method, path in (("GET", "/"), ("PUT", "/_stcore/upload_file/s/f"), ("WEBSOCKET", "/_stcore/stream"),
                         ("GET", "/media/x.png")):
        assert asgi(method, path, cookie=f"deepclean_session={token}")[0] == "reached"
    monkeypatch.delenv("DEEPCLEAN_PASSWORD")
    assert asgi("GET", "/unlearn")[0] == "reached"  # open mode


@pytest.fixture(autouse=True)
def fresh():
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_every_page_asks_for_the_password_first(monkeypatch):
    """Behind the HTTP layer the script checks the session again: without the login cookie (AppTest has
    no HTTP) a page shows only the way to log in."""
    monkeypatch.setenv("DEEPCLEAN_PASSWORD", "s3cret")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and not at.metric and not at.sidebar.caption
    assert [b.label for b in at.get("link_button")] == ["Log in"]
    with pytest.raises(ValueError, match="Known pages: \\['Log in'\\]"):
        at.switch_page("pages/unlearn.py")  # no other page is reachable


def test_open_mode_says_so_on_the_sidebar(monkeypatch):
    monkeypatch.delenv("DEEPCLEAN_PASSWORD", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert any("Open access" in c.value for c in at.sidebar.caption)


def test_with_oidc_every_path_needs_streamlits_signed_identity_cookie(monkeypatch):
    """OIDC keeps working behind the same layer: Streamlit's login routes are open, everything else needs the
    identity cookie Streamlit signs after the provider's callback."""
    import json

    from streamlit.web.server.server_util import get_cookie_secret
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

    from pages import access

    monkeypatch.setattr(access, "oidc_configured", lambda: True)
    assert asgi("GET", "/unlearn")[0] == 303 and asgi("WEBSOCKET", "/_stcore/stream")[0] == "closed"
    for path in ("/auth/login", "/oauth2callback", "/auth/logout", "/login", "/_stcore/health"):
        assert asgi("GET", path)[0] == "reached", path

    def identity(logged_in: bool) -> str:
        value = json.dumps({"email": "a@b.c", "is_logged_in": logged_in, "origin": "http://127.0.0.1:5000"})
        return "_streamlit_user=" + create_signed_value(get_cookie_secret(), "_streamlit_user", value).decode()

    assert asgi("GET", "/unlearn", cookie=identity(True))[0] == "reached"
    assert asgi("WEBSOCKET", "/_stcore/stream", cookie=identity(True))[0] == "reached"
    assert asgi("GET", "/unlearn", cookie=identity(False))[0] == 303
    assert asgi("GET", "/unlearn", cookie=identity(True)[:-2] + "xx")[0] == 303  # a forged signature
