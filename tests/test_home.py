"""The Home page: the four steps mark what this session has done, and the demo button runs DeepClean on the
shipped model and lands on its Results, whose URL names the run."""

from core.store import RunStore


def test_the_steps_mark_what_is_done(open_app):
    at = open_app()
    assert at.title[0].value == "DeepClean Studio"
    marks = [m.value for m in at.markdown if ". Choose" in m.value or ". Unlearn" in m.value or ". Check" in m.value]
    assert len(marks) == 4 and "check_circle" in marks[0] and all("radio_button_unchecked" in m for m in marks[1:])
    at = open_app(forget={"kind": "classes", "classes": [3]})
    marks = [m.value for m in at.markdown if "2. Choose what to forget" in m.value]
    assert "check_circle" in marks[0] and any("Chosen: digit 3." in c.value for c in at.caption)


def test_the_demo_button_runs_deepclean_on_the_shipped_model_and_opens_its_results(open_app, shipped):
    at = open_app()
    at.button(key="run_demo").click().run()
    assert not at.exception
    run_id = at.session_state["last_job"]
    rec = RunStore().get(run_id)
    assert rec["method"] == "deepclean" and rec["config"] == {"gamma": "auto"} and rec["forget"]["classes"] == [0]
    assert rec["parent_path"].endswith("digits_cnn_small.safetensors")
    assert at.session_state["result_run"] == run_id and at.query_params["run"] == run_id
    from pages import common

    assert common.executor().wait(run_id, timeout=300) == "done"
    at.run()  # the Results page follows the run until it ends, then shows it
    assert any(e.value.startswith(("Forgot digit 0", "Did not forget digit 0", "Forgetting digit 0"))
               for e in (*at.success, *at.warning, *at.info))
