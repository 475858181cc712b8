"""Helpers for tests that talk to a real `streamlit run app.py` on loopback: start one, and a minimal
Streamlit websocket client (what a browser sends, without a browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(home: Path, **env: str):
    """`streamlit run app.py` on a free loopback port with DEEPCLEAN_HOME=home; yields (url, process)."""
    port = free_port()
    full_env = {**os.environ, "DEEPCLEAN_HOME": str(home), **env}
    for name in ("DEEPCLEAN_PASSWORD", "DEEPCLEAN_PASSWORD_FILE"):
        if name not in env:
            full_env.pop(name, None)
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not come up: {(home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def http(url: str, *, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) without following redirects; HTTP errors are answers, not exceptions."""
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Session:
    """A Streamlit client over the websocket: `view(page)` runs the app script as a browser would and returns
    the ForwardMsgs of that run; `send_clear_cache()` is the message any client may send."""

    def __init__(self, url: str, cookie: str | None = None) -> None:
        from websockets.sync.client import connect

        headers = {"Origin": url}
        if cookie:
            headers["Cookie"] = cookie
        self._conn = connect(url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit"],
                             additional_headers=headers, open_timeout=20)
        self.ws = self._conn.__enter__()

    def _send(self, msg) -> None:
        self.ws.send(msg.SerializeToString())

    def view(self, page: str = "", timeout: float = 120) -> list:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_script_hash = ""
        msg.rerun_script.page_name = page
        self._send(msg)
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            fwd = ForwardMsg.FromString(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            out.append(fwd)
            if fwd.WhichOneof("type") == "script_finished":
                return out
        raise TimeoutError(f"no script_finished within {timeout}s")

    def send_clear_cache(self) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        msg.clear_cache = True
        self._send(msg)

    def close(self) -> None:
        self._conn.__exit__(None, None, None)


def texts(msgs: list) -> str:
    """Every text a run drew (markdown, titles, captions, alerts), joined; enough to tell pages apart."""
    return "\n".join(str(m.delta) for m in msgs if m.WhichOneof("type") == "delta")


def navigation(msgs: list) -> list[str]:
    """The page titles of the run's navigation (empty if it drew none)."""
    for m in msgs:
        if m.WhichOneof("type") == "navigation":
            return [p.page_name for p in m.navigation.app_pages]
    return []
