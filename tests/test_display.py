"""How runs, times and cards are shown to people: one readable name per run, one time format, tables not JSON."""

import time

from core.display import card_view, run_label, seconds_text


def test_a_run_reads_as_method_setting_forget_set_and_when():
    now = time.mktime((2026, 11, 23, 14, 2, 0, 0, 0, -1))
    rec = {"method": "deepclean", "config": {"gamma": 1.5}, "forget": {"kind": "classes", "classes": [0]},
           "dataset": "digits", "created_at": now}
    assert run_label(rec, now=now) == "DeepClean γ 1.5 · digit 0 · 14:02"
    auto = {**rec, "config": {"gamma": "auto"}, "created_at": now - 3 * 86400}
    assert run_label(auto, chosen=1.25, now=now) == "DeepClean γ auto (1.25) · digit 0 · 20 Nov 14:02"
    other = {"method": "finetune", "config": {}, "forget": {"kind": "random", "fraction": 0.1, "seed": 0},
             "dataset": "cifar10", "created_at": now}
    assert run_label(other, now=now) == "Fine-tune · random 10% (seed 0) · 14:02"
    assert run_label({"kind": "gold", "method": "gold", "forget": {"kind": "classes", "classes": [1, 2]},
                      "dataset": "cifar10", "created_at": None}) == "Retrain (gold) · classes 1 and 2"


def test_one_time_format():
    assert seconds_text(0.364) == "0.36 s" and seconds_text(12.44) == "12.4 s" and seconds_text(185) == "3 min 05 s"
    assert seconds_text(None) == "—"


def test_a_model_card_is_a_table_without_raw_json_or_none():
    view = card_view({"architecture": "cnn_small", "model_kwargs": None, "normalisation": {"mean": [0.30531]},
                      "input_shape": [1, 8, 8]})
    assert view.loc["model kwargs", "value"] == "—" and view.loc["normalisation", "value"] == "mean = 0.3053"
    assert view.loc["input shape", "value"] == "1, 8, 8"
