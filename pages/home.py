"""Home: what unlearning is, the four steps as a path that marks what is done, and one button that runs the demo."""

from __future__ import annotations

import streamlit as st

from core.forget import ForgetSpec
from core.jobs import JobRequest
from core.methods import DEFAULT_METHOD, METHODS, MethodError
from pages import common

DEMO_CLASS = 0

st.title("DeepClean Studio")
st.markdown(
    "**Machine unlearning** removes what a trained image classifier learned from chosen data — say, one person's "
    "photos after they asked to be deleted — without the cost of training the model again from scratch. "
    "DeepClean Studio does it in a few clicks and shows you the proof: the model no longer recognises the "
    "forgotten data, still works on the rest, and an attacker cannot tell the data was ever used.")

steps = common.journey()
st.subheader("Four steps")
for col, step in zip(st.columns(len(steps)), steps):
    with col.container(border=True):
        mark = ":green[:material/check_circle:]" if step.done else ":gray[:material/radio_button_unchecked:]"
        st.markdown(f"{mark} **{step.number}. {step.title}**")
        st.caption(step.detail)
        st.page_link(step.page, label=step.link, icon=step.icon)

st.subheader("See it work")
demo_method = METHODS[DEFAULT_METHOD]
st.markdown(f"Runs {demo_method.display_name} on the shipped handwritten-digits model: it forgets the digit "
            f"{DEMO_CLASS}, choosing its forgetting strength itself, and opens the results when it is done "
            "(under a minute on a laptop's CPU).")
if st.button("Run the demo", type="primary", icon=":material/play_arrow:", key="run_demo"):
    spec = ForgetSpec.of_classes([DEMO_CLASS])
    st.session_state["checkpoint"] = str(common.DEFAULT_CHECKPOINT)
    common.set_forget_spec(spec)
    try:
        run_id = common.executor().submit(JobRequest(
            checkpoint=str(common.DEFAULT_CHECKPOINT), forget=spec.to_dict(), method=DEFAULT_METHOD,
            config={demo_method.sweep.option: "auto"} if demo_method.sweep else {}, gold="train"))
    except (MethodError, ValueError) as e:
        st.error(f"The demo could not start: {e}")
    else:
        common.remember_jobs([run_id])
        common.open_result(run_id)
