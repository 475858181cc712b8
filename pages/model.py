"""Model: choose a shipped or uploaded checkpoint, see its card, per-class accuracy and sample predictions."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core.cards import INPUT_PRESETS, default_preset
from core.checkpoint import CheckpointError
from core.data import DATASETS, DataError
from core.display import card_view, thumbnails
from core.models import MODELS
from core.predict import evaluate_checkpoint, predictions
from core.uploads import (UploadError, dataset_kind, display_name, list_uploaded_datasets, max_bytes,
                          save_checkpoint_upload, save_dataset_upload)
from pages import common

SAMPLES = 12
PRESET_WORDS = {"dataset": "the dataset's own statistics", "imagenet": "ImageNet's (torchvision)"}


def upload_limit_mb() -> int:
    """The uploaders state the limit the server checks (DEEPCLEAN_MAX_UPLOAD_MB)."""
    return max(1, max_bytes() // 2**20)


@st.cache_data(show_spinner="Measuring accuracy…")
def accuracy(path: str, mtime: float) -> dict:
    return evaluate_checkpoint(path, device="cpu")


st.title("Model")
st.caption("Pick the classifier to unlearn from: a shipped checkpoint, or your own.")

choices = {str(p): p for p in common.checkpoints()}
common.active_checkpoint()
common.bound_selectbox("Checkpoint", list(choices), "checkpoint", "checkpoint_choice",
                       on_pick=lambda _: st.session_state.pop("forget", None),  # a forget set belongs to one dataset
                       format_func=lambda p: display_name(p), help="Shipped checkpoints, then the ones you uploaded")

with st.expander("Upload your own checkpoint or dataset"):
    left, right = st.columns(2)
    with left:
        up = st.file_uploader("Checkpoint (.safetensors, or a .pt/.pth state dict)", type=["safetensors", "pt", "pth"],
                              key="ckpt_upload", max_upload_size=upload_limit_mb(),
                              help="Trained on one of the datasets below; checked in a separate process before use")
        arch = st.selectbox("Architecture", list(MODELS), key="ckpt_arch")
        uploaded_ds = {f"your data: {p.name}": p for p in list_uploaded_datasets()}
        ds_name = st.selectbox("Dataset it was trained on", list(DATASETS) + list(uploaded_ds), key="ckpt_ds",
                               help="Its input shape and classes must match the checkpoint")
        p1, p2 = st.columns([2, 1])
        preset = p1.radio("Its inputs in training", INPUT_PRESETS, index=INPUT_PRESETS.index(default_preset(arch)),
                          format_func=PRESET_WORDS.get, horizontal=True, key="ckpt_preset",
                          help="How images were normalised when it was trained: torchvision's ImageNet models use "
                               "ImageNet's statistics on three channels; models trained here use the dataset's own")
        size = p2.number_input("Image size (0: the preset's)", min_value=0, max_value=1024, value=0, step=1,
                               key="ckpt_size", help="The side images were resized to in training, e.g. 224 for "
                                                     "ImageNet models; 0 keeps the preset's (the dataset's, or 224)")
        if st.button("Check and use this checkpoint", disabled=up is None, key="use_checkpoint"):
            try:
                if ds_name in uploaded_ds:
                    data_path = str(uploaded_ds[ds_name])
                    ds = common.dataset(dataset_kind(data_path), data_path)
                else:
                    data_path, ds = None, common.dataset(ds_name, None)
                path, card = save_checkpoint_upload(up.getvalue(), up.name, arch, ds, data_path, preset=preset,
                                                    size=int(size) or None)
            except (UploadError, DataError, ValueError, FileNotFoundError) as e:
                st.error(str(e))
            else:
                st.session_state["checkpoint"] = str(path)
                st.session_state.pop("forget", None)
                st.success(f"{up.name} checked: input {card['input_shape']}, {card['num_classes']} classes "
                           f"({card.get('input_transform', '')}). It is now the active model.")
                st.rerun()
    with right:
        dup = st.file_uploader("Dataset (.npz with x uint8 N×H×W(×C) and y, or a zip with one folder per class)",
                               type=["npz", "zip"], key="ds_upload", max_upload_size=upload_limit_mb())
        if st.button("Check this dataset", disabled=dup is None, key="check_dataset"):
            try:
                path, ds = save_dataset_upload(dup.getvalue(), dup.name)
            except UploadError as e:
                st.error(str(e))
            else:
                st.success(f"{dup.name}: {len(ds.y_train)} training and {len(ds.y_test)} test images, "
                           f"{ds.num_classes} classes, {list(ds.input_shape)}. Choose it as the dataset of an "
                           f"uploaded checkpoint, or train one: python -m core train --dataset "
                           f"{dataset_kind(path)} --data-path {path} ...")

try:
    net, card = common.active_model()
    ds = common.active_dataset()
    acc = accuracy(str(common.active_checkpoint()), common.active_checkpoint().stat().st_mtime)
except (CheckpointError, DataError, OSError, ValueError) as e:
    st.error(f"This checkpoint cannot be used: {e}")
    st.stop()

c1, c2, c3, c4 = st.columns(4)
c1.metric("Architecture", card["architecture"], help="The network's design (core/models)")
c2.metric("Dataset", ds.name, f"{ds.num_classes} classes", delta_color="off", help="What it was trained on")
c3.metric("Test accuracy", f"{100 * acc['acc_test']:.2f}%", help="On images it never trained on")
c4.metric("Train accuracy", f"{100 * acc['acc_train']:.2f}%", help="On its own training images")
with st.expander("Model card"):
    st.table(card_view(card))
    if common.expert():
        st.json(card)

st.subheader("Accuracy per class (test split)")
per = pd.DataFrame({"class": list(acc["per_class_test"]), "accuracy": list(acc["per_class_test"].values())})
st.altair_chart(alt.Chart(per).mark_bar().encode(
    x=alt.X("class:N", sort=None), y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
    tooltip=["class", alt.Tooltip("accuracy:Q", format=".2%")]), width="stretch")

st.subheader("Sample test images")
idx = list(range(min(SAMPLES, len(ds.y_test))))
preds = predictions(net, card, ds, "test", idx)
cols = st.columns(len(idx))
for col, i, img, p in zip(cols, idx, thumbnails(ds.x_test[idx].numpy()), preds):
    true = ds.classes[int(ds.y_test[i])]
    col.image(img, caption=f"{'✓' if p == int(ds.y_test[i]) else '✗'} {ds.classes[int(p)]} (true {true})",
              width="stretch", clamp=True)
