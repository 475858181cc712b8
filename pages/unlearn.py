"""Unlearn: choose the method and its settings (its swept option with its curve in view), launch a job, watch it."""

from __future__ import annotations

import json
import time

import altair as alt
import pandas as pd
import streamlit as st

from core import config as cfgmod
from core.checkpoint import CheckpointError
from core.curves import page_values, sweep_curve
from core.data import DataError
from core.display import eta_seconds, run_label
from core.forget import ForgetSpec, ForgetSpecError
from core.gold import gold_status
from core.jobs import JobRequest
from core.methods import DEFAULT_METHOD, METHODS, MethodError
from core.store import StoreError
from core.sweep import parse_values, submit_sweep
from pages import common, forms


@st.cache_data(show_spinner="Estimating what retraining would cost…", ttl=600)
def gold_choice(path: str, mtime: float, spec: dict) -> dict:
    """Whether gold is cached for this checkpoint and forget set, and retraining's estimated time."""
    return gold_status(path, ForgetSpec.from_dict(spec), common.store())


GOLD_LABELS = {"train": "Retrain it (exact, slow)", "cached": "Use it if already retrained",
               "none": "No: judge without it"}


def gold_widget(path, spec: ForgetSpec) -> str:
    """The gold choice, with what each costs here."""
    try:
        status = gold_choice(str(path), path.stat().st_mtime, spec.to_dict())
    except (CheckpointError, DataError, ForgetSpecError, ValueError) as e:
        st.warning(f"Retraining's cost cannot be estimated: {e}")
        status = {"cached": False, "estimate_seconds": None}
    est = status["estimate_seconds"]
    cost = "already retrained: free" if status["cached"] else (f"about {est:.0f} s here" if est else "unknown cost")
    choice = st.radio("Reference model: retrained without the data to forget (gold)", list(GOLD_LABELS),
                      format_func=GOLD_LABELS.get, horizontal=True, key="gold",
                      help="Retraining from scratch without the data is the exact answer unlearning approximates; "
                           "it is what users of unlearning cannot usually afford. Every run is also judged without "
                           "it, against unseen images of the same kind (the gold-free audit).")
    st.caption(f"Retraining: {cost}." + ("" if status["cached"] or choice != "cached" else
                                         " None is cached yet, so this run will be judged without it."))
    return choice


@st.cache_data(show_spinner="Computing the curve of weights selected…")
def curve(path: str, mtime: float, spec: dict, method: str, options: str) -> list[dict]:
    """Weights selected per value of the method's swept option (recomputed only when an input changes)."""
    m = METHODS[method]
    cfg = cfgmod.parse(m.config, json.loads(options), owner=method)
    out = sweep_curve(path, ForgetSpec.from_dict(spec), method, cfg, page_values(m.sweep), device="cpu")
    return [{k: v for k, v in row.items() if k != "per_layer"} for row in out["rows"]]


def draw_curve(m, path, spec: ForgetSpec, cfg, value: float) -> None:
    """The curve beside the slider: weights selected against the option, the chosen value marked."""
    option = m.sweep.option
    options = {k: v for k, v in cfgmod.to_dict(cfg or m.config()).items() if k != option}
    try:
        rows = pd.DataFrame(curve(str(path), path.stat().st_mtime, spec.to_dict(), m.name, json.dumps(options)))
    except (CheckpointError, DataError, ForgetSpecError, ValueError) as e:
        st.warning(f"No curve for this model and forget set: {e}")
        return
    at = rows.iloc[(rows[option] - value).abs().argsort()[:1]]
    scale = alt.Scale(type="log" if m.sweep.log_scale else "linear", domain=[m.sweep.low, m.sweep.high])
    chart = alt.Chart(rows).mark_line(point=True).encode(
        x=alt.X(f"{option}:Q", scale=scale, title=m.sweep.label),
        y=alt.Y("fraction:Q", axis=alt.Axis(format="%"), title="weights selected"),
        tooltip=[option, "selected", alt.Tooltip("fraction:Q", format=".3%")])
    rule = alt.Chart(pd.DataFrame({option: [value]})).mark_rule(color="red").encode(x=f"{option}:Q")
    st.altair_chart(chart + rule, width="stretch")
    st.caption(f"{m.sweep.label} = {value:g}: about {int(at['selected'].iloc[0]):,} weights "
               f"({100 * float(at['fraction'].iloc[0]):.3f}%) of {int(rows['total'].iloc[0]):,}")


# How often the jobs panel polls the store. Every open Unlearn page of every user polls, so this is the
# server's load while jobs run (issue 19: 8 sessions redrawing every job every second kept a 2-core server
# busy): fast only while this session's own job runs, slower while it waits in the queue or only other
# sessions' jobs are live, slower still when nothing shown has changed for a while, and never once they end.
# Each step stays well under the 60 s in which a finished run must show.
OWN_RUNNING_POLL_S = ((30.0, 1.0), (float("inf"), 3.0))   # (seconds unchanged, poll every)
OWN_QUEUED_POLL_S = ((float("inf"), 3.0),)
OTHERS_POLL_S = ((60.0, 5.0), (float("inf"), 15.0))
SHOWN_QUEUED = 5  # queued jobs drawn in full (this session's first); the rest are counted


def poll_every(jobs: list[dict]) -> float | None:
    """Seconds between polls for these live jobs (None: stop polling); remembers when they last changed."""
    if not jobs:
        return None
    mine = set(st.session_state.get("my_jobs", ()))
    own = [j for j in jobs if j["id"] in mine]
    # what this session watches: its own jobs' phases, or else just which jobs are live
    shown = tuple((j["id"], j["status"], j["phase"]) for j in own) or tuple((j["id"], j["status"]) for j in jobs)
    now = time.monotonic()
    if st.session_state.get("_jobs_shown") != shown:
        st.session_state["_jobs_shown"], st.session_state["_jobs_changed"] = shown, now
    quiet = now - st.session_state["_jobs_changed"]
    if any(j["status"] == "running" for j in own):
        steps = OWN_RUNNING_POLL_S
    else:
        steps = OWN_QUEUED_POLL_S if own else OTHERS_POLL_S
    return next(every for until, every in steps if quiet < until)


def progress_panel(registered_every: float | None) -> None:
    """Running jobs and the first queued ones (this session's first) with phase, elapsed time, ETA and Cancel,
    the rest counted, and how this session's last job ended. Runs again every `registered_every` seconds while
    a job it shows is live; asks for a full rerun when the pace should change (that re-registers it), so
    polling slows down, and stops when the jobs end."""
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
            st.success(f"Run {last} finished ({run_label(rec)}).")
            if st.button("Open its results", type="primary", key="open_results"):
                common.open_result(last)
        elif rec["status"] == "cancelled":  # what the user asked for: said as such, not as an error
            st.info(f"Run {last} cancelled ({run_label(rec)}), as you asked.", icon=":material/cancel:")
        elif rec["status"] in ("failed", "interrupted"):
            st.error(f"Run {last} {rec['status']}: {rec['error']}")
    mine = set(st.session_state.get("my_jobs", ()))
    queued = sorted((j for j in jobs if j["status"] == "queued"), key=lambda j: (j["id"] not in mine, j["created_at"]))
    shown = [j for j in jobs if j["status"] == "running"] + queued[:SHOWN_QUEUED]
    for j in shown:
        with st.container(border=True):
            elapsed = time.time() - (j["started_at"] or j["created_at"])
            eta = eta_seconds(j)
            st.markdown(f"**{run_label(j)}** · run `{j['id']}` · {j['status']}")
            st.progress(min(1.0, j["progress"] or 0.0),
                        text=f"{j['phase'] or 'waiting for a worker'} {j['message'] or ''} · elapsed {elapsed:.0f}s"
                             + (f" · about {eta:.0f}s left in this phase" if eta is not None else ""))
            if st.button("Cancel", key=f"cancel_{j['id']}"):
                common.executor().cancel(j["id"])
                st.rerun()
    if len(queued) > SHOWN_QUEUED:
        rest = queued[SHOWN_QUEUED:]
        own_rest = sum(j["id"] in mine for j in rest)
        st.caption(f"… and {len(rest)} more queued" + (f" ({own_rest} of them yours)" if own_rest else "")
                   + "; the Runs page lists and cancels every run.")
    if not jobs:
        st.caption("No jobs in progress.")
    registered_for = time.monotonic() - st.session_state.get("_poll_registered", 0.0)
    if poll_every(jobs) != registered_every and registered_for > 1.0:
        st.rerun()  # a full rerun registers this panel again at the new pace (or without polling)


def submit(request: JobRequest) -> None:
    try:
        common.remember_jobs([common.executor().submit(request)])
    except (MethodError, ValueError) as e:
        st.error(str(e))


st.title("Unlearn")
spec = common.forget_spec()
if spec is None:
    st.info("Choose what to forget first.")
    st.page_link("pages/forget.py", label="Go to Forget set", icon=":material/target:")
else:
    path = common.active_checkpoint()
    st.caption(f"Model `{path.name}` · forget {common.forget_words(spec)}")
    names = list(METHODS)
    method = st.selectbox("Method", names, index=names.index(DEFAULT_METHOD), key="method",
                          format_func=lambda n: f"{METHODS[n].display_name} — {METHODS[n].summary}")
    m = METHODS[method]
    st.caption(f"Needs labels: {'yes' if m.needs_labels else 'no'} · retain data: {m.needs_retain} · "
               f"forget sets: {', '.join(m.forget_kinds)} · {m.citation}")
    cfg, problem = None, None
    try:
        m.check(spec.kind)
    except MethodError as e:
        problem = str(e)
    if m.sweep is not None:
        option = m.sweep.option
        words = cfgmod.option(m.config, option).words
        left, right = st.columns([1, 2])
        label = m.sweep.label if common.expert() or option != "gamma" else f"forgetting strength ({m.sweep.label})"
        with left:
            auto = "auto" in words and st.toggle(
                f"Automatic {label}", value=True, key=f"{method}.auto",
                help="The product chooses it: the fewest weights whose reset passes the gold-free audit, chosen on "
                     "half of the unseen reference images and reported on the other half.")
            value = st.slider(label[0].upper() + label[1:], float(m.sweep.low), float(m.sweep.high),
                              float(m.sweep.default(spec.kind)),
                              0.05, key=f"{method}.{option}", help=cfgmod.option(m.config, option).help, disabled=auto)
            with st.expander("Other settings"):
                try:
                    cfg = forms.config_form(m.config, method, fixed={option: "auto" if auto else value})
                except cfgmod.ConfigError as e:
                    problem = str(e)
        with right:
            if m.sweep.curve is not None:
                draw_curve(m, path, spec, cfg, value)
    else:
        with st.expander("Settings", expanded=True):
            try:
                cfg = forms.config_form(m.config, method)
            except cfgmod.ConfigError as e:
                problem = str(e)
    gold = gold_widget(path, spec)
    gpu, where = common.devices()  # the Dask workers' GPUs when jobs go to a cluster, else this server's
    device = st.radio("Run on", ["GPU", "CPU"] if gpu else ["CPU", "GPU"], horizontal=True, disabled=not gpu,
                      help=where if gpu else f"No GPU to run on: {where}", key="device")
    device = "cuda" if device == "GPU" else "cpu"
    if problem:
        st.error(problem)
    if st.button("Launch", type="primary", disabled=problem is not None or cfg is None, key="launch"):
        submit(JobRequest(checkpoint=str(path), forget=spec.to_dict(), method=method, config=cfgmod.to_dict(cfg),
                          device=device, gold=gold))
    if m.sweep is not None:
        with st.expander(f"Sweep {m.sweep.label}: one job per value, on the active executor"):
            text = st.text_input("Values", ",".join(f"{v:g}" for v in m.sweep.values), key=f"{method}.sweep_values")
            if st.button("Launch sweep", disabled=problem is not None or cfg is None, key="launch_sweep"):
                try:
                    ids = submit_sweep(common.executor(), str(path), spec, parse_values(text, "values"), cfg,
                                       method=method, device=device, gold=gold)
                except (MethodError, ValueError) as e:
                    st.error(str(e))
                else:
                    common.remember_jobs(ids)
                    st.success(f"Queued {len(ids)} jobs; the Results page plots them against {m.sweep.label} as "
                               f"they finish.")

live = common.running_jobs()
if live or st.session_state.get("last_job"):  # no empty heading
    st.subheader("Jobs")
every = poll_every(live)
st.session_state["_poll_registered"] = time.monotonic()
st.fragment(progress_panel, run_every=every)(every)
