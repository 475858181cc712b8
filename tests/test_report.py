"""Chart and table data for the pages, built from run records."""

from core import report
from core.forget import ForgetSpec
from core.methods.deepclean import DeepCleanConfig  # zero weights shares it
from core.store import RunStore
from core.unlearn import run_unlearn
from test_train import SHIPPED


def test_gamma_runs_takes_the_newest_run_per_gamma_of_one_method_checkpoint_and_forget_set():
    store = RunStore()
    spec = ForgetSpec.of_classes([0])
    runs = {g: run_unlearn(SHIPPED, spec, "zero_weights", DeepCleanConfig(gamma=g), store=store, device="cpu")
            for g in (3.0, 1.5)}
    newest = run_unlearn(SHIPPED, spec, "zero_weights", DeepCleanConfig(gamma=3.0), store=store, device="cpu")
    run_unlearn(SHIPPED, spec, "deepclean", store=store, device="cpu")  # another method
    run_unlearn(SHIPPED, ForgetSpec.of_classes([1]), "zero_weights", DeepCleanConfig(gamma=2.0), store=store,
                device="cpu")  # another forget set
    frame = report.gamma_runs(store, runs[1.5])
    assert frame["gamma"].tolist() == [1.5, 3.0]
    assert frame["run_id"].tolist() == [runs[1.5]["run_id"], newest["run_id"]]
    assert frame["weights reset"].iloc[0] > frame["weights reset"].iloc[1] > 0
    u = runs[1.5]["models"]["unlearned"]
    assert frame["Acc(test)"].iloc[0] == u["acc_test_retained_classes"] and frame["MIA(Df)"].iloc[0] == u["mia_forget"]
    for _, row in frame.iterrows():
        assert row["passes"] == (row["misses"] == "none")
        assert ("private" in row["misses"]) == (abs(row["ΔMIA"]) > 0.05)
    lines, gold = report.gamma_lines(frame)
    assert len(lines) == 2 * 4 and gold["metric"].tolist() == ["Acc(Df)", "Acc(test)", "MIA(Df)"]
    assert gold["value"].iloc[2] == runs[1.5]["models"]["gold"]["mia_forget"]
