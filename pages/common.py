"""What every page shares: the job executor, cached datasets and models, the active selection, the sidebar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from core import paths
from core.checkpoint import list_checkpoints, load_checkpoint
from core.data import Dataset
from core.forget import ForgetSpec, resolve
from core.jobs import Executor, default_executor
from core.report import describe_forget
from core.runtime import device_label
from core.store import RunStore
from core.uploads import list_uploaded_checkpoints
from core.workflows import dataset_of

DEFAULT_CHECKPOINT = paths.CHECKPOINT_DIR / "digits_cnn_small.safetensors"


@st.cache_resource
def executor() -> Executor:
    """One executor per server process, so jobs outlive reruns and sessions. Runs a previous server left
    behind with no live worker are marked interrupted first."""
    ex = default_executor(RunStore())
    ex.recover()
    return ex


def store() -> RunStore:
    return executor().store


@st.cache_resource(show_spinner="Loading the dataset…")
def dataset(name: str, data_path: str | None) -> Dataset:
    return dataset_of({"dataset": name, "data_path": data_path})


@st.cache_resource(show_spinner="Loading the checkpoint…")
def model(path: str, sha_hint: float):
    """(model, card) loaded once per file version; pages only run it in eval mode, jobs load their own copy."""
    return load_checkpoint(path)


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


def set_forget_spec(spec: ForgetSpec) -> None:
    st.session_state["forget"] = spec.to_dict()


def forget_sets(spec: ForgetSpec, ds: Dataset):
    """(Df indices, Dr indices) of a spec on a dataset's training split."""
    return resolve(spec, ds.y_train.numpy(), ds.num_classes)


def running_jobs() -> list[dict[str, Any]]:
    """Every queued or running job in the store (this server's and any other process's)."""
    s = store()
    return s.list(status="running") + s.list(status="queued")


@st.cache_resource
def password_gate():
    from core.auth import PasswordGate

    return PasswordGate()


def oidc_configured() -> bool:
    """Whether Streamlit's OIDC login is set up ([auth] in secrets.toml)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def access() -> str:
    """Ask for login or password before any page; returns how access is controlled ("oidc", "password", "open")."""
    if oidc_configured():
        if not st.user.is_logged_in:
            _only(_oidc_page)
        return "oidc"
    if not password_gate().enabled:
        return "open"
    if not st.session_state.get("authenticated"):
        _only(_password_page)
    return "password"


def _only(page) -> None:
    """Show just this page (no navigation to the others) and stop."""
    st.navigation([st.Page(page, title="Log in", icon=":material/lock:")], position="hidden").run()
    st.stop()


def _oidc_page() -> None:
    st.title("DeepClean Studio")
    st.button("Log in", on_click=st.login, type="primary")


def _password_page() -> None:
    st.title("DeepClean Studio")
    with st.form("login"):
        entered = st.text_input("Password", type="password")
        sent = st.form_submit_button("Enter", type="primary")
    if sent:
        ok, message = password_gate().attempt(entered)
        if ok:
            st.session_state["authenticated"] = True
            st.rerun()
        st.error(message)


def sidebar(mode: str = "open") -> None:
    with st.sidebar:
        st.markdown(f"**Device:** {device_label()}")
        try:
            path = active_checkpoint()
            st.markdown(f"**Model:** `{path.name}`")
        except Exception as e:  # a broken selection must not take the app down
            st.warning(f"Model: {e}")
        spec = forget_spec()
        st.markdown(f"**Forget set:** {spec.describe() if spec else 'not chosen yet'}")
        jobs = running_jobs()
        if jobs:
            st.markdown("**Jobs in progress**")
            for j in jobs:
                st.caption(f"{j['method']} · {describe_forget(j['forget'] or {})} · {j['status']} "
                           f"{(j['phase'] or '')} {100 * (j['progress'] or 0):.0f}%")
        else:
            st.caption("No jobs running.")
        if mode == "open":
            st.caption(":material/lock_open: Open access: anyone who reaches this server can use it. Set DEEPCLEAN_PASSWORD, or OIDC "
                       "login in .streamlit/secrets.toml, to restrict it.")
        elif mode == "oidc":
            st.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'you'}")
            st.button("Log out", on_click=st.logout)


def config_form(cls: type, prefix: str, skip: tuple[str, ...] = ()) -> Any:
    """Widgets for a config dataclass's fields (labels and help from its field docs), returning the config.
    Optional and float fields are typed in (empty = automatic); bad values raise ValueError with the reason."""
    import dataclasses

    from core.cliflags import config_from_strings, unwrap_optional
    from core.config import field_help, field_type

    values: dict[str, str] = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        t, optional = unwrap_optional(field_type(cls, f))
        label, help_text, key = f.name.replace("_", " "), field_help(f), f"{prefix}.{f.name}"
        if t is bool:
            values[f.name] = str(st.checkbox(label, value=bool(f.default), help=help_text, key=key))
        elif t is int and not optional:
            values[f.name] = str(st.number_input(label, value=int(f.default), step=1, help=help_text, key=key))
        else:
            values[f.name] = st.text_input(label, value="" if f.default is None else str(f.default),
                                           placeholder="automatic", help=help_text, key=key)
    return config_from_strings(cls, {k: v for k, v in values.items()}, owner=prefix)
