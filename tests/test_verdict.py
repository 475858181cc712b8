"""The verdict's checks against hand-set figures, at and around each bar."""

import pytest

from core.verdict import Tolerances, checks, of_result, text, to_dict


def _m(acc_forget, acc_test, mia, retained=None):
    m = {"acc_forget": acc_forget, "acc_test": acc_test, "mia_forget": mia}
    if retained is not None:
        m["acc_test_retained_classes"] = retained
    return m


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


def test_of_result_reads_the_unlearn_json_and_reports_the_figures():
    result = {"forget": {"kind": "classes", "classes": [0]}, "time_vs_gold": 0.17,
              "models": {"unlearned": _m(0.0, 0.8867, 0.5038, retained=0.9852),
                         "gold": _m(0.0, 0.8889, 0.0226, retained=0.9877)}}
    cs = of_result(result)
    assert _passed(cs) == {"forgotten": True, "kept": True, "private": False, "fast": True}
    d = to_dict(cs)
    assert "50.38%" in d["private"]["detail"] and "+48.12 pts" in d["private"]["detail"]
    assert "retained classes" in d["kept"]["detail"] and "-0.25 pts" in d["kept"]["detail"]
    assert text(cs).splitlines()[2].split()[:2] == ["MISS", "private"]
