"""Password access control: the password, throttling of wrong guesses, and signed session tokens.

The HTTP layer in front of Streamlit (pages/access.py) asks this module before any request reaches
Streamlit: its login route checks a password here and sets the session token as a cookie, and every other
request must carry a token this module signed. Nothing here imports streamlit. The gate is process state
(`gate()`), outside any cache a client message can clear.

Throttling is per client address (behind a proxy: the forwarded address, when that proxy is trusted through
DEEPCLEAN_TRUSTED_PROXIES), so one client's failures lock out only that client. A server-wide ceiling bounds
guesses from many addresses: once GLOBAL_CEILING wrong passwords fall within GLOBAL_WINDOW_S, a client that
failed within the window is refused without comparing, and any other client is locked after one failure. A
client with no recent failure is always compared, so a correct password is never locked out for longer
than its own address's lock-out or the window.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

FREE_ATTEMPTS = 3          # wrong passwords a client may send before its lock-out starts
BASE_LOCKOUT_S = 2.0       # its first lock-out; each further failure doubles it
MAX_LOCKOUT_S = 300.0
GLOBAL_WINDOW_S = 600.0    # the server-wide ceiling counts failures over this window
GLOBAL_CEILING = 30
MAX_CLIENTS = 10_000       # clients remembered at once (the oldest are forgotten first)
SESSION_S = 12 * 3600      # a login lasts this long


_file_cache: dict[str, tuple[tuple, str]] = {}


class AuthConfigError(RuntimeError):
    """Access control is asked for but cannot be set up (an unreadable password file); the server then
    refuses every request but its health checks, rather than serve the app open."""


def configured_password() -> str:
    """The password: the contents of DEEPCLEAN_PASSWORD_FILE (a Docker secret; one trailing newline is
    ignored), else DEEPCLEAN_PASSWORD; empty means no password."""
    file = os.environ.get("DEEPCLEAN_PASSWORD_FILE")
    if file:
        try:
            info = os.stat(file)
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
            if _file_cache.get(file, (None,))[0] != stamp:  # read again only when it changes (asked per request)
                _file_cache[file] = (stamp, Path(file).read_text(encoding="utf-8"))
            text = _file_cache[file][1]
        except (OSError, UnicodeDecodeError) as e:
            raise AuthConfigError(f"DEEPCLEAN_PASSWORD_FILE={file} cannot be read ({e}); make it readable by "
                                  f"the server's user, or unset it") from e
        password = text[:-1] if text.endswith("\n") else text
        if not password.strip():
            raise AuthConfigError(f"DEEPCLEAN_PASSWORD_FILE={file} is empty; write the password in it, or unset it")
        return password.rstrip("\r")
    return os.environ.get("DEEPCLEAN_PASSWORD", "")


@dataclass
class _Client:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


class PasswordGate:
    """Checks passwords (constant time), throttles wrong ones per client with a server-wide ceiling, and
    signs and checks session tokens."""

    def __init__(self, password: str | None = None, clock=time.monotonic, wall=time.time,
                 secret: bytes | None = None) -> None:
        self.password = password if password is not None else configured_password()
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._failures: deque[float] = deque()  # times of wrong passwords server-wide, within the window
        self._revoked: dict[str, float] = {}    # nonce → expiry of tokens logged out before they expired
        env = os.environ.get("DEEPCLEAN_SESSION_SECRET")
        # sessions end when the server restarts unless a secret is given; a new password ends them too
        secret = secret or (env.encode() if env else secrets.token_bytes(32))
        self._key = hmac.new(secret, self.password.encode("utf-8"), hashlib.sha256).digest()

    @property
    def enabled(self) -> bool:
        return bool(self.password)

    def _forget_old(self, now: float) -> None:
        while self._failures and self._failures[0] <= now - GLOBAL_WINDOW_S:
            self._failures.popleft()
        if len(self._clients) > MAX_CLIENTS:
            for key, c in sorted(self._clients.items(), key=lambda kv: kv[1].last_failure):
                if len(self._clients) <= MAX_CLIENTS // 2:
                    break
                if c.locked_until <= now:
                    del self._clients[key]

    def wait_s(self, client: str = "local") -> float:
        """Seconds until this client may try again (0 when it may)."""
        c = self._clients.get(client)
        return max(0.0, c.locked_until - self._clock()) if c else 0.0

    def attempt(self, entered: str, client: str = "local") -> tuple[bool, str]:
        """(accepted, message) for a password sent by `client` (its address). Refused without comparing
        while that client is locked out, or while the server-wide ceiling holds and it failed recently."""
        with self._lock:
            now = self._clock()
            self._forget_old(now)
            c = self._clients.get(client)
            if c is not None and c.locked_until > now:
                return False, f"Too many wrong passwords from your address: try again in {c.locked_until - now:.0f} s."
            crowded = len(self._failures) >= GLOBAL_CEILING
            if crowded and c is not None and c.last_failure > now - GLOBAL_WINDOW_S:
                # until this client's failure leaves the window, or enough others do to end the crowding
                ends = min(c.last_failure, self._failures[len(self._failures) - GLOBAL_CEILING]) + GLOBAL_WINDOW_S
                return False, f"Too many wrong passwords on this server: try again in {ends - now:.0f} s."
            if self.enabled and hmac.compare_digest(entered.encode("utf-8"), self.password.encode("utf-8")):
                self._clients.pop(client, None)
                return True, ""
            c = self._clients.setdefault(client, _Client())
            c.failures += 1
            c.last_failure = now
            self._failures.append(now)
            free = 1 if crowded else FREE_ATTEMPTS
            if c.failures >= free:
                delay = min(MAX_LOCKOUT_S, BASE_LOCKOUT_S * 2 ** (c.failures - free))
                c.locked_until = now + delay
                return False, f"Wrong password. Locked for {delay:.0f} s after {c.failures} failures."
            return False, "Wrong password."

    # Session tokens: "expiry.nonce.signature", HMAC-SHA256 under a key bound to the password.
    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def issue(self, lifetime_s: float = SESSION_S) -> str:
        """A new session token (the login cookie's value)."""
        body = f"{int(self._wall() + lifetime_s)}.{secrets.token_hex(16)}"
        return f"{body}.{self._sign(body)}"

    def valid(self, token: str | None) -> bool:
        """Whether `token` is one this gate issued, unexpired and not logged out."""
        if not self.enabled or not token or token.count(".") != 2:
            return False
        expiry, nonce, signature = token.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{expiry}.{nonce}")):
            return False
        with self._lock:
            return expiry.isdigit() and int(expiry) > self._wall() and nonce not in self._revoked

    def revoke(self, token: str | None) -> None:
        """Log a token out before it expires."""
        if self.valid(token):
            expiry, nonce, _ = token.split(".")
            with self._lock:
                now = self._wall()
                self._revoked = {n: t for n, t in self._revoked.items() if t > now}
                self._revoked[nonce] = float(expiry)


_gate_lock = threading.Lock()
_gate: PasswordGate | None = None


def gate() -> PasswordGate:
    """This server's gate (process state: its lock-out survives anything a client can send). A new one is
    made when the configured password changes. Raises AuthConfigError for an unreadable password file."""
    global _gate
    password = configured_password()
    with _gate_lock:
        if _gate is None or _gate.password != password:
            _gate = PasswordGate(password)
        return _gate


def _networks(spec: str) -> list:
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise AuthConfigError(f"DEEPCLEAN_TRUSTED_PROXIES: {item!r} is not an address or network "
                                  f"(e.g. 10.0.0.5 or 172.16.0.0/12)") from None
    return out


def client_address(peer: str | None, forwarded_for: str | None) -> str:
    """The address a request comes from, for throttling: the peer, or, when the peer is a proxy named in
    DEEPCLEAN_TRUSTED_PROXIES, the rightmost X-Forwarded-For address that is not such a proxy."""
    peer = peer or "unknown"
    trusted = _networks(os.environ.get("DEEPCLEAN_TRUSTED_PROXIES", ""))

    def is_trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in trusted)

    if not trusted or not forwarded_for or not is_trusted(peer):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer
