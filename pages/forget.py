"""Forget set: whole classes, a random fraction with a seed, samples picked in a gallery, or a CSV of indices."""

from __future__ import annotations

import streamlit as st

from core.forget import ForgetSpec, ForgetSpecError, read_indices_csv
from core.checkpoint import CheckpointError
from core.data import DataError
from core.display import thumbnails
from core.words import term
from pages import common

PAGE_SIZE = 32
GALLERY_COLUMNS = 8
STRIP = 16

st.title("Forget set")
st.caption("Choose the training images the model must forget (the data to forget, Df); the rest of the training "
           "split is the data to keep (Dr).")

try:
    ds = common.active_dataset()
except (CheckpointError, DataError, OSError) as e:
    st.error(f"The active model's dataset cannot be loaded: {e}")
    st.stop()

current = common.forget_spec()
modes = ["Whole classes", "Random fraction", "Pick samples", "Upload CSV of indices"]
default_mode = {"classes": 0, "random": 1, "indices": 2}.get(current.kind, 0) if current else 0
mode = st.radio("How to choose", modes, index=default_mode, horizontal=True, key="forget_mode")

spec: ForgetSpec | None = None
error: str | None = None
hint: str | None = None
if mode == "Whole classes":
    preset = [ds.classes[c] for c in current.classes] if current and current.kind == "classes" else [ds.classes[0]]
    chosen = st.multiselect("Classes to forget", ds.classes, default=preset, key="forget_classes")
    spec = ForgetSpec.of_classes(ds.classes.index(c) for c in chosen) if chosen else None
    if not chosen:
        hint = "Choose at least one class."
elif mode == "Random fraction":
    c1, c2 = st.columns(2)
    frac = c1.slider("Fraction of the training split", 0.01, 0.5, 0.1, 0.01, format="%.2f", key="forget_fraction")
    seed = c2.number_input("Seed", min_value=0, value=0, step=1, key="forget_seed")
    spec = ForgetSpec.random(fraction=float(frac), seed=int(seed))
elif mode == "Pick samples":
    picked: set[int] = st.session_state.setdefault("picked", set(current.indices) if current and current.kind == "indices" else set())
    c1, c2, c3 = st.columns([2, 1, 1])
    cls = c1.selectbox("Show class", ["all"] + ds.classes, key="gallery_class")
    pool = list(range(len(ds.y_train))) if cls == "all" else \
        [i for i, y in enumerate(ds.y_train.tolist()) if y == ds.classes.index(cls)]
    pages = max(1, -(-len(pool) // PAGE_SIZE))
    page = c2.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1, key="gallery_page")
    if c3.button("Clear selection", key="clear_picks"):
        picked.clear()
        for k in [k for k in st.session_state if str(k).startswith("pick_")]:
            del st.session_state[k]
    shown = pool[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    for n, (i, img) in enumerate(zip(shown, thumbnails(ds.x_train[shown].numpy()))):
        if n % GALLERY_COLUMNS == 0:  # one row of columns at a time, so the tab order goes across rows
            cols = st.columns(GALLERY_COLUMNS)
        with cols[n % GALLERY_COLUMNS]:
            st.image(img, width="stretch", clamp=True)
            on = st.checkbox(f"#{i} ({ds.classes[int(ds.y_train[i])]})", value=i in picked, key=f"pick_{i}")
            (picked.add if on else picked.discard)(i)
    spec = ForgetSpec.of_indices(sorted(picked)) if picked else None
    if not picked:
        hint = "Tick the images to forget."
else:
    up = st.file_uploader("CSV of training-split indices (one per line, or an 'index' column)", type=["csv", "txt"],
                          key="indices_csv")
    if up is not None:
        try:
            spec = read_indices_csv(up.getvalue().decode("utf-8", errors="replace"))
        except ForgetSpecError as e:
            error = str(e)
    else:
        hint = "Upload a CSV of indices."

if spec is not None:
    try:
        f_idx, r_idx = common.forget_sets(spec, ds)
    except ForgetSpecError as e:
        error, spec = str(e), None
if error:
    st.error(error)
elif hint:
    st.info(hint)
if spec is not None:
    c1, c2, c3 = st.columns(3)
    expert = common.expert()
    c1.metric("Forget set Df" if expert else "Data to forget", f"{len(f_idx):,} images", help=term("forget").help)
    c2.metric("Retain set Dr" if expert else "Data to keep", f"{len(r_idx):,} images", help=term("retain").help)
    c3.metric("Share forgotten", f"{100 * len(f_idx) / len(ds.y_train):.1f}%")
    st.caption(f"First images to forget ({common.forget_words(spec)}):")
    strip = list(f_idx[:STRIP])
    cols = st.columns(STRIP)
    for col, i, img in zip(cols, strip, thumbnails(ds.x_train[strip].numpy())):
        col.image(img, caption=ds.classes[int(ds.y_train[i])], width="stretch", clamp=True)
    same = current is not None and current.to_dict() == spec.to_dict()
    if st.button("Use this forget set", type="primary", disabled=same, key="use_forget_set"):
        common.set_forget_spec(spec)
        st.rerun()
    if same:
        st.success(f"Active forget set: {common.forget_words(spec)}. Next: the Unlearn page.")
        st.page_link("pages/unlearn.py", label="Go to Unlearn", icon=":material/cleaning_services:")
