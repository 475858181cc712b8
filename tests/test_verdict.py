"""The verdict's checks against gold: on hand-set figures at and around each bar, and from per-sample evidence
with paired bootstrap intervals (pass, miss, or open when the interval straddles the bar)."""

import numpy as np
import pytest

from core.config import ConfigError
from core.result import ModelMetrics, UnlearnResult
from core.stats import Interval
from core.verdict import (Evidence, Tolerances, at_least, at_most, checks, from_dict, gold_checks, inconclusive, misses,
                          text, to_dict, within)


def _m(acc_forget, acc_test, mia, retained=None):
    return ModelMetrics(acc_retain=1.0, acc_forget=acc_forget, acc_test=acc_test, mia_forget=mia, loss_auc=0.5,
                        js_to_gold=0.0, seconds=0.0, acc_test_retained_classes=retained)


def _passed(cs):
    return {c.name: c.passed for c in cs}


def test_classes_use_retained_class_accuracy_and_the_two_point_bar():
    gold = _m(0.0, 0.889, 0.0226, retained=0.9877)
    unlearned = _m(0.02, 0.50, 0.0726, retained=0.9677)  # overall Acc(test) far off, retained classes on the bar
    assert _passed(checks(unlearned, gold, "classes", 0.2)) == {"forgotten": True, "kept": True, "private": True,
                                                                 "fast": True}
    worse = _m(0.0201, 0.889, 0.0727, retained=0.9676)
    assert _passed(checks(worse, gold, "classes", 0.2001)) == {"forgotten": False, "kept": False, "private": False,
                                                               "fast": False}


@pytest.mark.parametrize("d_forget,ok", [(0.03, True), (-0.03, True), (0.031, False)])
def test_samples_allow_three_points_on_the_forget_set(d_forget, ok):
    gold = _m(0.99, 0.98, 0.9)
    assert _passed(checks(_m(0.99 + d_forget, 0.98, 0.9), gold, "random", None))["forgotten"] is ok


def test_no_time_means_no_speed_check_and_tolerances_are_configurable():
    gold = _m(0.0, 0.9, 0.1)
    cs = checks(_m(0.0, 0.85, 0.1), gold, "indices", None, Tolerances(acc_test=0.06))
    assert [c.name for c in cs] == ["forgotten", "kept", "private"] and all(c.passed for c in cs)
    with pytest.raises(ConfigError, match="mia must be >= 0; got -0.01"):
        Tolerances(mia=-0.01)


def test_interval_rules_pass_miss_or_open():
    assert within(Interval(0.01, -0.01, 0.019, 100), 0.02) is True
    assert within(Interval(0.05, 0.03, 0.07, 100), 0.02) is False
    assert within(Interval(0.01, -0.01, 0.04, 100), 0.02) is None
    assert at_most(Interval(0.03, 0.01, 0.05, 100), 0.10) is True and at_most(Interval(0.5, 0.4, 0.6, 9), 0.1) is False
    assert at_least(Interval(-0.01, -0.03, 0.0, 50), -0.02) is None


def _evidence(rng, n_forget, p_correct, p_member, n_test=400, p_test=0.98):
    return Evidence(forget_correct=(rng.random(n_forget) < p_correct).astype(float),
                    test_correct=(rng.random(n_test) < p_test).astype(float),
                    forget_member=(rng.random(n_forget) < p_member).astype(float))


def test_gold_checks_from_evidence_are_paired_and_shrink_with_samples():
    rng = np.random.default_rng(0)
    gold = _evidence(rng, 200, 0.0, 0.03)
    same = Evidence(gold.forget_correct.copy(), gold.test_correct.copy(), gold.forget_member.copy())
    cs = gold_checks(same, gold, "classes", 0.1, test_label="Acc(test, retained classes)")
    assert all(c.passed for c in cs) and cs[2].figure.low == cs[2].figure.high == 0  # identical: a zero-width interval
    # confidently relabelling: the attacker calls half of Df members where gold's calls 3%
    loud = Evidence(gold.forget_correct, gold.test_correct, (rng.random(200) < 0.5).astype(float))
    cs = {c.name: c for c in gold_checks(loud, gold, "classes", 0.3, test_label="x")}
    assert cs["private"].passed is False and cs["fast"].passed is False and "MISS" in text(list(cs.values()))
    # 4 points more members than gold on 133 images: the interval straddles the 5-point bar
    few = Evidence(gold.forget_correct[:133], gold.test_correct, gold.forget_member[:133].copy())
    few.forget_member[np.flatnonzero(few.forget_member == 0)[:6]] = 1  # +6 of 133 = +4.5 pts
    check = {c.name: c for c in gold_checks(few, Evidence(gold.forget_correct[:133], gold.test_correct,
                                                          gold.forget_member[:133]), "classes", None,
                                            test_label="x")}["private"]
    assert check.passed is None and check.status == "inconclusive" and "inconclusive on 133 samples" in check.detail
    assert check.settle_n is None or check.settle_n > 133
    assert misses([check]) == "none" and inconclusive([check]) == "private"


def test_a_result_keeps_its_intervals_through_json_and_old_records_still_read():
    rng = np.random.default_rng(1)
    gold = _evidence(rng, 133, 0.0, 0.03)
    cs = gold_checks(gold, gold, "classes", 0.17, test_label="Acc(test, retained classes)")
    back = from_dict(to_dict(cs))
    assert [(c.name, c.passed, c.figure) for c in back] == [(c.name, c.passed, c.figure) for c in cs]
    # a record stored before intervals were kept: point-only checks recomputed from its figures
    stored = {"method": "deepclean", "forget": {"kind": "classes", "classes": [0]}, "seconds_standalone": 0.17,
              "verdict": {"forgotten": {"passed": True, "detail": "old"}},
              "models": {"original": _m(1.0, 0.98, 0.9, retained=0.98).to_dict(),
                         "unlearned": _m(0.0, 0.8867, 0.5038, retained=0.9852).to_dict(),
                         "gold": {**_m(0.0, 0.8889, 0.0226, retained=0.9877).to_dict(), "seconds": 1.0}}}
    result = UnlearnResult.from_dict(stored)
    assert result.time_vs_gold == 0.17 and result.verdict_checks is None
    assert _passed(result.verdict) == {"forgotten": True, "kept": True, "private": False, "fast": True}
    d = to_dict(result.verdict)
    assert "50.38%" in d["private"]["detail"] and "+48.12 pts" in d["private"]["detail"]
    assert "retained classes" in d["kept"]["detail"] and "-0.25 pts" in d["kept"]["detail"]
    assert text(result.verdict).splitlines()[2].split()[:2] == ["MISS", "private"]
