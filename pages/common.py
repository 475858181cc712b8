"""What every page shares: the job executor, cached datasets and models, the active selection, the sidebar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core import paths
from core.cards import dataset_of
from core.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from core.data import Dataset, class_noun
from core.display import run_label
from core.executors import offered_devices, server_executor
from core.forget import ForgetSpec, resolve
from core.jobs import Executor
from core.queries import live_runs
from core.runtime import device_label
from core.store import RunStore
from core.uploads import display_name, list_uploaded_checkpoints
from pages import access

DEFAULT_CHECKPOINT = paths.CHECKPOINT_DIR / "digits_cnn_small.safetensors"


def executor() -> Executor:
    """The server process's executor (process state that no client message can clear; created and recovered
    when the server starts, see app.py), so jobs outlive reruns and sessions."""
    return server_executor()


def store() -> RunStore:
    return executor().store


@st.cache_resource(show_spinner="Loading the dataset…")
def dataset(name: str, data_path: str | None) -> Dataset:
    return dataset_of({"dataset": name, "data_path": data_path})


@st.cache_resource(show_spinner="Loading the checkpoint…")
def model(path: str, mtime: float):
    """(model, card) loaded once per file version; pages only run it in eval mode, jobs load their own copy."""
    return load_checkpoint(path)


def bound_selectbox(label: str, options: list, state_key: str, widget_key: str, on_pick=None, **kwargs):
    """A selectbox that shows the session's `state_key` (which other code sets too: an upload, a link from
    another page) and writes a person's pick back to it; `on_pick(value)` runs when they pick."""
    if st.session_state.get(state_key) in options:
        st.session_state[widget_key] = st.session_state[state_key]

    def picked() -> None:
        st.session_state[state_key] = st.session_state[widget_key]
        if on_pick is not None:
            on_pick(st.session_state[widget_key])

    return st.selectbox(label, options, key=widget_key, on_change=picked, **kwargs)


def checkpoints() -> list[Path]:
    """Shipped checkpoints, then validated uploads."""
    return list_checkpoints(paths.CHECKPOINT_DIR) + list_uploaded_checkpoints()


def active_checkpoint() -> Path:
    """The checkpoint the user works on (the shipped digits model until they choose another)."""
    chosen = st.session_state.get("checkpoint")
    path = Path(chosen) if chosen else DEFAULT_CHECKPOINT
    if not path.is_file():
        path = DEFAULT_CHECKPOINT
    st.session_state["checkpoint"] = str(path)
    return path


def active_model():
    path = active_checkpoint()
    return model(str(path), path.stat().st_mtime)


def active_dataset() -> Dataset:
    _, card = active_model()
    return dataset(card["dataset"], card.get("data_path"))


def forget_spec() -> ForgetSpec | None:
    d = st.session_state.get("forget")
    return ForgetSpec.from_dict(d) if d else None


def forget_words(spec: ForgetSpec) -> str:
    """A forget set in words with the active dataset's class names and noun ("digit 0")."""
    try:
        _, card = active_model()
    except (CheckpointError, OSError):
        return spec.describe()
    return spec.describe(card.get("classes"), class_noun(card.get("dataset", "")))


def set_forget_spec(spec: ForgetSpec) -> None:
    st.session_state["forget"] = spec.to_dict()


def forget_sets(spec: ForgetSpec, ds: Dataset):
    """(Df indices, Dr indices) of a spec on a dataset's training split."""
    return resolve(spec, ds.y_train.numpy(), ds.num_classes)


def devices() -> tuple[bool, str]:
    """(GPU available to jobs?, label): the Dask workers' when the executor is a cluster, else this server's."""
    try:
        return offered_devices(executor())
    except Exception as e:  # noqa: BLE001 - an unreachable scheduler must not take the page down
        return False, f"{device_label()} (cluster not reachable: {e})"


def running_jobs() -> list[dict]:
    """Every queued or running job in the store (this server's and any other process's)."""
    return live_runs(store())


SIDEBAR_POLL_S = 2.0  # the sidebar's job list, while a job is live


def sidebar_jobs(registered_live: bool) -> None:
    """The jobs in progress, redrawn every SIDEBAR_POLL_S while one is live (so the list agrees with the
    Unlearn page), and not at all otherwise; a full rerun re-registers it when that changes."""
    jobs = running_jobs()
    if jobs:
        st.markdown("**Jobs in progress**")
        for j in jobs:
            st.caption(f"{run_label(j)} · {j['status']} {(j['phase'] or '')} {100 * (j['progress'] or 0):.0f}%")
    else:
        st.caption("No jobs running.")
    if bool(jobs) != registered_live:
        st.rerun()


def sidebar(mode: str = "open") -> None:
    with st.sidebar:
        st.markdown(f"**Device:** {devices()[1]}")
        try:
            st.markdown(f"**Model:** `{display_name(active_checkpoint())}`")
        except (CheckpointError, OSError) as e:  # a broken selection must not take the app down
            st.warning(f"Model: {e}")
        spec = forget_spec()
        st.markdown(f"**Forget set:** {forget_words(spec) if spec else 'not chosen yet'}")
        live = bool(running_jobs())
        st.fragment(sidebar_jobs, run_every=SIDEBAR_POLL_S if live else None)(live)
        if mode == "open":
            st.caption(":material/lock_open: Open access: anyone who reaches this server can use it. Set DEEPCLEAN_PASSWORD, or OIDC "
                       "login in .streamlit/secrets.toml, to restrict it.")
        elif mode == "oidc":
            st.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'you'}")
            st.button("Log out", on_click=st.logout, key="logout")
        elif mode == "password":
            st.link_button("Log out", access.url("/logout"), key="logout")


def expert() -> bool:
    """Whether this session shows expert details (symbols, raw figures, AUC, JS, layer keys): the sidebar's switch."""
    return bool(st.session_state.get("expert", False))


def remember_jobs(run_ids: list[str]) -> None:
    """Jobs this session launched: the jobs panels follow them closely and report the last one's end."""
    st.session_state["my_jobs"] = [*st.session_state.get("my_jobs", [])[-50:], *run_ids]
    st.session_state["last_job"] = run_ids[-1]


def open_result(run_id: str) -> None:
    """Go to the Results page showing this run (its URL names it, so a reload or a shared link keeps it)."""
    st.session_state["result_run"] = run_id
    st.switch_page("pages/results.py", query_params={"run": run_id})


@dataclass(frozen=True)
class Step:
    """One step of the path the Home page draws: done or not, in words, and where to do it."""

    number: int
    title: str
    detail: str
    done: bool
    page: str
    link: str
    icon: str


def journey() -> list[Step]:
    """The four steps (model → what to forget → unlearn → check it worked) and which this session has done."""
    spec = forget_spec()
    try:
        model_name = display_name(active_checkpoint())
    except OSError:
        model_name = "none usable"
    launched = bool(st.session_state.get("my_jobs"))
    return [
        Step(1, "Choose a model", f"Active: {model_name} (the shipped digits model until you pick another).", True,
             "pages/model.py", "Model", ":material/inventory_2:"),
        Step(2, "Choose what to forget", f"Chosen: {forget_words(spec)}." if spec else "Whole classes, a random "
             "share, or images you pick.", spec is not None, "pages/forget.py", "Forget set", ":material/target:"),
        Step(3, "Unlearn", "Launched." if launched else "Pick a method and its forgetting strength, or let the "
             "product choose it.", launched, "pages/unlearn.py", "Unlearn", ":material/cleaning_services:"),
        Step(4, "Check it worked", "Seen." if st.session_state.get("seen_results") else "In words and charts, "
             "against a retrained model or unseen data.", bool(st.session_state.get("seen_results")),
             "pages/results.py", "Results", ":material/bar_chart:"),
    ]
