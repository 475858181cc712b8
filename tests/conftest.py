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
    return tmp_path


@pytest.fixture(autouse=True)
def restore_main_module():
    """AppTest runs app.py as `__main__`; restore the real one, or processes spawned later (Dask's workers)
    would re-run app.py as their main module."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def digits():
    from core.data import load_dataset

    return load_dataset("digits")
