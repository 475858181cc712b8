"""Store queries on hand-made records: baselines, missing baselines, the runs per swept value."""

from core import queries
from core.forget import ForgetSpec
from core.methods import METHODS
from core.store import RunStore


def test_sweep_results_take_the_newest_run_per_value_of_one_method_checkpoint_and_forget_set(make_result):
    store = RunStore()
    first = make_result("zero_weights", gamma=3.0, store=store)
    low = make_result("zero_weights", gamma=1.5, store=store)
    newest = make_result("zero_weights", gamma=3.0, store=store)
    make_result("deepclean", gamma=3.0, store=store)  # another method
    make_result("zero_weights", gamma=2.0, spec=ForgetSpec.of_classes([1]), store=store)  # another forget set
    make_result("zero_weights", gamma=2.5, sha="cd" * 32, store=store)  # another checkpoint
    found = queries.sweep_results(store, low)
    assert [r.config["gamma"] for r in found] == [1.5, 3.0]
    assert [r.run_id for r in found] == [low.run_id, newest.run_id] and first.run_id not in {r.run_id for r in found}
    assert queries.sweep_results(store, make_result("ssd")) == []  # a method that sweeps nothing


def test_baselines_and_the_missing_ones(make_result):
    store = RunStore()
    r = make_result("deepclean", gamma=2.0, store=store)
    ssd = make_result("ssd", store=store)
    make_result("ssd", spec=ForgetSpec.of_classes([2]), store=store)
    assert {m: b.run_id for m, b in queries.baselines_for(store, r).items()} == {"ssd": ssd.run_id}
    missing = queries.missing_baselines(store, r)
    assert "ssd" not in missing and "deepclean" not in missing
    assert not any(METHODS[m].reference for m in missing) and "unsir" in missing  # classes: unsir serves them
    sample = make_result("deepclean", spec=ForgetSpec.random(fraction=0.1), store=store)
    assert "unsir" not in queries.missing_baselines(store, sample)  # unsir serves classes only
    assert [rec["id"] for rec, _ in queries.finished_results(store)][0] == sample.run_id
    assert queries.load_result(store, r.run_id).to_dict() == r.to_dict()
