"""Password access control for the dashboard: constant-time comparison and a lock-out after failures.

The UI asks for the password (pages/common.py); this module decides. One `PasswordGate` per server
process, so the lock-out holds across browser sessions.
"""

from __future__ import annotations

import hmac
import os
import threading
import time

FREE_ATTEMPTS = 3        # failures allowed before the lock-out starts
BASE_LOCKOUT_S = 2.0     # the first lock-out; each further failure doubles it
MAX_LOCKOUT_S = 300.0


class PasswordGate:
    """Checks passwords against DEEPCLEAN_PASSWORD (or the one given) and locks out after repeated failures."""

    def __init__(self, password: str | None = None, clock=time.monotonic) -> None:
        self.password = password if password is not None else os.environ.get("DEEPCLEAN_PASSWORD", "")
        self._clock = clock
        self._lock = threading.Lock()
        self.failures = 0
        self.locked_until = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.password)

    def wait_s(self) -> float:
        """Seconds until another attempt is accepted (0 when one is)."""
        return max(0.0, self.locked_until - self._clock())

    def attempt(self, entered: str) -> tuple[bool, str]:
        """(accepted, message). Refused outright while locked out, without comparing."""
        with self._lock:
            wait = self.wait_s()
            if wait > 0:
                return False, f"Too many wrong passwords: try again in {wait:.0f} s."
            if hmac.compare_digest(entered.encode("utf-8"), self.password.encode("utf-8")):
                self.failures, self.locked_until = 0, 0.0
                return True, ""
            self.failures += 1
            if self.failures >= FREE_ATTEMPTS:
                delay = min(MAX_LOCKOUT_S, BASE_LOCKOUT_S * 2 ** (self.failures - FREE_ATTEMPTS))
                self.locked_until = self._clock() + delay
                return False, f"Wrong password. Locked for {delay:.0f} s after {self.failures} failures."
            return False, "Wrong password."
