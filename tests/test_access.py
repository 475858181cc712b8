"""The HTTP layer in front of Streamlit, against a real `streamlit run app.py` on loopback (no browser):
nothing but health and login answers before login, the lock-out is per client and no client message resets
it or the executor, recovery runs when the server starts, and every URL gets the one navigation."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from urllib.parse import urlencode

import pytest

from core.store import Owner, RunStore
from live_server import Session, http, navigation, serve, texts

PAGES = ["Home", "Model", "Forget set", "Unlearn", "Results", "Inside the model", "Compare runs", "Runs"]


def wait_for(cond, timeout=15.0, what=""):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def login(url, password, client=None):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if client:
        headers["X-Forwarded-For"] = client
    return http(f"{url}/login", method="POST", data=urlencode({"password": password, "next": "/runs"}).encode(),
                headers=headers)


@pytest.fixture(scope="module")
def protected(tmp_path_factory):
    # loopback is the trusted proxy here, so X-Forwarded-For stands for several clients
    with serve(tmp_path_factory.mktemp("protected"), DEEPCLEAN_PASSWORD="s3cret",
               DEEPCLEAN_TRUSTED_PROXIES="127.0.0.1") as (url, _):
        yield url


def test_nothing_but_health_and_login_answers_before_login(protected):
    url = protected
    for page in ("/", "/unlearn", "/runs?x=1"):
        status, headers, _ = http(url + page)
        assert status == 303 and headers["Location"].startswith("/login?next="), (page, status)
    for path in ("/_stcore/host-config", "/static/js/index.js", "/media/0123abcd.png", "/app/static/x.png"):
        assert http(url + path)[0] == 401, path
    started = time.monotonic()
    status, _, body = http(f"{url}/_stcore/upload_file/session/file", method="PUT", data=b"x" * 2**20)
    assert status == 401 and time.monotonic() - started < 10
    with pytest.raises(Exception, match="403"):
        Session(url)  # the websocket: refused at the handshake
    assert http(f"{url}/_stcore/health")[0] == 200 and http(f"{url}/healthz")[:3:2] == (200, b"ok")
    status, _, body = http(f"{url}/login")
    assert status == 200 and b'type="password"' in body


def test_login_sets_a_signed_httponly_cookie_that_opens_the_app(protected):
    url = protected
    status, headers, _ = login(url, "s3cret")
    assert status == 303 and headers["Location"] == "/runs"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/" in cookie
    session = cookie.split(";")[0]
    assert http(url + "/", headers={"Cookie": session})[0] == 200
    s = Session(url, cookie=session)
    msgs = s.view()
    s.close()
    assert navigation(msgs) == PAGES and "Four steps" in texts(msgs)
    name, value = session.split("=", 1)
    forged = f"{name}={value[:-1]}{'0' if value[-1] != '0' else '1'}"
    assert http(url + "/", headers={"Cookie": forged})[0] == 303
    with pytest.raises(Exception, match="403"):
        Session(url, cookie=forged)
    status, headers, _ = http(f"{url}/login", method="POST", data=b"password=s3cret&next=//evil.example/x",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert headers["Location"] == "/"  # never sent elsewhere after logging in


def test_lockout_is_per_client_and_no_client_message_resets_it(protected):
    url = protected
    for _ in range(7):
        status, _, body = login(url, "wrong", client="10.0.0.1")
    assert status == 429 and b"try again" in body
    status, headers, _ = login(url, "s3cret", client="10.0.0.2")  # another client is not locked out
    assert status == 303
    s = Session(url, cookie=headers["Set-Cookie"].split(";")[0])
    s.view()
    s.send_clear_cache()  # clears every st.cache_* of the server; the gate is not in one
    assert navigation(s.view()) == PAGES
    s.close()
    # the address's failures are still counted: still locked out, or locked again for longer at the next
    # failure (a new gate would say just "Wrong password.")
    status, _, body = login(url, "wrong", client="10.0.0.1")
    assert status == 429 and re.search(rb"try again|Locked for [4-9]", body), body


@pytest.fixture(scope="module")
def reopened(tmp_path_factory):
    """A server started on a store that a previous server left: a queued run whose server is gone, and a
    running run whose worker outlived it."""
    home = tmp_path_factory.mktemp("reopened")
    store = RunStore(home)
    gone = Owner(Owner.of().host, 2**22 + 4321)
    queued = store.create("unlearn", method="deepclean", owner=gone)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    running = store.create("unlearn", method="deepclean", owner=gone)
    store.start(running, worker_pid=worker.pid)
    try:
        with serve(home) as (url, proc):
            yield url, proc, store, queued, running, worker
    finally:
        worker.kill()
        worker.wait()


def test_recovery_happens_when_the_server_starts_not_at_the_first_page_view(reopened):
    url, _, store, queued, running, worker = reopened  # no page has been opened on this server
    wait_for(lambda: store.get(queued)["status"] == "interrupted", what="the queued run to be interrupted")
    assert "server that queued this run stopped" in store.get(queued)["error"]
    time.sleep(1)
    assert store.get(running)["status"] == "running"  # its worker still runs: left to finish, and watched
    worker.kill()
    worker.wait()
    wait_for(lambda: store.get(running)["status"] == "failed", what="the orphan's run to fail")
    assert "worker process" in store.get(running)["error"]


def test_every_url_shows_the_one_navigation(reopened):
    url = reopened[0]
    s = Session(url)  # the first page view of this server, straight to /unlearn
    msgs = s.view("unlearn")
    s.close()
    assert navigation(msgs) == PAGES and "Device:" in texts(msgs)
    assert not re.search(r"\b(access|common|forms)\b", " ".join(navigation(msgs)))


def test_a_clear_cache_message_from_an_anonymous_client_resets_no_server_state(reopened):
    url, proc, store = reopened[:3]
    s = Session(url)  # open mode: anyone may connect, and send what a browser can
    s.view("runs")
    owner = Owner.of(proc.pid)  # jobs this server queued (its executor holds them)
    waiting = [store.create("unlearn", method="deepclean", owner=owner) for _ in range(4)]
    s.send_clear_cache()
    s.view("runs")  # a page view after the clear: the executor is not made again, nothing is recovered
    s.view("unlearn")
    s.close()
    time.sleep(1)
    assert [store.get(r)["status"] for r in waiting] == ["queued"] * 4


def test_healthz_says_when_the_run_store_is_unusable(reopened, tmp_path):
    import shutil

    url, _, store = reopened[:3]
    assert http(f"{url}/healthz")[:3:2] == (200, b"ok")
    saved = tmp_path / "saved"
    shutil.move(store.home, saved)
    store.home.write_text("not a folder")  # DEEPCLEAN_HOME turned unusable under the running server
    try:
        status, _, body = http(f"{url}/healthz")
        assert status == 503 and b"DEEPCLEAN_HOME" in body
    finally:
        store.home.unlink()
        shutil.move(saved, store.home)
    assert http(f"{url}/healthz")[0] == 200
