"""Runs: every run with status and key figures; filter, sort, open, download, delete."""

from __future__ import annotations

import json

import streamlit as st

from core.artifacts import artifact_zip, metrics_csv
from core.result import result_of
from core.queries import runs_using
from core.tables import record_view, runs_frame
from pages import common

st.title("Runs")
store = common.store()
runs = store.list()
if not runs:
    st.info("No runs yet.")
    st.stop()

results = {rec["id"]: r for rec in runs if (r := result_of(rec)) is not None}
frame = runs_frame(runs, results)
c1, c2, c3 = st.columns(3)
status = c1.multiselect("Status", sorted(frame["status"].unique()), key="filter_status")
method = c2.multiselect("Method", sorted(m for m in frame["method"].dropna().unique()), key="filter_method")
text = c3.text_input("Search (id, dataset, forget set)", key="search")
view = frame
if status:
    view = view[view["status"].isin(status)]
if method:
    view = view[view["method"].isin(method)]
if text:
    hay = view["id"] + " " + view["dataset"].fillna("") + " " + view["forget"].fillna("")
    view = view[hay.str.contains(text, case=False, regex=False)]
expert = common.expert()
shown = view if expert else view.drop(columns=["id", "kind", "method", "time ÷ gold"])
shown = shown.assign(ΔMIA=shown["ΔMIA"] * 100)  # the frame keeps fractions; the column says points
st.dataframe(shown, hide_index=True, column_config={
    "run": st.column_config.TextColumn("run", help="method · setting · forget set · when"),
    "Acc(test)": st.column_config.NumberColumn("Acc(test)" if expert else "accuracy, unseen data", format="percent"),
    "Acc(Df)": st.column_config.NumberColumn("Acc(Df)" if expert else "accuracy, data forgotten", format="percent"),
    "ΔMIA": st.column_config.NumberColumn("ΔMIA (pts)" if expert else "Δ attacker vs retrained (pts)",
                                          format="%+.1f"),
    "time ÷ gold": st.column_config.NumberColumn(format="%.3f"),
    "seconds": st.column_config.NumberColumn("time (s)", format="%.2f", help="The run's one time, as Results shows "
                                             "it: the method alone for a finished unlearning run, else wall time."),
    "error": st.column_config.TextColumn("error")})
st.caption("Click a column heading to sort. An empty (None) cell marks what a run has not measured.")

if view.empty:
    st.stop()
names = frame.set_index("id")
run_id = st.selectbox("Run", list(view["id"]), key="runs_run",
                      format_func=lambda i: f"{names.loc[i, 'run']} · {names.loc[i, 'status']}")
rec = store.get(run_id)
b1, b2, b3, b4 = st.columns(4)
if run_id in results and rec["kind"] == "unlearn":
    if b1.button("Open in Results", type="primary", key="open_results"):
        common.open_result(run_id)
if rec["artifact_path"]:
    try:
        b2.download_button("Checkpoint (.zip)", artifact_zip(rec), file_name=f"{run_id}.zip",
                           mime="application/zip", key="download_checkpoint")
    except FileNotFoundError as e:
        b2.caption(str(e))
if rec["metrics"]:
    b3.download_button("Metrics (JSON)", json.dumps(rec["metrics"], indent=2, default=str), file_name=f"{run_id}.json",
                       mime="application/json", key="download_json")
    b3.download_button("Metrics (CSV)", metrics_csv(rec), file_name=f"{run_id}.csv", mime="text/csv",
                       key="download_csv")
with b4:
    if rec["status"] in ("queued", "running"):
        if st.button("Cancel run", key="cancel_run"):
            common.executor().cancel(run_id)
            st.rerun()
    else:
        users = runs_using(store, run_id) if rec["kind"] == "gold" else []
        if users:
            st.warning(f"{len(users)} unlearning run(s) were judged against this retrained model; their results "
                       "stay, but a new run on this forget set will retrain it.")
        sure = st.checkbox("Yes, delete this run and its files", key=f"sure_{run_id}")
        if st.button("Delete", disabled=not sure, key="delete_run"):
            store.delete(run_id)
            st.success(f"Deleted {run_id}.")
            st.rerun()
if rec["error"]:
    st.error(rec["error"])
with st.expander("Record"):
    st.table(record_view(rec))
    if expert:
        st.json({k: v for k, v in rec.items() if k != "metrics"})
