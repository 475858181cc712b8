"""DeepClean Studio's dashboard entry point: `streamlit run app.py` (or `make run`)."""

from __future__ import annotations

import streamlit as st

from core import paths
from core.checkpoint import list_checkpoints
from core.data import DATASETS
from core.runtime import device_label

st.set_page_config(page_title="DeepClean Studio", layout="wide")
st.title("DeepClean Studio")
st.caption(f"Machine unlearning for image classifiers · device: {device_label()}")

st.subheader("Datasets")
st.table([{"name": name, "description": entry.description} for name, entry in DATASETS.items()])

st.subheader("Shipped checkpoints")
st.table([{"checkpoint": p.name} for p in list_checkpoints(paths.CHECKPOINT_DIR)])
