import json

import pytest

from core.checkpoint import sha256_file
from core.cli import main
from core.forget import ForgetSpec
from core.methods import MethodError
from core.paths import CHECKPOINT_DIR
from core.store import RunStore
from core.unlearn import run_unlearn

MODEL_FIELDS = {"acc_retain", "acc_forget", "acc_test", "mia_forget", "loss_auc", "js_to_gold", "seconds"}


@pytest.fixture(scope="module")
def class0(shipped, tmp_path_factory):
    """One DeepClean run on class 0 (gold trained once, then cached) in a module-wide store."""
    store = RunStore(tmp_path_factory.mktemp("home"))
    before = sha256_file(shipped)
    result = run_unlearn(shipped, ForgetSpec.of_classes([0]), "deepclean", store=store, device="cpu")
    return store, result, before


def test_json_shape_and_ranges(class0):
    _, result, _ = class0
    r = result.to_dict()
    assert {"run_id", "method", "config", "forget", "models", "deltas", "weights_reset_fraction", "phases",
            "time_vs_gold", "seconds_standalone", "streisand", "gold", "verdict", "artifact", "distributions",
            "forget_examples", "weights_changed_fraction", "per_layer", "info", "checkpoint", "dataset", "classes"} <= set(r)
    assert set(r["models"]) == {"original", "unlearned", "gold"}
    for m in r["models"].values():
        assert MODEL_FIELDS <= set(m)
        assert all(0.0 <= m[k] <= 1.0 for k in ("acc_retain", "acc_forget", "acc_test", "mia_forget", "loss_auc"))
    assert r["models"]["original"]["seconds"] == 0 and r["models"]["gold"]["js_to_gold"] == 0
    assert r["deltas"]["acc_forget"] == pytest.approx(r["models"]["unlearned"]["acc_forget"] - r["models"]["gold"]["acc_forget"])
    assert r["forget"]["forget_size"] + r["forget"]["retain_size"] == 1347
    assert {"Fisher on Df", "Fisher on Dr", "masking", "fine-tuning", "evaluation"} <= set(r["phases"])
    assert {"acc_test_retained_classes", "acc_test_forgotten_classes"} <= set(r["models"]["gold"])
    assert json.loads(json.dumps(r)) == r  # plain JSON


def test_the_result_reads_back_from_the_store_as_it_was(class0):
    from core.queries import load_result

    store, r, _ = class0
    back = load_result(store, r.run_id)
    assert back.to_dict() == json.loads(json.dumps(r.to_dict()))
    assert back.unlearned.judged_test == r.unlearned.acc_test_retained_classes


def test_class_forgetting_matches_gold_and_leaves_the_input_alone(shipped, class0):
    store, r, before = class0
    u, g = r.unlearned, r.gold
    assert g.acc_forget < 0.02 and u.acc_forget < 0.02 + g.acc_forget
    assert abs(u.judged_test - g.judged_test) <= 0.02
    assert r.original.acc_forget > 0.95
    assert sha256_file(shipped) == before
    rec = store.get(r.run_id)
    assert rec["status"] == "done" and rec["artifact_sha256"] == sha256_file(rec["artifact_path"])
    assert json.loads((store.artifacts / r.run_id / "unlearned.json").read_text())["parent_sha256"] == before


def test_gold_is_cached_and_reused(shipped, class0):
    store, r, _ = class0
    again = run_unlearn(shipped, ForgetSpec.of_classes([0]), "zero_weights", store=store, device="cpu")
    assert again.gold_ref.cached and again.gold_ref.run_id == r.gold_ref.run_id
    assert again.gold == r.gold
    assert len(store.list(kind="gold")) == 1
    assert again.info["finetune_epochs"] == 0 and again.weights_reset_fraction == r.weights_reset_fraction


def test_random_samples_use_gamma_1_1(shipped, class0):
    store, _, _ = class0
    r = run_unlearn(shipped, ForgetSpec.random(fraction=0.1, seed=0), "deepclean", store=store, device="cpu")
    assert r.config["gamma"] == 1.1 and r.forget.forget_size == 135
    assert r.unlearned.judged_test == r.unlearned.acc_test  # no class is gone: judged on every class
    assert abs(r.unlearned.acc_test - r.gold.acc_test) <= 0.03


def test_failed_run_keeps_its_error_and_no_artifact(shipped, class0, monkeypatch):
    store, _, _ = class0
    import core.methods.fisher_reset as dc

    def boom(*a, **k):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(dc, "adam_cosine", boom)
    with pytest.raises(RuntimeError):
        run_unlearn(shipped, ForgetSpec.of_classes([3]), "deepclean", store=store, device="cpu")
    failed = store.list(status="failed")
    assert failed and "injected failure" in failed[0]["error"]
    assert not (store.artifacts / failed[0]["id"]).exists()


def test_cli_unlearn_and_gamma_curve(shipped, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["unlearn", "--checkpoint", str(shipped), "--forget-classes", "0", "--method", "deepclean",
                 "--gamma", "2.0", "--json", str(out), "--device", "cpu"]) == 0
    r = json.loads(out.read_text())
    assert r["method"] == "deepclean" and r["config"]["gamma"] == 2.0
    text = capsys.readouterr().out
    assert "ΔAcc(Df)" in text and "unlearned" in text
    idx = tmp_path / "idx.csv"
    idx.write_text("index\n1\n2\n3\n10\n")
    assert main(["unlearn", "--checkpoint", str(shipped), "--forget-indices", str(idx), "--epochs", "1",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["forget"]["forget_size"] == 4
    assert main(["gamma-curve", "--checkpoint", str(shipped), "--forget-classes", "0", "--gammas", "1,2,4",
                 "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["gamma"] for r in rows] == [1.0, 2.0, 4.0]
    assert rows[0]["selected"] >= rows[1]["selected"] >= rows[2]["selected"] > 0


def test_bad_forget_flags_exit_2(shipped, capsys):
    assert main(["unlearn", "--checkpoint", str(shipped), "--forget-classes", "12"]) == 2
    assert "unknown class" in capsys.readouterr().err
    assert main(["unlearn", "--checkpoint", str(shipped)]) == 2
    assert "choose exactly one" in capsys.readouterr().err


def test_method_refuses_a_forget_kind_it_cannot_serve():
    from core.methods.base import Method

    m = Method("x", lambda *a: None, object, "", forget_kinds=("classes",))
    with pytest.raises(MethodError, match="cannot forget 'random'"):
        m.check("random")
