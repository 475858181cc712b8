"""The HTTP layer in front of Streamlit: access control on every request, the login routes, our health
route, and what starts with the server (app.py serves these through `st.App`).

With a password (DEEPCLEAN_PASSWORD or DEEPCLEAN_PASSWORD_FILE), `/login` checks it (core/auth.py throttles
wrong ones per client) and sets a signed, HttpOnly, SameSite=Lax session cookie; every other request
without a valid one is refused before Streamlit sees it: the websocket, uploads, media, static files and
app pages (a page view is sent to /login). With OIDC ([auth] in .streamlit/secrets.toml) the same holds with
Streamlit's own signed identity cookie, and /login links to the identity provider. Open to everyone:
Streamlit's `/_stcore/health`, our `/healthz` (is DEEPCLEAN_HOME usable?), the login and logout routes.
"""

from __future__ import annotations

import html
import json
import logging
import threading
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from starlette.middleware import Middleware
from starlette.requests import Request, cookie_parser
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from core import auth

log = logging.getLogger(__name__)
COOKIE = "deepclean_session"
MAX_FORM_BYTES = 8192
OIDC_ROUTES = ("/auth/login", "/auth/logout", "/oauth2callback")  # Streamlit's own login flow


def _base() -> str:
    """server.baseUrlPath as "/prefix" (or "")."""
    from streamlit import config

    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def url(path: str) -> str:
    """A path of ours as the browser reaches it (under server.baseUrlPath)."""
    return _base() + path


def oidc_configured() -> bool:
    """Whether Streamlit's OIDC login is set up ([auth] in secrets.toml)."""
    from streamlit.runtime.secrets import secrets_singleton

    try:
        return "auth" in secrets_singleton
    except FileNotFoundError:  # no secrets file at all
        return False


def mode() -> str:
    """How access is controlled: "oidc", "password" or "open" (AuthConfigError: cannot be set up)."""
    if oidc_configured():
        return "oidc"
    return "password" if auth.gate().enabled else "open"


def oidc_logged_in(cookies: dict[str, str]) -> bool:
    """Whether Streamlit's signed identity cookie says a user logged in through OIDC."""
    from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME
    from streamlit.web.server.starlette.starlette_websocket import _get_signed_cookie_with_chunks

    try:
        raw = _get_signed_cookie_with_chunks(cookies, USER_COOKIE_NAME)
        return bool(raw) and json.loads(raw).get("is_logged_in") is True
    except Exception:  # noqa: BLE001 - a cookie we cannot read is no login
        return False


def _cookies(scope: dict) -> dict[str, str]:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return cookie_parser(value.decode("latin-1"))
    return {}


def _header(scope: dict, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return value.decode("latin-1")
    return None


def client_of(scope: dict) -> str:
    peer = scope.get("client")
    return auth.client_address(peer[0] if peer else None, _header(scope, b"x-forwarded-for"))


def signed_in(cookies: dict[str, str], how: str) -> bool:
    if how == "oidc":
        return oidc_logged_in(cookies)
    return auth.gate().valid(cookies.get(COOKIE))


class AccessMiddleware:
    """Refuses every request that is not signed in, except the open routes, before Streamlit sees it
    (a pure ASGI middleware, so websockets are checked at the handshake)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        base = _base()
        path = scope["path"][len(base):] if base and scope["path"].startswith(base) else scope["path"]
        if path in ("/_stcore/health", "/healthz"):
            return await self.app(scope, receive, send)
        try:
            how = mode()
        except auth.AuthConfigError as e:
            log.error("refusing requests: %s", e)
            return await self._refuse(scope, receive, send, 503, f"Access control is misconfigured: {e}")
        if how == "open" or path in ("/login", "/logout") or (how == "oidc" and path in OIDC_ROUTES):
            return await self.app(scope, receive, send)
        if signed_in(_cookies(scope), how):
            return await self.app(scope, receive, send)
        page = scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") and not path.startswith(
            ("/_stcore/", "/media/", "/static/", "/component/", "/app/static/"))
        if page:
            target = path + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
            return await RedirectResponse(f"{base}/login?next={quote(target)}", status_code=303)(scope, receive, send)
        return await self._refuse(scope, receive, send, 401, f"Log in first: {base}/login")

    @staticmethod
    async def _refuse(scope: dict, receive: Any, send: Any, status: int, text: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # refused at the handshake (HTTP 403)
            return
        await PlainTextResponse(text, status_code=status)(scope, receive, send)


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>DeepClean Studio · log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:12vh auto;padding:0 1rem;color:#262730}}
input,button{{font-size:1rem;padding:.55rem;width:100%;box-sizing:border-box;margin:.4rem 0}}
button,a.b{{background:#ff4b4b;color:#fff;border:0;border-radius:.5rem;cursor:pointer;display:block;text-align:center;
text-decoration:none;padding:.6rem}}.e{{color:#b00020}}</style></head><body><h1>DeepClean Studio</h1>{body}</body></html>"""


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this server only (no scheme, no host, no //)."""
    target = target or "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(next_: str, message: str = "", status: int = 200) -> HTMLResponse:
    base = _base()
    if mode() == "oidc":
        from streamlit.auth_util import generate_login_redirect_url

        try:
            url = generate_login_redirect_url("default")
        except Exception as e:  # noqa: BLE001 - e.g. Authlib missing: say so instead of failing
            return HTMLResponse(PAGE.format(body=f'<p class="e">OIDC login cannot start: {html.escape(str(e))}</p>'), 503)
        body = f'<a class="b" href="{html.escape(url)}">Log in with your identity provider</a>'
    else:
        error = f'<p class="e" role="alert">{html.escape(message)}</p>' if message else ""
        body = (f'<form method="post" action="{base}/login">{error}<label for="p">Password</label>'
                f'<input id="p" name="password" type="password" autocomplete="current-password" autofocus required>'
                f'<input type="hidden" name="next" value="{html.escape(next_)}">'
                f'<button type="submit">Enter</button></form>')
    return HTMLResponse(PAGE.format(body=body), status_code=status, headers={"Cache-Control": "no-store"})


async def login(request: Request) -> Response:
    """GET: the login page. POST: check the password; on success set the session cookie and go on."""
    try:
        how = mode()
    except auth.AuthConfigError as e:
        return PlainTextResponse(f"Access control is misconfigured: {e}", status_code=503)
    if how == "open":
        return RedirectResponse(f"{_base()}/", status_code=303)
    if request.method == "GET" or how == "oidc":
        return _login_page(_safe_next(request.query_params.get("next")))
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        return PlainTextResponse("Cross-site login refused", status_code=403)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return PlainTextResponse("Login form too large", status_code=413)
    form = parse_qs(body.decode("utf-8", "replace"))
    next_ = _safe_next((form.get("next") or ["/"])[0])
    try:
        gate = auth.gate()
        ok, message = gate.attempt((form.get("password") or [""])[0], client_of(request.scope))
    except auth.AuthConfigError as e:
        return PlainTextResponse(f"Access control is misconfigured: {e}", status_code=503)
    if not ok:
        return _login_page(next_, message, status=429 if "try again" in message or "Locked" in message else 401)
    response = RedirectResponse(_base() + next_, status_code=303)
    response.set_cookie(COOKIE, gate.issue(), max_age=auth.SESSION_S, path=f"{_base()}/" if _base() else "/",
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return response


async def logout(request: Request) -> Response:
    """End the session (the token is revoked, the cookie removed) and go back to the login page."""
    try:
        auth.gate().revoke(request.cookies.get(COOKIE))
    except auth.AuthConfigError:
        pass
    response = RedirectResponse(f"{_base()}/login", status_code=303)
    response.delete_cookie(COOKIE, path=f"{_base()}/" if _base() else "/")
    return response


def home_problem() -> str | None:
    """Why the run store cannot hold runs (unusable DEEPCLEAN_HOME, full disk, unreachable or broken database),
    or None."""
    from core.store import RunStore

    try:
        RunStore().check()
    except Exception as e:  # noqa: BLE001 - any failure is the answer
        return str(e)
    return None


async def healthz(request: Request) -> Response:
    """200 "ok" when the run store can be used, else 503 with the reason (for the container's HEALTHCHECK)."""
    from starlette.concurrency import run_in_threadpool

    problem = await run_in_threadpool(home_problem)
    if problem:
        return PlainTextResponse(f"the run store is unusable: {problem}", status_code=503)
    return PlainTextResponse("ok")


def routes() -> list[Route]:
    base = _base()
    return [Route(f"{base}/login", login, methods=["GET", "POST"]), Route(f"{base}/logout", logout, methods=["GET"]),
            Route(f"{base}/healthz", healthz, methods=["GET", "HEAD"])]


def middleware() -> list[Middleware]:
    return [Middleware(AccessMiddleware)]


def start_jobs() -> None:
    """Open the run store and the executor, which recovers what a previous server left and watches workers
    that outlived it: at server start, not at the first page view. A failure is logged; pages and /healthz
    report it, and the next page view tries again."""
    from core.executors import server_executor

    try:
        server_threads()
        server_executor()
    except Exception:  # noqa: BLE001 - the server must come up to say what is wrong
        log.exception("the job executor could not start; pages will say why")


@asynccontextmanager
async def lifespan(app: Any):
    """At server start: one navigation for every URL, and the jobs (in the background, so the server
    answers at once)."""
    from streamlit.runtime.pages_manager import PagesManager

    # Streamlit also reads pages/ as an old-style multipage app until the first script calls
    # st.navigation, so a first visit straight to /unlearn got a different shell. app.py always navigates.
    PagesManager.uses_pages_directory = False
    from streamlit import config

    if not config.is_manually_set("runner.postScriptGC"):
        # Streamlit's default runs gc.collect(2) after every script run; in this process, whose objects
        # include torch, datasets and models, that took ~0.2 s of CPU per page view or jobs-panel poll:
        # nine tenths of the server's CPU under load (profiled, issue 19). Python's own GC still runs.
        config.set_option("runner.postScriptGC", False, "pages/access.py (several users)")
    threading.Thread(target=start_jobs, name="deepclean-start", daemon=True).start()
    yield


def server_threads() -> None:
    """Torch threads for the server process's own small work (predictions, curves): half the cores, so the
    job worker (which takes the others) and every session's page runs are not starved by spinning OpenMP
    threads (DEEPCLEAN_SERVER_THREADS overrides). Set before any page runs; the pages' threads inherit it."""
    import os

    import torch

    torch.set_num_threads(int(os.environ.get("DEEPCLEAN_SERVER_THREADS", max(1, (os.cpu_count() or 2) // 2))))
