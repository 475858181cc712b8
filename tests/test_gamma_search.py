"""Automatic γ: it chooses a smaller γ when larger ones do not forget, records every candidate it tried, tunes on
one half of the reference and reports on the other; `--gold none` trains and records no gold model."""

import json

import pytest

from core.cli import main
from core.forget import ForgetSpec
from core.methods import MethodError, get_method
from core.methods.deepclean import DeepCleanConfig
from core.methods.gamma_search import candidates
from core.prepare import prepare
from core.store import RunStore
from core.unlearn import run_unlearn


@pytest.fixture(scope="module")
def class0(shipped):
    return prepare(shipped, ForgetSpec.of_classes([0]), device="cpu")


def test_auto_picks_a_smaller_gamma_when_larger_ones_leave_the_class_recognisable_or_confident(class0):
    r = run_unlearn(class0.checkpoint, class0.spec, "deepclean", DeepCleanConfig(gamma="auto"), prepared=class0,
                    gold_mode="none")
    search = r.gamma_search
    assert search["chosen"] < 2.0 and r.config["gamma"] == search["chosen"]  # the paper's γ = 2 does not forget here
    probes = [t for t in search["tried"] if t["stage"].startswith("probe")]
    assert any(t["gamma"] >= 1.5 and not t["forgets"] for t in probes)  # confidently wrong on the class: refused
    assert any(t["gamma"] == search["chosen"] and t["forgets"] for t in probes)
    final = [t for t in search["tried"] if t["gamma"] == search["chosen"] and t["epochs"] > 0][-1]
    assert final["forgets"] and final["kept"] and search["passed"]
    assert len(search["tried"]) <= 8  # a bisection, not a scan of all candidates
    # tuned on half A, reported on half B: disjoint reference images
    assert search["half"] == "A" and r.audit.reference["half"] == "B"
    assert set(class0.search_half.ref).isdisjoint(class0.report_half.ref)
    assert r.unlearned.acc_forget == 0.0 and r.gold is None and r.verdict == []


def test_candidates_are_distinct_selections_fewest_weights_first(class0):
    from core.methods.fisher_reset import importances

    cands = candidates(*importances(class0.model, class0.task, DeepCleanConfig()))
    counts = [c for _, c in cands]
    gammas = [g for g, _ in cands]
    assert counts == sorted(set(counts)) and gammas == sorted(gammas, reverse=True) and counts[0] > 0


def test_zero_weights_searches_too_and_a_task_without_a_reference_is_refused(class0):
    r = run_unlearn(class0.checkpoint, class0.spec, "zero_weights", DeepCleanConfig(gamma="auto"), prepared=class0,
                    gold_mode="none")
    assert r.info["finetune_epochs"] == 0 and all(t["epochs"] == 0 for t in r.gamma_search["tried"])
    import copy

    task = copy.copy(class0.task)
    task.auditor = None
    with pytest.raises(MethodError, match="automatic γ needs a reference set"):
        get_method("deepclean").run(copy.deepcopy(class0.model), task, DeepCleanConfig(gamma="auto"))


def test_gold_none_from_the_cli_trains_and_records_no_gold(shipped, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["unlearn", "--checkpoint", str(shipped), "--forget-classes", "0", "--gamma", "auto", "--gold", "none",
                 "--device", "cpu", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["models"]["gold"] is None and r["verdict"] is None and r["deltas"] is None
    assert set(r["audit"]) == {"reference", "checks", "figures"}
    assert set(r["audit"]["checks"]) == {"forgotten", "private", "kept", "fast"}
    assert all({"value", "ci_low", "ci_high"} <= set(f) for f in r["audit"]["figures"].values())
    assert r["audit"]["checks"]["forgotten"]["passed"] in (True, False, None)
    assert {"chosen", "tried"} <= set(r["gamma_search"])
    assert {"gamma", "weights_reset_fraction", "epochs", "seconds"} <= set(r["gamma_search"]["tried"][0])
    text = capsys.readouterr().out
    assert "gold-free audit" in text and "automatic γ: chose" in text
    assert RunStore().list(kind="gold") == []
    assert main(["runs", "--kind", "gold"]) == 0 and "no runs yet" in capsys.readouterr().out
    # cached: there is no gold model yet, so none is used and none is trained
    assert main(["unlearn", "--checkpoint", str(shipped), "--forget-classes", "0", "--gold", "cached",
                 "--device", "cpu", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["models"]["gold"] is None and RunStore().list(kind="gold") == []


def test_when_no_selection_meets_the_full_criterion_the_search_settles_for_the_forgotten_check(class0, monkeypatch):
    """No γ searched makes the class look unseen to the attacker (as on the MNIST benchmark): the search must not
    reset every weight γ = 0.1 selects, but the fewest whose reset passes the forgotten check."""
    from core.methods import gamma_search
    from core.methods.fisher_reset import importances

    monkeypatch.setattr(gamma_search, "forgets", lambda audit, kind, tol: False)
    r = run_unlearn(class0.checkpoint, class0.spec, "zero_weights", DeepCleanConfig(gamma="auto"), prepared=class0,
                    gold_mode="none")
    search = r.gamma_search
    assert search["criterion_used"] == "forgotten check only" and not search["passed"]
    probes = {t["gamma"]: t for t in search["tried"]}
    smallest = min(g for g, _ in candidates(*importances(class0.model, class0.task, DeepCleanConfig())))
    assert search["chosen"] > smallest
    # every probe with fewer weights than the chosen one (a larger γ) left the class recognisable
    chosen_frac = probes[search["chosen"]]["weights_reset_fraction"]
    assert r.unlearned.acc_forget <= 0.02
    assert all(t["weights_reset_fraction"] >= chosen_frac or t["acc_forget"] > 0.02 for t in search["tried"])
