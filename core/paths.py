"""Where runs, uploads and datasets live: `DEEPCLEAN_HOME` and `DEEPCLEAN_DATA`."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = REPO_ROOT / "checkpoints"


def home() -> Path:
    """The run store's folder (`DEEPCLEAN_HOME`, default `./runs`)."""
    return Path(os.environ.get("DEEPCLEAN_HOME", "runs")).resolve()


def data_root() -> Path:
    """The folder torchvision datasets are read from (`DEEPCLEAN_DATA`, default `./data`)."""
    return Path(os.environ.get("DEEPCLEAN_DATA", "data")).resolve()
