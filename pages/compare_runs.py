"""Compare runs: any two finished runs side by side — their verdicts, figures and charts, differences marked."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core import palette, queries, tables
from core.display import run_label, seconds_text
from core.story import story
from pages import common

FIGURES = (("accuracy on the data to forget", "acc_forget"), ("accuracy on unseen data", "acc_test"),
           ("accuracy on the data to keep", "acc_retain"), ("attacker's success rate", "mia_forget"))

st.title("Compare runs")
store = common.store()
done = queries.finished_results(store)
if len(done) < 2:
    st.info("Two finished runs are needed: run another method or forgetting strength on the Unlearn page (or the "
            "demo on Home), then come back.")
    st.page_link("pages/unlearn.py", label="Go to Unlearn", icon=":material/cleaning_services:")
    st.stop()

by_id = {rec["id"]: r for rec, r in done}
labels = {rec["id"]: run_label(rec, chosen=(r.gamma_search or {}).get("chosen")) for rec, r in done}
ids = list(by_id)
left, right = st.columns(2)
a = left.selectbox("First run", ids, index=0, key="compare_a", format_func=labels.get)
b = right.selectbox("Second run", ids, index=1, key="compare_b", format_func=labels.get)
ra, rb = by_id[a], by_id[b]
if a == b:
    st.warning("The same run on both sides: pick another for one of them.")

for col, r in ((left, ra), (right, rb)):
    s = story(r)
    {"success": col.success, "warning": col.warning, "info": col.info}[s.tone](s.sentence)

rows = []
for label, key in FIGURES:
    va, vb = getattr(ra.unlearned, key), getattr(rb.unlearned, key)
    rows.append({"figure": label, "first": f"{100 * va:.2f}%", "second": f"{100 * vb:.2f}%",
                 "difference": f"{100 * (vb - va):+.2f} pts"})
rows.append({"figure": "time", "first": seconds_text(ra.seconds), "second": seconds_text(rb.seconds),
             "difference": f"{rb.seconds / ra.seconds:.2f}× as long" if ra.seconds else "—"})
rows.append({"figure": "weights changed", "first": f"{100 * ra.weights_changed_fraction:.2f}%",
             "second": f"{100 * rb.weights_changed_fraction:.2f}%",
             "difference": f"{100 * (rb.weights_changed_fraction - ra.weights_changed_fraction):+.2f} pts"})
for check in ("forgotten", "kept", "private", "fast"):
    mark = {True: "passed", False: "missed", None: "not settled"}
    ca = next((c.passed for c in (ra.verdict or (ra.audit.checks if ra.audit else [])) if c.name == check), "—")
    cb = next((c.passed for c in (rb.verdict or (rb.audit.checks if rb.audit else [])) if c.name == check), "—")
    rows.append({"figure": f"check: {check}", "first": mark.get(ca, "—"), "second": mark.get(cb, "—"),
                 "difference": "same" if ca == cb else "differs"})
table = pd.DataFrame(rows).set_index("figure")
st.table(table.style.apply(lambda col: ["font-weight: bold" if v not in ("same", "+0.00 pts") else "" for v in col],
                           subset=["difference"]))
st.caption("Figures of each run's unlearned model; the difference is the second run minus the first. Checks are "
           "against the retrained model when the run has one, else against unseen data.")

st.subheader("Per-class test accuracy")
for col, r, name in zip(st.columns(2), (ra, rb), ("first", "second")):
    pc = tables.per_class(r)
    order = list(dict.fromkeys(pc["label"]))
    col.altair_chart(alt.Chart(pc).mark_bar().encode(
        x=alt.X("class:N", sort=None), xOffset=alt.XOffset("label:N", sort=order),
        y=alt.Y("accuracy:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("label:N", sort=order, title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=order, range=[palette.colour(x) for x in order])),
        tooltip=["class", alt.Tooltip("label:N", title="model"), alt.Tooltip("accuracy:Q", format=".2%")]
    ).properties(title=f"{name}: {labels[a if name == 'first' else b]}"), width="stretch")
