"""Results: the run beside the original, the gold model and the cached baselines, with the charts that prove it."""

from __future__ import annotations

import altair as alt
import streamlit as st

from core import palette, queries, tables
from core.checkpoint import CheckpointError
from core.data import DataError
from core.display import display_table, run_label, seconds_text, thumbnails
from core.jobs import JobRequest
from core.layer_names import readable_names
from core.methods import get_method
from core.store import StoreError
from core.story import speed, story
from core.words import CHECK_TERMS, PLAIN_COLUMNS, term
from pages import common

st.title("Results")
store = common.store()
st.session_state["seen_results"] = True
expert = common.expert()
LIVE = ("queued", "running")


def follow(run_id: str) -> None:
    """A run still in progress: its phase, polled until it ends, then the page shows it."""
    rec = store.get(run_id)
    if rec["status"] not in LIVE:
        st.rerun()
    st.progress(min(1.0, rec["progress"] or 0.0),
                text=f"{run_label(rec)}: {rec['phase'] or 'waiting for a worker'} {rec['message'] or ''}")


wanted = st.query_params.get("run") or st.session_state.get("result_run")
if wanted:
    try:
        rec = store.get(wanted)
    except StoreError:
        st.warning(f"There is no run {wanted} (deleted, or from another server); showing the newest instead.")
        st.query_params.pop("run", None)
        wanted = None
    else:
        if rec["status"] in LIVE:
            st.info("This run is still in progress; its results appear here when it finishes.")
            st.fragment(follow, run_every=1.0)(wanted)
            st.stop()
        if rec["status"] != "done" or rec["kind"] != "unlearn":
            st.error(f"{run_label(rec)} {rec['status']}: {rec['error'] or 'it has no unlearning results'}")
            wanted = None

done = queries.finished_results(store)
if not done:
    st.info("No finished unlearning run yet.")
    st.page_link("pages/unlearn.py", label="Go to Unlearn", icon=":material/cleaning_services:")
    st.stop()

by_id = {rec["id"]: r for rec, r in done}
ids = list(by_id)
label = {rec["id"]: run_label(rec, chosen=(r.gamma_search or {}).get("chosen")) for rec, r in done}
st.session_state["result_run"] = wanted if wanted in ids else (st.session_state.get("result_run")
                                                                 if st.session_state.get("result_run") in ids else ids[0])
run_id = common.bound_selectbox("Run", ids, "result_run", "result_run_choice", format_func=label.get)
st.query_params["run"] = run_id  # the page's URL names the run: a reload or a shared link keeps it
result = by_id[run_id]
baselines = queries.baselines_for(store, result, exclude=run_id)

ICONS = {True: ":green[:material/check_circle:]", False: ":red[:material/cancel:]", None: ":orange[:material/help:]"}


def draw_checks(checks) -> None:
    """One column per check: its mark (pass, miss, or open when its interval straddles the bar), plain name, and
    (expert details) its figures."""
    for col, check in zip(st.columns(len(checks)), checks):
        t = CHECK_TERMS.get(check.name)
        name = (check.name if expert or t is None else t.plain)
        col.markdown(f"{ICONS[check.passed]} **{name}**" + ("" if check.passed is not None else " (open)"),
                     help=t.help if t else None)
        if expert:
            col.caption(check.detail)
        else:
            col.caption({True: "passed", False: "missed", None: "not settled by this data"}[check.passed])


s = story(result)
{"success": st.success, "warning": st.warning, "info": st.info}[s.tone](s.sentence)
for note in s.notes:
    st.caption(note)

u, g = result.unlearned, result.gold
w = lambda key: term(key).title(expert)  # noqa: E731
c1, c2, c3, c4 = st.columns(4)
if g is not None:
    c1.metric(f"{w('acc_forget')}", f"{100 * u.acc_forget:.1f}%",
              f"{100 * result.deltas['acc_forget']:+.1f} pts vs {w('gold') if expert else 'retrained'}",
              delta_color="off", help=term("acc_forget").help)
    c2.metric(w("acc_test"), f"{100 * u.acc_test:.2f}%", f"{100 * (u.acc_test - g.acc_test):+.2f} pts vs "
              f"{w('gold') if expert else 'retrained'}", delta_color="off", help=term("acc_test").help)
    c3.metric(w("mia"), f"{100 * u.mia_forget:.1f}%", f"{100 * result.deltas['mia']:+.1f} pts vs "
              f"{w('gold') if expert else 'retrained'}", delta_color="off", help=term("mia").help)
else:
    ref = result.audit.figures if result.audit else {}
    c1.metric(w("acc_forget"), f"{100 * u.acc_forget:.1f}%",
              f"{100 * (u.acc_forget - ref['acc_reference'].value):+.1f} pts vs unseen" if "acc_reference" in ref
              else None, delta_color="off", help=term("acc_forget").help)
    c2.metric(w("acc_test"), f"{100 * u.acc_test:.2f}%",
              f"{100 * (u.acc_test - result.original.acc_test):+.2f} pts vs before", delta_color="off",
              help=term("acc_test").help)
    c3.metric(w("mia"), f"{100 * u.mia_forget:.1f}%",
              f"{100 * (ref['mia_forget'].value - ref['mia_reference'].value):+.1f} pts vs unseen"
              if "mia_reference" in ref else None, delta_color="off", help=term("mia").help)
fast = speed(result)
retrain = result.retrain_seconds or (result.gold_ref.seconds if result.gold_ref else None)
c4.metric("Time", seconds_text(result.seconds), fast, delta_color="off",
          help=term("seconds").help + (f" Retraining from scratch: about {seconds_text(retrain)}." if retrain else ""))
if g is not None:
    st.markdown("**Against the " + ("retrained model (gold)**" if expert else "model retrained without that data**"))
    draw_checks(result.verdict)
if result.audit is not None:
    ref = result.audit.reference
    st.markdown(f"**Without it: against {ref['what']}** ({ref['size']} images"
                + (", the half automatic γ did not look at" if ref["half"] == "B" else "") + ")")
    draw_checks(result.audit.checks)
if g is None:
    st.info("No model was retrained without the forgotten data for this run, so it is judged against unseen images "
            "of the same kind alone: a model that never saw the data treats it like those. Choose *Retrain it* on "
            "the Unlearn page to also compare with retraining.")
st.caption("A check is open (?) when its 95% interval straddles its bar: the samples at hand cannot decide it"
           + (", and the caption says about how many would." if expert else " (expert details say how many would)."))
if result.streisand:
    st.warning("Streisand effect: the forgotten data is recognised far less than by the retrained model — the model "
               "refuses it, which itself reveals what was forgotten.")

st.subheader("Metrics")
table = tables.models_table(result, baselines)
st.table(display_table(table, expert=expert))
st.caption(("ΔAcc(Df) and ΔMIA are in points against gold. Gold = retrained from scratch without Df (the target). "
            if expert else "Δ columns: percentage points against the model retrained without the forgotten data (the "
           "target). ")
           + "Other methods' rows are the newest finished runs of each on the same checkpoint and forget set. "
           "Time: the method alone, a shared Fisher pass counted in; evaluation and retraining not counted.")

missing = queries.missing_baselines(store, result)
if missing:
    with st.expander(f"Run missing baselines ({len(missing)})"):
        pick = st.multiselect("Methods (their default settings)", missing, default=[], key="baselines")
        if st.button("Launch baselines", disabled=not pick, key="launch_baselines"):
            req = JobRequest.compare(result.checkpoint["path"], result.forget.key, pick)
            st.session_state["last_job"] = common.executor().submit(req)
            st.success("Queued. Follow it on the Unlearn page; the table fills in as each finishes.")

bars = tables.metric_bars(table)
if not expert:
    bars["metric"] = bars["metric"].map(lambda m: PLAIN_COLUMNS.get(m, m))
metric_order = [m if expert else PLAIN_COLUMNS.get(m, m) for m in tables.METRIC_LABELS.values()]
order = table["label"].tolist()
domain, colours = palette.scale(order)
st.subheader("Accuracy and attacker's success per model" if not expert else "Accuracy and MIA per model")
base = alt.Chart().encode(x=alt.X("label:N", sort=order, title=None, axis=alt.Axis(labelAngle=-35)),
                          y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1.08]), axis=alt.Axis(format="%"), title=None))
bar = base.mark_bar().encode(
    color=alt.Color("label:N", scale=alt.Scale(domain=domain, range=colours), legend=None),
    tooltip=[alt.Tooltip("label:N", title="model"), "metric", alt.Tooltip("value:Q", format=".2%")])
values = base.mark_text(dy=-7, fontSize=10).encode(text=alt.Text("value:Q", format=".0%"))
st.altair_chart(alt.layer(bar, values, data=bars).properties(width=170, height=220).facet(
    column=alt.Column("metric:N", sort=metric_order, title=None)))
st.caption("Each bar is labelled with its value, so a 0% bar still shows. The retrained model (grey) is the target.")

search = tables.search_frame(result)
if len(search):
    gs = result.gamma_search
    st.subheader(f"How γ was chosen: {gs['chosen']:g}")
    key = "mia_class" if "mia_class" in search else "mia_gap"
    label = ("share of the forgotten class called members" if key == "mia_class"
             else "attacker: Df minus unseen, members")
    points = alt.Chart(search).mark_circle(size=120).encode(
        x=alt.X("weights_reset_fraction:Q", axis=alt.Axis(format="%"), title="weights reset"),
        y=alt.Y(f"{key}:Q", axis=alt.Axis(format="%"), title=label),
        color=alt.Color("passed:N", scale=alt.Scale(domain=[True, False], range=["#2e7d32", "#c62828"]),
                        title="passed"),
        shape=alt.Shape("stage:N", title=None),
        tooltip=["try", "gamma", "stage", "epochs", alt.Tooltip("weights_reset_fraction:Q", format=".2%"),
                 alt.Tooltip(f"{key}:Q", format=".1%"), alt.Tooltip("kept_test:Q", format="+.1%"), "seconds"])
    chosen = alt.Chart(search[search["chosen"]]).mark_point(size=400, color="black").encode(
        x="weights_reset_fraction:Q", y=f"{key}:Q")
    st.altair_chart(points + chosen, width="stretch")
    st.caption(f"Each try of the search, on half A of the reference ({gs['reference_size']} images): resets alone "
               "first (cheap), then fine-tuning of the chosen selection. Chosen (ringed): " + gs["criterion"] + "."
               + ("" if gs["passed"] else " No candidate passed every check; the ringed one came closest."))

sweep = get_method(result.method).sweep
if sweep is not None:
    st.subheader(f"{get_method(result.method).display_name} against {sweep.label} (the paper's Fig. 4)")
    frame = tables.sweep_frame(queries.sweep_results(store, result), sweep.option)
    if len(frame) < 2:
        st.caption(f"One {sweep.label} so far. *Sweep {sweep.label}* on the Unlearn page runs several; every "
                   "finished run on this checkpoint and forget set shows here.")
    else:
        lines, gold_levels = tables.sweep_lines(frame)
        x = alt.X("value:Q", scale=alt.Scale(type="log" if sweep.log_scale else "linear", nice=False),
                  title=sweep.label)
        chart = alt.Chart(lines).mark_line(point=True).encode(
            x=x, y=alt.Y("level:Q", axis=alt.Axis(format="%"), title=None), color=alt.Color("metric:N"),
            tooltip=[alt.Tooltip("value:Q", title=sweep.label), "metric", alt.Tooltip("level:Q", format=".2%")])
        rules = alt.Chart(gold_levels).mark_rule(strokeDash=[6, 4]).encode(
            y="level:Q", color=alt.Color("metric:N"), tooltip=["metric", alt.Tooltip("level:Q", format=".2%")])
        st.altair_chart(chart + rules, width="stretch")
        passing = ", ".join(f"{v:g}" for v in frame.loc[frame["passes"], "value"]) or "none yet"
        st.caption("The newest finished run per value; dashed lines are gold's levels. Acc(test) is over the retained "
                   f"classes when classes are forgotten. {sweep.label} values that pass every check against gold: "
                   f"{passing}.")
        shown = frame[["value", "weights reset", "Acc(Df)", "Acc(test)", "MIA(Df)", "ΔMIA", "time ÷ gold", "misses"]]
        st.table(shown.rename(columns={"value": sweep.option}).set_index(sweep.option).style.format(
            {"weights reset": "{:.2%}", "Acc(Df)": "{:.2%}", "Acc(test)": "{:.2%}", "MIA(Df)": "{:.2%}",
             "ΔMIA": lambda v: f"{100 * v:+.2f}", "time ÷ gold": "{:.3f}"}, na_rep="—"))

left, right = st.columns(2)
with left:
    st.subheader("Per-class test accuracy")
    pc = tables.per_class(result)
    pc_order = [x for x in order if x in set(pc["label"])]
    st.altair_chart(alt.Chart(pc).mark_bar().encode(
        x=alt.X("class:N", sort=None), xOffset=alt.XOffset("label:N", sort=pc_order),
        y=alt.Y("accuracy:Q", axis=alt.Axis(format="%")),
        color=alt.Color("label:N", sort=pc_order, scale=alt.Scale(domain=pc_order, range=[palette.colour(x) for x in pc_order]),
                        title=None, legend=alt.Legend(orient="bottom")),
        tooltip=["class", alt.Tooltip("label:N", title="model"), alt.Tooltip("accuracy:Q", format=".2%")]),
        width="stretch")
with right:
    st.subheader("Weights changed per layer")
    pl = tables.per_layer(result)
    if not expert and not pl.empty:
        try:
            net, _ = common.model(result.checkpoint["path"], 0.0)
        except (CheckpointError, OSError):
            pass  # the input checkpoint is gone: its state-dict keys are all there is
        else:
            names = readable_names(net)
            pl["layer"] = pl["layer"].map(lambda k: names.get(k, k))
    if pl.empty:
        st.caption("No per-layer record for this run.")
    else:
        st.altair_chart(alt.Chart(pl).mark_bar().encode(
            y=alt.Y("layer:N", sort=None, title=None, axis=alt.Axis(labelLimit=260)), x=alt.X("fraction:Q", axis=alt.Axis(format="%")),
            tooltip=["layer", alt.Tooltip("fraction:Q", format=".3%"), "count"]), width="stretch")

st.subheader("What an attacker sees: loss and entropy on Df against unseen test data" if expert else
             "What an attacker sees: the forgotten images against images the model never saw")
dist = tables.distributions(result)
if dist.empty:
    st.caption("This run has no distribution record.")
else:
    feature = st.radio("Feature", ["loss", "entropy"], horizontal=True, key="feature")
    d = dist[dist["feature"] == feature]
    sets = ["forgotten (Df)", "unseen (test)"]
    st.altair_chart(alt.Chart(d).transform_density(
        "log10 value", groupby=["label", "set"], as_=["log10 value", "density"]).mark_area(
        opacity=0.35, line=True).encode(
        x=alt.X("log10 value:Q", title=f"{feature} (log10 scale)"), y=alt.Y("density:Q", stack=None),
        color=alt.Color("set:N", sort=sets, scale=alt.Scale(domain=sets, range=["#e45756", "#4c78a8"]), title=None),
        row=alt.Row("label:N", sort=[x for x in order if x in set(d["label"])], title=None)
    ).properties(height=110, width=600))
    st.caption("The closer the Df curve of the unlearned model is to gold's, the less an attacker can tell it was "
               "ever trained on. The MIA column uses the entropy; the loss AUC uses the loss.")

st.subheader("Forgotten images: predictions before and after")
ex = result.forget_examples
if ex:
    try:
        _, card = common.model(result.checkpoint["path"], 0.0)
        ds = common.dataset(card["dataset"], card.get("data_path"))
    except (CheckpointError, DataError, OSError) as e:
        st.caption(f"The images cannot be shown: {e}")
    else:
        names = ds.classes
        cols = st.columns(8)
        imgs = thumbnails(ds.x_train[ex["indices"]].numpy())
        golds = ex.get("gold") or [None] * len(imgs)
        for n, (img, y, o, un, gd) in enumerate(zip(imgs, ex["labels"], ex["original"], ex["unlearned"], golds)):
            cols[n % 8].image(img, width="stretch", clamp=True,
                              caption=f"true {names[y]} · before {names[o]} · after {names[un]}"
                                      + (f" · gold {names[gd]}" if gd is not None else ""))
