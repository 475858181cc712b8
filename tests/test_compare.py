"""The comparison table (API and CLI), the `methods` listing, and every method from the CLI on each forget kind."""

import csv
import io
import json

import pytest

from core.cli import main
from core.compare import expand_methods, run_compare, table_csv, table_text
from core.forget import ForgetSpec
from core.methods import METHODS, MethodError
from core.methods.deepclean import DeepCleanConfig
from core.store import RunStore

ROW_KEYS = {"method", "acc_retain", "acc_forget", "acc_test", "mia_forget", "loss_auc", "js_to_gold", "seconds",
            "time_vs_gold"}


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    """One run store for the module, so the gold model is trained once per forget set."""
    return tmp_path_factory.mktemp("home")


def test_compare_shares_gold_and_fisher_and_reuses_finished_runs(shipped):
    store = RunStore()
    methods = "deepclean,zero_weights,ssd_retain,gold"
    r = run_compare(shipped, ForgetSpec.of_classes([0]), methods, {"deepclean": DeepCleanConfig(gamma=2.0)},
                    device="cpu", store=store)
    assert [row["method"] for row in r["rows"]] == methods.split(",")
    assert all(ROW_KEYS <= set(row) for row in r["rows"])
    rows = {row["method"]: row for row in r["rows"]}
    assert rows["gold"]["time_vs_gold"] == pytest.approx(1.0) and rows["gold"]["delta_acc_forget"] == 0
    # zero_weights and ssd_retain reuse DeepClean's Fisher passes; their reported time adds those passes back
    for name in ("zero_weights", "ssd_retain"):
        assert rows[name]["seconds"] > rows[name]["seconds_measured"]
    assert r["original"]["acc_forget"] == 1.0 and r["gold"]["acc_forget"] == 0.0
    # one gold training, one record per method (gold's row needs none)
    assert len(store.list(kind="gold")) == 1 and len(store.list(kind="unlearn")) == 3
    again = run_compare(shipped, ForgetSpec.of_classes([0]), methods, {"deepclean": DeepCleanConfig(gamma=2.0)},
                        device="cpu", store=store)
    assert [row["cached"] for row in again["rows"]] == [True, True, True, False]
    assert again["gold_run"]["cached"] and len(store.list(kind="unlearn")) == 3
    assert again["rows"][0]["acc_test"] == rows["deepclean"]["acc_test"]
    text = table_text(r)
    assert "ΔMIA" in text and "deepclean" in text
    parsed = list(csv.DictReader(io.StringIO(table_csv(r))))
    assert [p["method"] for p in parsed] == methods.split(",")
    assert float(parsed[0]["acc_test"]) == pytest.approx(rows["deepclean"]["acc_test"])


def test_all_skips_what_cannot_serve_the_forget_set_and_named_methods_are_refused():
    names, skipped = expand_methods("all", "random")
    assert "unsir" not in names and skipped == [{"method": "unsir", "reason": "serves only classes forget sets"}]
    assert expand_methods("all", "classes")[0] == list(METHODS)
    with pytest.raises(MethodError, match="unsir cannot forget 'random'"):
        expand_methods("deepclean,unsir", "random")
    with pytest.raises(MethodError, match="unknown method"):
        expand_methods("deepclean,nope", "classes")


def test_a_failing_method_gets_its_error_row_and_the_rest_still_run(shipped):
    r = run_compare(shipped, ForgetSpec.of_classes([0]), "scrub,ssd", {"scrub": METHODS["scrub"].config(lr=10.0)},
                    device="cpu", store=RunStore())
    assert "diverged" in r["rows"][0]["error"] and "error" not in r["rows"][1]
    assert RunStore().list(kind="unlearn", status="failed")[0]["method"] == "scrub"
    assert "failed: MethodError" in table_text(r)


def test_compare_cli_writes_csv_and_json(shipped, tmp_path, capsys):
    args = ["compare", "--checkpoint", str(shipped), "--forget-classes", "0", "--methods", "deepclean,lfssd",
            "--set", "deepclean.gamma=1.5", "--csv", str(tmp_path / "t.csv"), "--json", str(tmp_path / "t.json"),
            "--device", "cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Acc(test)" in out and "lfssd" in out
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["forget"]["classes"] == [0] and {"method", "time_vs_gold", "acc_test"} <= set(data["rows"][0])
    assert data["rows"][0]["config"]["gamma"] == 1.5
    assert (tmp_path / "t.csv").read_text().startswith("method,")


def test_compare_cli_refuses_bad_options_before_running(shipped, capsys):
    base = ["compare", "--checkpoint", str(shipped), "--device", "cpu"]
    assert main(base + ["--forget-fraction", "0.1", "--methods", "unsir"]) == 2
    assert "unsir cannot forget 'random'" in capsys.readouterr().err
    assert main(base + ["--forget-classes", "0", "--set", "ssd.alpha=lots"]) == 2
    assert "'lots' is not a valid float" in capsys.readouterr().err
    assert main(base + ["--forget-classes", "0", "--set", "ssd.colour=red"]) == 2
    assert "ssd has no option 'colour'" in capsys.readouterr().err
    assert main(base + ["--forget-classes", "0", "--set", "gamma=2"]) == 2
    assert "METHOD.OPTION=VALUE" in capsys.readouterr().err
    assert RunStore().list() == []


def test_methods_lists_every_method_with_needs_and_options(capsys):
    assert main(["methods", "--json", "-"]) == 0
    out = capsys.readouterr().out
    listing = json.loads(out[out.index("[\n"):])
    assert [m["name"] for m in listing] == list(METHODS)
    by = {m["name"]: m for m in listing}
    assert by["lfssd"]["needs_labels"] is False and by["unsir"]["forget_kinds"] == ["classes"]
    assert {"name": "alpha", "default": 10.0} .items() <= by["ssd"]["options"][0].items()
    assert all(m["summary"] and m["citation"] for m in listing)


CASES = [(name, kind) for name, m in METHODS.items() for kind in ("classes", "random") if kind in m.forget_kinds]


@pytest.mark.parametrize("name,kind", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_every_method_runs_from_the_cli(shipped, name, kind, shared_home, monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPCLEAN_HOME", str(shared_home))
    forget = ["--forget-classes", "0"] if kind == "classes" else ["--forget-fraction", "0.1", "--forget-seed", "0"]
    out = tmp_path / "r.json"
    assert main(["unlearn", "--checkpoint", str(shipped), *forget, "--method", name, "--device", "cpu",
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["method"] == name and set(r["models"]) == {"original", "unlearned", "gold"} and "verdict" in r
    assert 0 <= r["models"]["unlearned"]["acc_test"] <= 1
