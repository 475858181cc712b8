"""Table and chart frames, from small hand-made results (no model is trained here)."""

import pandas as pd

from core import tables
from core.forget import ForgetSpec


def test_models_table_puts_original_unlearned_gold_then_baselines_with_one_time_per_run(make_result):
    r = make_result(acc_forget=0.02, acc_test=0.88, mia=0.30, seconds=0.4)
    ssd = make_result("ssd", acc_forget=0.0, mia=0.2, seconds=0.1)
    t = tables.models_table(r, {"ssd": ssd})
    assert t["model"].tolist() == ["original", "deepclean", "gold", "ssd"]
    row = t.set_index("model").loc["deepclean"]
    assert row["ΔAcc(Df)"] == 0.02 and abs(row["ΔMIA"] - 0.25) < 1e-12 and row["seconds"] == r.seconds == 0.4
    assert t.set_index("model").loc["ssd", "seconds"] == 0.1
    bars = tables.metric_bars(t)
    assert len(bars) == 4 * 4 and bars.loc[bars["is_gold"], "model"].unique().tolist() == ["gold"]


def test_sweep_frame_judges_class_forgetting_on_the_retained_classes(make_result):
    runs = [make_result(gamma=g, acc_forget=0.0, acc_test=t, mia=m) for g, t, m in ((1.0, 0.90, 0.06), (2.0, 0.91, 0.40))]
    frame = tables.sweep_frame(runs, "gamma")
    assert frame["value"].tolist() == [1.0, 2.0]
    assert frame["Acc(test)"].tolist() == [0.90, 0.91]  # the retained-class accuracy the fixture sets
    assert frame["passes"].tolist() == [True, False] and frame["misses"].tolist()[1] == "private"
    lines, gold = tables.sweep_lines(frame)
    assert len(lines) == 2 * 4 and gold["metric"].tolist() == ["Acc(Df)", "Acc(test)", "MIA(Df)"]
    assert gold["level"].tolist() == [0.0, 0.9, 0.05]
    assert tables.sweep_frame([], "gamma").empty


def test_per_class_and_per_layer_frames(make_result):
    r = make_result()
    pc = tables.per_class(r)
    assert len(pc) == 3 * 2 and set(pc["class"]) == {"0", "1"}
    pl = tables.per_layer(r)
    assert pl.to_dict("records") == [{"layer": "0.weight", "fraction": 0.01, "count": None}]


def test_runs_frame_reads_figures_from_results_and_leaves_others_empty(make_result):
    r = make_result(acc_test=0.5)
    r.run_id = "a"
    recs = [{"id": "a", "status": "done", "kind": "unlearn", "method": "deepclean", "dataset": "digits",
             "forget": {"kind": "classes", "classes": [0]}, "started_at": 10.0, "finished_at": 12.5,
             "created_at": 0.0, "error": None},
            {"id": "b", "status": "failed", "kind": "unlearn", "method": "ssd", "dataset": "digits",
             "forget": {"kind": "random", "fraction": 0.1, "seed": 0}, "started_at": None, "finished_at": None,
             "created_at": 0.0, "error": "boom"}]
    frame = tables.runs_frame(recs, {"a": r}).set_index("id")
    # one time per run: the method's own (as Results shows it), not the record's wall time
    assert frame.loc["a", "Acc(test)"] == 0.5 and frame.loc["a", "seconds"] == r.seconds == 0.2
    assert frame.loc["a", "forget"] == "digit 0" and frame.loc["b", "forget"] == "random 10% (seed 0)"
    assert frame.loc["a", "run"].startswith("DeepClean · digit 0 · ") and frame.loc["b", "run"].startswith("SSD · ")
    assert pd.isna(frame.loc["b", "Acc(test)"]) and frame.loc["b", "error"] == "boom"


def test_a_sample_forget_set_is_judged_on_every_class(make_result):
    r = make_result(spec=ForgetSpec.random(fraction=0.1), acc_forget=0.99, acc_test=0.97, gold=(0.98, 0.975, 0.9))
    assert r.unlearned.judged_test == r.unlearned.acc_test and r.unlearned.judged_test_label == "Acc(test)"
    assert "acc_test_retained_classes" not in r.unlearned.to_dict()
