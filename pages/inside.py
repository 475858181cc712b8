"""Inside the model: where the forgotten images land in the model's feature space, which layers changed, and how
sure an attacker is about each forgotten image, before and after."""

from __future__ import annotations

import altair as alt
import streamlit as st

from core import palette, queries
from core.attack_view import attack_frame
from core.checkpoint import CheckpointError
from core.cka import cka_frame
from core.data import DataError
from core.display import run_label, thumbnails
from core.embedding import PROJECTIONS, embedding_frame
from core.inside import load_run_models
from pages import common

ROLE_LABEL = {"original": "original", "unlearned": "after unlearning", "gold": palette.GOLD}
THUMBS = 16

st.title("Inside the model")
st.caption("What changed inside the network: the images' places in its feature space, each layer's similarity "
           "to the retrained model, and the attacker's confidence on each forgotten image.")
store = common.store()
done = queries.finished_results(store)
if not done:
    st.info("No finished unlearning run yet: run one (the Home page's demo takes a click), then come back.")
    st.page_link("pages/home.py", label="Home", icon=":material/home:")
    st.stop()

by_id = {rec["id"]: r for rec, r in done}
labels = {rec["id"]: run_label(rec, chosen=(r.gamma_search or {}).get("chosen")) for rec, r in done}
wanted = st.query_params.get("run") or st.session_state.get("result_run")
if wanted in by_id:
    st.session_state["result_run"] = wanted
run_id = common.bound_selectbox("Run", list(by_id), "result_run", "inside_run", format_func=labels.get)
st.query_params["run"] = run_id
result = by_id[run_id]


@st.cache_resource(show_spinner="Loading the run's models…", max_entries=4)
def run_models(run_id: str):
    return load_run_models(common.store(), by_id[run_id])


try:
    run = run_models(run_id)
except (CheckpointError, DataError, OSError) as e:
    st.error(f"This run's models cannot be loaded: {e}. The input checkpoint may have been deleted or moved.")
    st.stop()
for role, why in run.missing.items():
    st.warning(f"The {ROLE_LABEL[role]} model is not shown: {why}.")
if "unlearned" not in run.models:
    st.stop()

st.subheader("Feature space")
projection = st.radio("Map", PROJECTIONS, horizontal=True, key="projection",
                      help="PCA: a linear projection (fast, faithful to distances); t-SNE: keeps neighbours together "
                           "(slower, clusters clearer)")


@st.cache_data(show_spinner="Projecting the features…", max_entries=8)
def embedding(run_id: str, projection: str):
    return embedding_frame(run_models(run_id), projection)


frame = embedding(run_id, projection)
frame["model"] = frame["model"].map(ROLE_LABEL)
order = [ROLE_LABEL[r] for r in ("original", "unlearned", "gold") if ROLE_LABEL[r] in set(frame["model"])]
st.altair_chart(alt.Chart(frame).mark_point(filled=True).encode(
    x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None),
    color=alt.Color("class:N", title="class"),
    shape=alt.Shape("set:N", scale=alt.Scale(domain=["forgotten", "unseen"], range=["diamond", "circle"]),
                    title=None),
    size=alt.condition(alt.datum.set == "forgotten", alt.value(70), alt.value(18)),
    opacity=alt.condition(alt.datum.set == "forgotten", alt.value(0.95), alt.value(0.35)),
    tooltip=["model", "set", "class"]).properties(width=300, height=300).facet(
    column=alt.Column("model:N", sort=order, title=None)))
st.caption("Each point is an image, placed by the features the model's output layer reads (penultimate layer), "
           "projected to two dimensions; diamonds are images to forget. Forgetting a class shows as its diamonds "
           "leaving their own cluster and scattering among the others, as in the retrained model. The model after "
           "unlearning is drawn on the original's axes, so points can be compared; the retrained model has axes of "
           "its own.")

st.subheader("Layer by layer: how similar to the original and to the retrained model")


@st.cache_data(show_spinner="Comparing layers…", max_entries=8)
def similarity(run_id: str):
    run = run_models(run_id)
    import torch

    x = torch.cat([run.forget.tensors[0], run.test.tensors[0]])
    return cka_frame(run.models, x)


cka = similarity(run_id)
if cka.empty:
    st.caption("No layer of this model can be compared.")
else:
    cka["against"] = cka["against"].map(ROLE_LABEL)
    layers = list(dict.fromkeys(cka["layer"]))
    st.altair_chart(alt.Chart(cka).mark_bar().encode(
        y=alt.Y("layer:N", sort=layers, title=None, axis=alt.Axis(labelLimit=260)),
        yOffset=alt.YOffset("against:N"),
        x=alt.X("cka:Q", scale=alt.Scale(domain=[0, 1]), title="similarity (linear CKA)"),
        color=alt.Color("against:N", title="against",
                        scale=alt.Scale(domain=list(dict.fromkeys(cka["against"])),
                                        range=[palette.ORIGINAL_COLOUR, palette.GOLD_COLOUR][:cka["against"].nunique()])),
        tooltip=["layer", "against", alt.Tooltip("cka:Q", format=".3f")]), width="stretch")
    st.caption("Linear CKA between the unlearned model's activations and the other model's, layer by layer, on the "
               "same images (1: the layer represents them the same way). Layers far from the original and close to "
               "the retrained model are where the forgetting happened.")

st.subheader("Per image: how sure the attacker is that each forgotten image was trained on")


@st.cache_data(show_spinner="Running the attacker…", max_entries=8)
def attack(run_id: str):
    run = run_models(run_id)
    return attack_frame(run.models, run.retain, run.test, run.forget, run.forget_indices)


scores = attack(run_id)
long = scores.melt(id_vars=["index"], var_name="model", value_name="confidence")
long["model"] = long["model"].map(ROLE_LABEL)
st.altair_chart(alt.Chart(long).transform_bin("bin", "confidence", bin=alt.Bin(maxbins=20)).mark_bar(
    opacity=0.6).encode(
    x=alt.X("bin:Q", bin="binned", title="attacker's confidence that the image was trained on",
            axis=alt.Axis(format="%")), x2="bin_end:Q",
    y=alt.Y("count():Q", stack=None, title="images"),
    color=alt.Color("model:N", sort=order, scale=alt.Scale(
        domain=order, range=[palette.ORIGINAL_COLOUR, palette.colour(palette.model_label("unlearned", result.method)),
                             palette.GOLD_COLOUR][:len(order)]), title=None)), width="stretch")
try:
    _, card = common.model(result.checkpoint["path"], 0.0)
    ds = common.dataset(card["dataset"], card.get("data_path"))
except (CheckpointError, DataError, OSError) as e:
    st.caption(f"The images cannot be shown: {e}")
else:
    top = scores.head(THUMBS)
    st.caption(f"The {len(top)} forgotten images the attacker is still surest about, most exposed first "
               "(confidence before → after):")
    imgs = thumbnails(ds.x_train[top["index"].tolist()].numpy())
    for start in range(0, len(top), 8):
        cols = st.columns(8)
        for col, (_, row), img in zip(cols, top.iloc[start:start + 8].iterrows(), imgs[start:start + 8]):
            col.image(img, width="stretch", clamp=True,
                      caption=f"#{int(row['index'])} · {100 * row['original']:.0f}% → {100 * row['unlearned']:.0f}%")
