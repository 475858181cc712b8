"""The verdict's checks against hand-set figures, at and around each bar."""

import pytest

from core.config import ConfigError
from core.result import ModelMetrics, UnlearnResult
from core.verdict import Tolerances, checks, of_result, text, to_dict


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


def test_tolerances_declare_their_limits():
    with pytest.raises(ConfigError, match="mia must be >= 0; got -0.01"):
        Tolerances(mia=-0.01)


def test_of_result_reads_the_unlearn_json_and_reports_the_figures():
    stored = {"method": "deepclean", "forget": {"kind": "classes", "classes": [0]}, "seconds_standalone": 0.17,
              "models": {"original": _m(1.0, 0.98, 0.9, retained=0.98).to_dict(),
                         "unlearned": _m(0.0, 0.8867, 0.5038, retained=0.9852).to_dict(),
                         "gold": {**_m(0.0, 0.8889, 0.0226, retained=0.9877).to_dict(), "seconds": 1.0}}}
    result = UnlearnResult.from_dict(stored)
    assert result.time_vs_gold == 0.17
    cs = of_result(result)
    assert _passed(cs) == {"forgotten": True, "kept": True, "private": False, "fast": True}
    d = to_dict(cs)
    assert "50.38%" in d["private"]["detail"] and "+48.12 pts" in d["private"]["detail"]
    assert "retained classes" in d["kept"]["detail"] and "-0.25 pts" in d["kept"]["detail"]
    assert text(cs).splitlines()[2].split()[:2] == ["MISS", "private"]
