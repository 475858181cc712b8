"""The Inside the model and Compare runs pages (AppTest): with finished runs, without, and with a checkpoint gone."""

import shutil

from core.checkpoint import card_path
from core.forget import ForgetSpec
from core.store import RunStore
from core.unlearn import run_unlearn


def test_without_runs_the_pages_say_what_to_do(open_app):
    at = open_app("pages/inside.py")
    assert any("No finished unlearning run yet" in i.value for i in at.info)
    at = open_app("pages/compare_runs.py")
    assert any("Two finished runs are needed" in i.value for i in at.info)


def test_inside_the_model_and_compare_runs_draw_a_finished_run(open_app, shipped):
    store = RunStore()
    spec = ForgetSpec.of_classes([0])
    r = run_unlearn(shipped, spec, "deepclean", store=store, device="cpu")
    other = run_unlearn(shipped, spec, "zero_weights", store=store, device="cpu")
    at = open_app("pages/inside.py", result_run=r.run_id)
    assert at.query_params["run"] == r.run_id and not at.warning
    assert len(at.get("vega_lite_chart")) == 3 and len(at.get("image")) == 16
    assert any("most exposed first" in c.value for c in at.caption)
    at = open_app("pages/compare_runs.py")
    table = at.table[0].value
    assert list(table.columns) == ["first", "second", "difference"]
    assert table.loc["check: forgotten", "difference"] in ("same", "differs")
    sentences = [e.value for e in (*at.success, *at.warning, *at.info)]
    assert sum(s.startswith(("Forgot", "Did not", "Forgetting")) for s in sentences) == 2
    assert other.run_id in {at.selectbox(key="compare_a").value, at.selectbox(key="compare_b").value}


def test_a_run_whose_checkpoint_is_gone_says_so(open_app, shipped, tmp_path):
    copy = tmp_path / "mine.safetensors"
    shutil.copy(shipped, copy)
    shutil.copy(card_path(shipped), card_path(copy))
    r = run_unlearn(copy, ForgetSpec.of_classes([0]), "zero_weights", store=RunStore(), device="cpu",
                    gold_mode="none")
    copy.unlink()
    at = open_app("pages/inside.py", result_run=r.run_id)
    assert any("cannot be loaded" in e.value for e in at.error)
