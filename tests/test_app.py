"""Each dashboard page's logic through Streamlit's AppTest (no browser): selection, uploads, jobs, results, runs."""

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from core.checkpoint import read_state_dict
from core.display import seconds_text
from core.forget import ForgetSpec
from core.result import result_of
from core.store import RunStore
from core.story import story
from core.unlearn import run_unlearn


def texts(at, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_model_page_preselects_the_shipped_digits_model(open_app, shipped):
    at = open_app("pages/model.py")
    assert metrics(at)["Test accuracy"] == "98.67%" and metrics(at)["Dataset"] == "digits"
    assert at.selectbox(key="checkpoint_choice").value == str(shipped)
    assert len(at.get("image")) == 12 and len(at.get("vega_lite_chart")) == 1


def upload(at, key: str, name: str, data: bytes) -> None:
    at.file_uploader(key=key).set_value((name, data, "application/octet-stream"))
    at.run()


def pt_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/deepclean_pwned",))


def test_uploaded_state_dict_is_checked_then_used_and_bad_ones_are_refused_in_place(open_app, shipped):
    at = open_app("pages/model.py")
    state = read_state_dict(shipped)
    upload(at, "ckpt_upload", "mine.pt", pt_bytes(state))
    at.button(key="use_checkpoint").click().run()
    assert not at.exception
    assert at.session_state["checkpoint"].endswith("-mine.pt")
    assert at.selectbox(key="checkpoint_choice").value.endswith("-mine.pt")
    # the wrong architecture: refused next to the uploader with the mismatch named, app still serving
    at = open_app("pages/model.py")
    upload(at, "ckpt_upload", "mine.pt", pt_bytes(state))
    at.selectbox(key="ckpt_arch").set_value("resnet18").run()
    at.button(key="use_checkpoint").click().run()
    assert any("missing" in e or "shape" in e or "unexpected" in e for e in texts(at, "error")), texts(at, "error")
    assert at.session_state["checkpoint"].endswith("digits_cnn_small.safetensors")
    # a pickle that would run a command: refused, and the command never ran
    Path("/tmp/deepclean_pwned").unlink(missing_ok=True)
    at = open_app("pages/model.py")
    upload(at, "ckpt_upload", "evil.pt", pickle.dumps({"w": Boom()}))
    at.button(key="use_checkpoint").click().run()
    assert texts(at, "error") and not Path("/tmp/deepclean_pwned").exists()
    assert metrics(at)["Test accuracy"] == "98.67%"


def test_dataset_upload_is_validated(open_app):
    at = open_app("pages/model.py")
    rng = np.random.default_rng(0)
    good = io.BytesIO()
    np.savez(good, x=rng.integers(0, 255, (40, 8, 8), dtype=np.uint8), y=np.repeat(np.arange(4), 10))
    upload(at, "ds_upload", "mine.npz", good.getvalue())
    at.button(key="check_dataset").click().run()
    assert any("4 classes" in s for s in texts(at, "success")), texts(at, "success")
    bad = io.BytesIO()
    np.savez(bad, x=rng.random((40, 8, 8)), y=np.arange(40))
    upload(at, "ds_upload", "bad.npz", bad.getvalue())
    at.button(key="check_dataset").click().run()
    assert any("uint8" in e for e in texts(at, "error")), texts(at, "error")


def test_forget_page_classes_random_and_csv(open_app):
    at = open_app("pages/forget.py")
    assert at.multiselect(key="forget_classes").value == ["0"]
    assert metrics(at)["Data to forget"] == "133 images"
    at.button(key="use_forget_set").click().run()
    assert at.session_state["forget"] == {"kind": "classes", "classes": [0]}
    at.radio(key="forget_mode").set_value("Random fraction").run()
    assert metrics(at)["Data to forget"] == f"{round(0.1 * 1347):,} images"
    at.radio(key="forget_mode").set_value("Upload CSV of indices").run()
    at.file_uploader(key="indices_csv").set_value(("idx.csv", b"index\n3\n5\n8\n", "text/csv"))
    at.run()
    assert metrics(at)["Data to forget"] == "3 images"
    at.file_uploader(key="indices_csv").set_value(("idx.csv", b"index\n3\n99999\n", "text/csv"))
    at.run()
    assert any("99999" in e for e in texts(at, "error")), texts(at, "error")


def test_forget_page_gallery_picks_samples(open_app):
    at = open_app("pages/forget.py")
    at.radio(key="forget_mode").set_value("Pick samples").run()
    at.checkbox(key="pick_0").check().run()
    at.checkbox(key="pick_2").check().run()
    assert metrics(at)["Data to forget"] == "2 images"
    at.button(key="use_forget_set").click().run()
    assert at.session_state["forget"] == {"kind": "indices", "indices": [0, 2]}


def test_unlearn_page_launches_a_background_job_and_reports_it(open_app):
    at = open_app("pages/unlearn.py")
    assert any("Choose what to forget first" in s for s in texts(at, "info"))
    at = open_app("pages/unlearn.py", forget={"kind": "classes", "classes": [0]})
    assert at.selectbox(key="method").value == "deepclean"
    assert at.slider(key="deepclean.gamma").value == 2.0  # γ default for classes
    assert at.radio(key="device").disabled == (not torch.cuda.is_available())
    assert at.number_input(key="deepclean.lr").value == 1e-3 and at.number_input(key="deepclean.epochs").value is None
    at.button(key="launch").click().run()
    run_id = at.session_state["last_job"]
    store = RunStore()
    assert store.get(run_id)["status"] in ("queued", "running", "done")
    from pages import common

    assert common.executor().wait(run_id, timeout=240) == "done"
    at.run()
    assert any(run_id in s for s in texts(at, "success"))
    assert store.get(run_id)["metrics"]["models"]["unlearned"]["acc_forget"] <= 0.02


def test_unlearn_page_refuses_bad_settings_and_methods_that_cannot_serve_the_forget_set(open_app):
    at = open_app("pages/unlearn.py", forget={"kind": "random", "fraction": 0.1, "count": None, "seed": 0})
    at.selectbox(key="method").set_value("unsir").run()
    assert any("unsir cannot forget 'random'" in e for e in texts(at, "error"))
    assert at.button(key="launch").disabled
    at.selectbox(key="method").set_value("ssd_retain").run()
    assert at.selectbox(key="ssd_retain.reference").options == ["retain", "train"]  # a choice: a selectbox
    at.number_input(key="ssd_retain.alpha").set_value(0.0).run()  # the bound is open: 0 is refused by the config
    assert any("alpha must be > 0; got 0.0" in e for e in texts(at, "error")), texts(at, "error")
    assert at.button(key="launch").disabled


def test_results_page_shows_the_store_numbers_and_the_runs_page_manages_runs(open_app, shipped):
    store = RunStore()
    r = run_unlearn(shipped, ForgetSpec.of_classes([0]), "deepclean", store=store, device="cpu")
    run_unlearn(shipped, ForgetSpec.of_classes([0]), "ssd", store=store, device="cpu")
    at = open_app("pages/results.py", result_run=r.run_id, expert=True)
    table = at.table[0].value
    assert list(table.index)[:4] == ["original", "deepclean", "gold", "ssd"]
    row = table.loc["deepclean"]
    assert row["Acc(test)"] == f"{100 * r.unlearned.acc_test:.2f}%"
    assert row["ΔMIA"] == f"{100 * r.deltas['mia']:+.2f}"
    assert row["seconds"] == seconds_text(r.seconds)
    assert at.query_params["run"] == r.run_id  # the URL names the run
    assert len(at.get("vega_lite_chart")) >= 4 and len(at.get("image")) == 24
    shown = [m.value for m in at.markdown]
    icons = {True: ":material/check_circle:", False: ":material/cancel:", None: ":material/help:"}
    for check in r.verdict + r.audit.checks:  # against gold, then gold-free: pass, miss or open
        assert any(icons[check.passed] in v and f"**{check.name}**" in v for v in shown), check.name
        assert check.detail in [c.value for c in at.caption]
    assert any("One threshold γ so far" in c.value for c in at.caption)  # a single DeepClean γ: no curve yet
    assert "ssd" not in at.multiselect(key="baselines").options and "gold" not in at.multiselect(key="baselines").options
    # the plain view: one sentence first, plain names, one colour and name per model, no AUC or JS
    at = open_app("pages/results.py", result_run=r.run_id)
    sentence = story(r).sentence
    assert sentence.startswith("Forgot digit 0") or sentence.startswith("Did not forget digit 0")
    assert sentence in [e.value for e in (*at.success, *at.warning, *at.info)]
    table = at.table[0].value
    assert list(table.index)[:4] == ["original", "DeepClean", "retrained (gold)", "SSD"]
    assert "loss AUC" not in table.columns and table.loc["DeepClean", "time"] == seconds_text(r.seconds)
    assert metrics(at)["Time"] == seconds_text(r.seconds)
    at = open_app("pages/runs.py", expert=True)
    frame = at.dataframe[0].value
    assert set(frame["id"]) == {x["id"] for x in store.list()}
    # one time per run: the Runs list shows what Results shows
    assert frame.set_index("id").loc[r.run_id, "seconds"] == round(r.seconds, 2)
    assert frame.set_index("id").loc[r.run_id, "ΔMIA"] == pytest.approx(100 * r.deltas["mia"])  # points, as labelled
    at.selectbox(key="runs_run").set_value(r.run_id).run()
    assert [b.label for b in at.get("download_button")][:1] == ["Checkpoint (.zip)"]
    assert at.button(key="delete_run").disabled
    at.checkbox(key=f"sure_{r.run_id}").check().run()
    at.button(key="delete_run").click().run()
    ids = {x["id"] for x in store.list()}
    assert r.run_id not in ids and not (store.artifacts / r.run_id).exists()


def test_results_page_plots_the_gamma_runs_of_the_checkpoint_and_forget_set(open_app, shipped):
    from core.methods.deepclean import DeepCleanConfig

    store = RunStore()
    spec = ForgetSpec.of_classes([0])
    runs = [run_unlearn(shipped, spec, "deepclean", DeepCleanConfig(gamma=g), store=store, device="cpu")
            for g in (1.0, 2.0)]
    at = open_app("pages/results.py", result_run=runs[1].run_id, expert=True)
    assert any("against threshold γ" in h.value for h in at.subheader)
    table = at.table[1].value
    assert [float(g) for g in table.index] == [1.0, 2.0]
    passing = [f"{r.config['gamma']:g}" for r in runs if all(c.passed for c in r.verdict)]
    assert any(f"pass every check against gold: {', '.join(passing) or 'none yet'}." in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) >= 5


def test_unlearn_page_runs_automatic_gamma_without_gold_and_results_shows_the_audit_alone(open_app, shipped):
    at = open_app("pages/unlearn.py", forget={"kind": "classes", "classes": [0]})
    assert at.toggle(key="deepclean.auto").value is True and at.slider(key="deepclean.gamma").disabled
    assert at.radio(key="gold").value == "train" and any("Retraining:" in c.value for c in at.caption)
    at.radio(key="gold").set_value("none").run()
    at.button(key="launch").click().run()
    run_id = at.session_state["last_job"]
    from pages import common

    assert common.executor().wait(run_id, timeout=300) == "done"
    store = RunStore()
    rec = store.get(run_id)
    assert rec["config"]["gamma"] == "auto" and rec["metrics"]["models"]["gold"] is None
    assert store.list(kind="gold") == []  # no gold model trained or recorded
    at = open_app("pages/results.py", result_run=run_id, expert=True)
    assert any("judged against unseen images of the same kind alone" in i.value for i in at.info)
    assert list(at.table[0].value.index) == ["original", "deepclean"]  # no gold row
    # the sentence heading the page says what the audit found, against unseen images
    sentence = story(result_of(rec)).sentence
    assert "(No retrained reference model: judged against unseen images.)" in sentence
    assert sentence in [e.value for e in (*at.success, *at.warning, *at.info)]
    shown = [m.value for m in at.markdown]
    assert any("Without it: against test images of the forgotten classes" in v for v in shown)
    assert not any("Against the retrained model" in v for v in shown)
    for check in rec["metrics"]["audit"]["checks"]:
        assert any(f"**{check}**" in v for v in shown), check
    assert any(h.value.startswith("How γ was chosen") for h in at.subheader)


def test_unlearn_page_with_a_fixed_gamma_and_the_gold_choice(open_app):
    at = open_app("pages/unlearn.py", forget={"kind": "classes", "classes": [0]})
    at.toggle(key="deepclean.auto").set_value(False).run()
    assert not at.slider(key="deepclean.gamma").disabled
    at.slider(key="deepclean.gamma").set_value(1.5).run()
    at.radio(key="gold").set_value("cached").run()
    assert any("None is cached yet" in c.value for c in at.caption)
    at.button(key="launch").click().run()
    rec = RunStore().get(at.session_state["last_job"])
    assert rec["config"]["gamma"] == 1.5
    from core.jobs import JobRequest  # the job carries the gold choice to the worker

    assert JobRequest(rec["parent_path"], rec["forget"], gold="cached").gold == "cached"


def test_results_sentence_for_sample_forgetting_explains_the_recognised_images(open_app, shipped):
    store = RunStore()
    r = run_unlearn(shipped, ForgetSpec.random(fraction=0.1, seed=0), "zero_weights", store=store, device="cpu")
    at = open_app("pages/results.py", result_run=r.run_id)
    s = story(r)
    assert "a random 10% of the training images" in s.sentence
    assert s.sentence in [e.value for e in (*at.success, *at.warning, *at.info)]
    assert any("a model retrained without them recognises" in c.value for c in at.caption)  # the note, shown
