"""Each dashboard page's logic through Streamlit's AppTest (no browser): selection, uploads, jobs, results, runs."""

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from core.checkpoint import read_state_dict
from core.forget import ForgetSpec
from core.store import RunStore
from core.unlearn import run_unlearn
from test_train import SHIPPED

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def fresh_caches():
    """Cached resources (the executor and its store) belong to one test's DEEPCLEAN_HOME."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()


def app(page: str | None = None, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


def test_model_page_preselects_the_shipped_digits_model():
    at = app()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"] == "98.67%" and metrics["Dataset"] == "digits (10 classes)"
    assert at.selectbox[0].value == "digits_cnn_small.safetensors"
    assert len(at.get("image")) == 12 and len(at.get("vega_lite_chart")) == 1


def upload(at: AppTest, index: int, name: str, data: bytes) -> None:
    at.file_uploader[index].set_value((name, data, "application/octet-stream"))
    at.run()


def pt_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/deepclean_pwned",))


def test_uploaded_state_dict_is_checked_then_used_and_bad_ones_are_refused_in_place(tmp_path):
    at = app()
    state = read_state_dict(SHIPPED)
    upload(at, 0, "mine.pt", pt_bytes(state))
    [b for b in at.button if b.label.startswith("Check and use")][0].click().run()
    assert not at.exception
    assert at.session_state["checkpoint"].endswith("-mine.pt")
    assert "mine.pt" in at.selectbox[0].value
    # the wrong architecture: refused next to the uploader with the mismatch named, app still serving
    at = app()
    upload(at, 0, "mine.pt", pt_bytes(state))
    at.selectbox(key="ckpt_arch").set_value("resnet18").run()
    [b for b in at.button if b.label.startswith("Check and use")][0].click().run()
    assert any("missing" in e or "shape" in e or "unexpected" in e for e in texts(at, "error")), texts(at, "error")
    assert at.session_state["checkpoint"].endswith("digits_cnn_small.safetensors")
    # a pickle that would run a command: refused, and the command never ran
    Path("/tmp/deepclean_pwned").unlink(missing_ok=True)
    at = app()
    upload(at, 0, "evil.pt", pickle.dumps({"w": Boom()}))
    [b for b in at.button if b.label.startswith("Check and use")][0].click().run()
    assert texts(at, "error") and not Path("/tmp/deepclean_pwned").exists()
    assert {m.label: m.value for m in at.metric}["Test accuracy"] == "98.67%"


def test_dataset_upload_is_validated(tmp_path):
    at = app()
    rng = np.random.default_rng(0)
    good = io.BytesIO()
    np.savez(good, x=rng.integers(0, 255, (40, 8, 8), dtype=np.uint8), y=np.repeat(np.arange(4), 10))
    upload(at, 1, "mine.npz", good.getvalue())
    [b for b in at.button if b.label == "Check this dataset"][0].click().run()
    assert any("4 classes" in s for s in texts(at, "success")), texts(at, "success")
    bad = io.BytesIO()
    np.savez(bad, x=rng.random((40, 8, 8)), y=np.arange(40))
    upload(at, 1, "bad.npz", bad.getvalue())
    [b for b in at.button if b.label == "Check this dataset"][0].click().run()
    assert any("uint8" in e for e in texts(at, "error")), texts(at, "error")


def test_forget_page_classes_random_and_csv():
    at = app("pages/forget.py")
    assert at.multiselect[0].value == ["0"]
    assert {m.label: m.value for m in at.metric}["Forget set Df"] == "133 images"
    [b for b in at.button if b.label == "Use this forget set"][0].click().run()
    assert at.session_state["forget"] == {"kind": "classes", "classes": [0]}
    at.radio[0].set_value("Random fraction").run()
    assert {m.label: m.value for m in at.metric}["Forget set Df"] == f"{round(0.1 * 1347):,} images"
    at.radio[0].set_value("Upload CSV of indices").run()
    at.file_uploader[0].set_value(("idx.csv", b"index\n3\n5\n8\n", "text/csv"))
    at.run()
    assert {m.label: m.value for m in at.metric}["Forget set Df"] == "3 images"
    at.file_uploader[0].set_value(("idx.csv", b"index\n3\n99999\n", "text/csv"))
    at.run()
    assert any("99999" in e for e in texts(at, "error")), texts(at, "error")


def test_forget_page_gallery_picks_samples():
    at = app("pages/forget.py")
    at.radio[0].set_value("Pick samples").run()
    at.checkbox[0].check().run()
    at.checkbox[2].check().run()
    assert {m.label: m.value for m in at.metric}["Forget set Df"] == "2 images"
    [b for b in at.button if b.label == "Use this forget set"][0].click().run()
    assert at.session_state["forget"]["kind"] == "indices" and len(at.session_state["forget"]["indices"]) == 2


def test_unlearn_page_launches_a_background_job_and_reports_it():
    at = app("pages/unlearn.py")
    assert any("Choose what to forget first" in s for s in texts(at, "info"))
    at = app("pages/unlearn.py", forget={"kind": "classes", "classes": [0]})
    assert at.slider[0].value == 2.0  # γ default for classes
    assert at.radio[0].disabled == (not torch.cuda.is_available())
    [b for b in at.button if b.label == "Launch"][0].click().run()
    run_id = at.session_state["last_job"]
    store = RunStore()
    assert store.get(run_id)["status"] in ("queued", "running", "done")
    from pages import common

    assert common.executor().wait(run_id, timeout=240) == "done"
    at.run()
    assert any(run_id in s for s in texts(at, "success"))
    assert store.get(run_id)["metrics"]["models"]["unlearned"]["acc_forget"] <= 0.02


def test_unlearn_page_refuses_a_method_that_cannot_serve_the_forget_set():
    at = app("pages/unlearn.py", forget={"kind": "random", "fraction": 0.1, "count": None, "seed": 0})
    at.selectbox[0].set_value("unsir").run()
    assert any("unsir cannot forget 'random'" in e for e in texts(at, "error"))
    assert [b for b in at.button if b.label == "Launch"][0].disabled


def test_results_page_shows_the_store_numbers_and_the_runs_page_manages_runs():
    store = RunStore()
    r = run_unlearn(SHIPPED, ForgetSpec.of_classes([0]), "deepclean", store=store, device="cpu")
    run_unlearn(SHIPPED, ForgetSpec.of_classes([0]), "ssd", store=store, device="cpu")
    at = app("pages/results.py", result_run=r["run_id"])
    table = at.table[0].value
    assert list(table.index)[:4] == ["original", "deepclean", "gold", "ssd"]
    row = table.loc["deepclean"]
    assert row["Acc(test)"] == f"{100 * r['models']['unlearned']['acc_test']:.2f}%"
    assert row["ΔMIA"] == f"{100 * r['deltas']['mia']:+.2f}"
    assert len(at.get("vega_lite_chart")) >= 4 and len(at.get("image")) == 24
    shown = [m.value for m in at.markdown]
    for name, check in r["verdict"].items():
        icon = ":material/check_circle:" if check["passed"] else ":material/cancel:"
        assert any(icon in v and f"**{name}**" in v for v in shown), name
        assert check["detail"] in [c.value for c in at.caption]
    assert any("One γ so far" in c.value for c in at.caption)  # a single DeepClean γ: no curve yet
    at = app("pages/runs.py")
    frame = at.dataframe[0].value
    assert set(frame["id"]) == {x["id"] for x in store.list()}
    at.selectbox[0].set_value(r["run_id"]).run()
    assert [b.label for b in at.get("download_button")][:1] == ["Checkpoint (.zip)"]
    delete = [b for b in at.button if b.label == "Delete"][0]
    assert delete.disabled
    at.checkbox(key=f"sure_{r['run_id']}").check().run()
    [b for b in at.button if b.label == "Delete"][0].click().run()
    ids = {x["id"] for x in store.list()}
    assert r["run_id"] not in ids and not (store.artifacts / r["run_id"]).exists()


def test_results_page_plots_the_gamma_runs_of_the_checkpoint_and_forget_set():
    from core.methods.deepclean import DeepCleanConfig

    store = RunStore()
    spec = ForgetSpec.of_classes([0])
    runs = [run_unlearn(SHIPPED, spec, "deepclean", DeepCleanConfig(gamma=g), store=store, device="cpu")
            for g in (1.0, 2.0)]
    at = app("pages/results.py", result_run=runs[1]["run_id"])
    assert any("against γ" in h.value for h in at.subheader)
    table = at.table[1].value
    assert [float(g) for g in table.index] == [1.0, 2.0]
    passing = [f"{r['config']['gamma']:g}" for r in runs if all(c["passed"] for c in r["verdict"].values())]
    assert any(f"pass every check against gold: {', '.join(passing) or 'none yet'}." in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) >= 5
