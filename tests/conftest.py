"""Shared fixtures: an isolated DEEPCLEAN_HOME/DEEPCLEAN_DATA per test, tiny data and models."""

from __future__ import annotations

import os
import sys

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "2")
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own run store and data folder."""
    monkeypatch.setenv("DEEPCLEAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEEPCLEAN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("DEEPCLEAN_WARM_WORKER", "0")  # no spare worker per test's server executor (test_jobs tests it)
    return tmp_path


@pytest.fixture(autouse=True)
def restore_main_module():
    """AppTest runs app.py as `__main__`; restore the real one, or processes spawned later (Dask's workers)
    would re-run app.py as their main module."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server for the session (tests/pg_server.py). Missing binaries skip the tests
    that need it, except under `make test` (DEEPCLEAN_REQUIRE_POSTGRES=1), where they fail."""
    from pg_server import binaries, server

    if binaries() is None:
        if os.environ.get("DEEPCLEAN_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is not installed: `make test` installs Debian's postgresql package")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql, or run `make test`)")
    with server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, monkeypatch):
    """Each store test twice: on the embedded SQLite, and on a fresh database of a real PostgreSQL server
    (DEEPCLEAN_DATABASE_URL set, so worker processes the test spawns use it too)."""
    if request.param == "sqlite":
        monkeypatch.delenv("DEEPCLEAN_DATABASE_URL", raising=False)
        yield None
        return
    from pg_server import database

    with database(request.getfixturevalue("postgres_server")) as url:
        monkeypatch.setenv("DEEPCLEAN_DATABASE_URL", url)
        yield url


@pytest.fixture(scope="session")
def digits():
    from core.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def shipped():
    """The shipped digits checkpoint (its model card beside it); tests only ever read it."""
    from core.paths import CHECKPOINT_DIR

    return CHECKPOINT_DIR / "digits_cnn_small.safetensors"


@pytest.fixture
def make_result():
    """A factory of small hand-made unlearning results (no model is trained): figures as given, the rest
    plausible. `store=` also records it as a finished unlearn run, as `run_unlearn` would."""
    from core.forget import ForgetSpec
    from core.result import ForgetInfo, GoldRef, ModelMetrics, UnlearnResult

    def metrics(acc_forget, acc_test, mia, seconds=0.0, retained=None):
        return ModelMetrics(acc_retain=1.0, acc_forget=acc_forget, acc_test=acc_test, mia_forget=mia, loss_auc=0.5,
                            js_to_gold=0.1, seconds=seconds, per_class_test=[acc_test, 1.0],
                            acc_test_retained_classes=retained,
                            acc_test_forgotten_classes=0.0 if retained is not None else None)

    def make(method="deepclean", *, gamma=None, spec=None, acc_forget=0.0, acc_test=0.9, mia=0.1, seconds=0.2,
             gold=(0.0, 0.9, 0.05), gold_seconds=1.0, sha="ab" * 32, store=None):
        spec = spec or ForgetSpec.of_classes([0])
        classes = spec.kind == "classes"
        r = UnlearnResult(
            run_id=None, method=method, config={} if gamma is None else {"gamma": gamma},
            checkpoint={"path": "ckpt.safetensors", "sha256": sha}, dataset="digits", classes=["0", "1"],
            forget=ForgetInfo(spec, 10, 90),
            models={"original": metrics(1.0, 0.95, 0.9, retained=0.95 if classes else None),
                    "unlearned": metrics(acc_forget, acc_test, mia, seconds, retained=acc_test if classes else None),
                    "gold": metrics(*gold, gold_seconds, retained=gold[1] if classes else None)},
            gold_ref=GoldRef("gold-run", True, gold_seconds), seconds_standalone=seconds,
            weights_changed_fraction=0.01, per_layer={"0.weight": {"changed_fraction": 0.01}}, phases={},
            weights_reset_fraction=None if gamma is None else 0.1 / gamma)
        if store is not None:
            rid = store.create("unlearn", method=method, config=r.config, forget=spec.to_dict(), parent_sha256=sha)
            store.start(rid)
            r.run_id = rid
            store.finish(rid, metrics=r.to_dict())
        return r

    return make


@pytest.fixture
def open_app():
    """Open the dashboard through Streamlit's AppTest: `open_app(page=None, **session_state)` runs app.py with
    that state, switches to `page`, and checks that nothing raised. Cached resources (the executor and its
    store) are cleared around each test, so they belong to its DEEPCLEAN_HOME."""
    from pathlib import Path

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    app_py = str(Path(__file__).resolve().parents[1] / "app.py")
    st.cache_resource.clear()
    st.cache_data.clear()

    def open_(page: str | None = None, **state) -> AppTest:
        at = AppTest.from_file(app_py, default_timeout=120)
        for k, v in state.items():
            at.session_state[k] = v
        at.run()
        if page:
            at.switch_page(page).run()
        assert not at.exception, at.exception
        return at

    yield open_
    st.cache_resource.clear()
