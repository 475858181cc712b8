"""Password access: constant-time check, lock-out after failures, every page behind it; open mode says so."""

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.auth import FREE_ATTEMPTS, PasswordGate

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
        assert gate.attempt("nope") == (False, "Wrong password.")
    ok, msg = gate.attempt("nope")
    assert not ok and "Locked for 2 s" in msg
    assert gate.attempt("s3cret")[0] is False  # locked: not even compared
    clock.t += 2.1
    ok, msg = gate.attempt("still wrong")
    assert "Locked for 4 s" in msg
    clock.t += 4.1
    assert gate.attempt("s3cret") == (True, "")
    assert gate.failures == 0 and gate.wait_s() == 0


@pytest.fixture(autouse=True)
def fresh():
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_every_page_asks_for_the_password_first(monkeypatch):
    monkeypatch.setenv("DEEPCLEAN_PASSWORD", "s3cret")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.metric and [t.label for t in at.text_input] == ["Password"]
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert at.error[0].value == "Wrong password." and not at.metric
    at.text_input[0].input("s3cret")
    at.button[0].click().run()
    assert {m.label: m.value for m in at.metric}["Test accuracy"] == "98.67%"
    assert not any("Open access" in c.value for c in at.sidebar.caption)


def test_open_mode_says_so_on_the_sidebar(monkeypatch):
    monkeypatch.delenv("DEEPCLEAN_PASSWORD", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert any("Open access" in c.value for c in at.sidebar.caption)
