import json

from core.cli import main
from core.store import RunStore


def test_train_evaluate_and_runs_from_the_command_line(shipped, tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "--dataset", "digits", "--model", "cnn_small", "--out", str(out), "--epochs", "2",
                 "--device", "cpu", "--json", str(tmp_path / "card.json")]) == 0
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["recipe"]["epochs"] == 2 and (tmp_path / "m.safetensors").is_file()
    assert main(["evaluate", "--checkpoint", str(shipped), "--json", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["acc_test"] >= 0.97 and len(result["per_class_test"]) == 10
    assert "test accuracy" in capsys.readouterr().out
    assert main(["runs", "--json", "-"]) == 0
    runs = RunStore().list()
    assert len(runs) == 1 and runs[0]["kind"] == "train" and runs[0]["status"] == "done"


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(tmp_path / "nope.safetensors")]) == 2
    assert "no such file" in capsys.readouterr().err
