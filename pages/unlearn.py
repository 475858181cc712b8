"""Unlearn: choose the method and its settings (γ with the γ-curve in view), launch a background job, watch it."""

from __future__ import annotations

import dataclasses
import time

import altair as alt
import pandas as pd
import streamlit as st
import torch

from core import config as cfgmod
from core.jobs import JobRequest
from core.methods import METHODS, MethodError
from core.methods.deepclean import GAMMA_GRID, DeepCleanConfig, default_gamma, gamma_curve, importances
from core.report import eta_seconds
from core.store import StoreError
from core.sweep import parse_gammas, submit_sweep
from core.unlearn import prepare
from pages import common

GAMMA_METHODS = ("deepclean", "zero_weights")


@st.cache_data(show_spinner="Computing the Fisher diagonals for the γ-curve…")
def curve(path: str, mtime: float, spec: dict, fisher_batch: int, retain_samples: int | None) -> list[dict]:
    """Weights selected per γ for this model and forget set (recomputed only when either changes)."""
    from core.forget import ForgetSpec

    prep = prepare(path, ForgetSpec.from_dict(spec), device="cpu")
    cfg = DeepCleanConfig(fisher_batch_size=fisher_batch, retain_samples=retain_samples)
    i_f, i_r = importances(prep.model, prep.task, cfg)
    grid = sorted(set(GAMMA_GRID) | {round(0.5 + 0.25 * k, 2) for k in range(39)})
    return [{k: v for k, v in row.items() if k != "per_layer"} for row in gamma_curve(i_f, i_r, grid)]


def progress_panel() -> None:
    """Every job in progress, with phase, elapsed time, ETA and Cancel; polls only while one runs."""
    jobs = common.running_jobs()
    last = st.session_state.get("last_job")
    rec = None
    if last and all(j["id"] != last for j in jobs):  # this session's latest job has ended
        try:
            rec = common.store().get(last)
        except StoreError:  # deleted on the Runs page meanwhile
            st.session_state.pop("last_job", None)
    if rec is not None:
        if rec["status"] == "done":
            st.success(f"Run {last} finished ({rec['method']}).")
            if st.button("Open its results", type="primary"):
                st.session_state["result_run"] = last
                st.switch_page("pages/results.py")
        elif rec["status"] in ("failed", "cancelled", "interrupted"):
            st.error(f"Run {last} {rec['status']}: {rec['error']}")
    for j in jobs:
        with st.container(border=True):
            elapsed = time.time() - (j["started_at"] or j["created_at"])
            eta = eta_seconds(j)
            st.markdown(f"**{j['method']}** on {common.describe_forget(j['forget'] or {})} · run `{j['id']}` · "
                        f"{j['status']}")
            st.progress(min(1.0, j["progress"] or 0.0),
                        text=f"{j['phase'] or 'waiting for a worker'} {j['message'] or ''} · elapsed {elapsed:.0f}s"
                             + (f" · about {eta:.0f}s left in this phase" if eta is not None else ""))
            if st.button("Cancel", key=f"cancel_{j['id']}"):
                common.executor().cancel(j["id"])
                st.rerun()
    if st.session_state.get("_had_jobs") and not jobs:
        st.session_state["_had_jobs"] = False
        st.rerun()  # a full rerun stops the polling
    st.session_state["_had_jobs"] = bool(jobs)


st.title("Unlearn")
spec = common.forget_spec()
if spec is None:
    st.info("Choose what to forget first.")
    st.page_link("pages/forget.py", label="Go to Forget set", icon=":material/target:")
else:
    path = common.active_checkpoint()
    st.caption(f"Model `{path.name}` · forget {spec.describe()}")
    names = list(METHODS)
    method = st.selectbox("Method", names, index=0, format_func=lambda n: f"{n} — {METHODS[n].summary}")
    m = METHODS[method]
    st.caption(f"Needs labels: {'yes' if m.needs_labels else 'no'} · retain data: {m.needs_retain} · "
               f"forget sets: {', '.join(m.forget_kinds)} · {m.citation}")
    cfg, problem = None, None
    try:
        m.check(spec.kind)
    except MethodError as e:
        problem = str(e)
    if method in GAMMA_METHODS:
        left, right = st.columns([1, 2])
        with left:
            gamma = st.slider("Threshold γ", 0.5, 10.0, float(default_gamma(spec.kind)), 0.05,
                              help="Weights with I_Df / I_Dr > γ are reset. Lower γ resets more (closer to retraining).")
            with st.expander("Other settings"):
                try:
                    rest = common.config_form(DeepCleanConfig, method, skip=("gamma",))
                    cfg = dataclasses.replace(rest, gamma=float(gamma))
                except ValueError as e:
                    problem = str(e)
        with right:
            try:
                rows = pd.DataFrame(curve(str(path), path.stat().st_mtime, spec.to_dict(),
                                          cfg.fisher_batch_size if cfg else 128, cfg.retain_samples if cfg else None))
                at = rows.iloc[(rows["gamma"] - gamma).abs().argsort()[:1]]
                chart = alt.Chart(rows).mark_line(point=True).encode(
                    x=alt.X("gamma:Q", scale=alt.Scale(type="log"), title="γ"),
                    y=alt.Y("fraction:Q", axis=alt.Axis(format="%"), title="weights selected"),
                    tooltip=["gamma", "selected", alt.Tooltip("fraction:Q", format=".3%")])
                rule = alt.Chart(pd.DataFrame({"gamma": [gamma]})).mark_rule(color="red").encode(x="gamma:Q")
                st.altair_chart(chart + rule, width="stretch")
                st.caption(f"γ = {gamma}: about {int(at['selected'].iloc[0]):,} weights "
                           f"({100 * float(at['fraction'].iloc[0]):.3f}%) of {int(rows['total'].iloc[0]):,}")
            except Exception as e:
                st.warning(f"No γ-curve for this model and forget set: {e}")
    else:
        with st.expander("Settings", expanded=True):
            try:
                cfg = common.config_form(m.config, method)
            except ValueError as e:
                problem = str(e)
    gpu = torch.cuda.is_available()
    device = st.radio("Run on", ["GPU", "CPU"] if gpu else ["CPU", "GPU"], horizontal=True, disabled=not gpu,
                      help=None if gpu else "No GPU on this server")
    if problem:
        st.error(problem)
    if st.button("Launch", type="primary", disabled=problem is not None or cfg is None):
        req = JobRequest(checkpoint=str(path), forget=spec.to_dict(), method=method, config=cfgmod.to_dict(cfg),
                         device="cuda" if device == "GPU" else "cpu")
        try:
            st.session_state["last_job"] = common.executor().submit(req)
        except (MethodError, ValueError) as e:
            st.error(str(e))
        else:
            st.session_state["_had_jobs"] = True
    if method in GAMMA_METHODS:
        with st.expander("Sweep γ: one job per value, on the active executor"):
            text = st.text_input("γ values", "1.1,1.5,2,2.5,3")
            if st.button("Launch sweep", disabled=problem is not None or cfg is None):
                try:
                    ids = submit_sweep(common.executor(), str(path), spec, parse_gammas(text), cfg, method=method,
                                       device="cuda" if device == "GPU" else "cpu")
                except (MethodError, ValueError) as e:
                    st.error(str(e))
                else:
                    st.session_state["_had_jobs"] = True
                    st.success(f"Queued {len(ids)} jobs; the Results page plots them against γ as they finish.")

st.subheader("Jobs")
poll = bool(common.running_jobs()) or st.session_state.get("_had_jobs", False)
st.fragment(progress_panel, run_every=1.0 if poll else None)()
