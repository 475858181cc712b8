import json
import os

import pytest
import torch
from safetensors.torch import save_file

from core.checkpoint import CheckpointError, card_path, load_checkpoint, read_state_dict, save_checkpoint, sha256_file
from core.models import build_model

CARD = {"architecture": "cnn_small", "dataset": "digits", "num_classes": 10, "input_shape": [1, 8, 8],
        "normalisation": {"mean": [0.3], "std": [0.4]}}


def test_round_trip_keeps_weights_and_writes_a_card(tmp_path):
    model = build_model("cnn_small", (1, 8, 8), 10)
    card = save_checkpoint(model, CARD, tmp_path / "m")
    weights = tmp_path / "m.safetensors"
    assert card["sha256"] == sha256_file(weights) and json.loads(card_path(weights).read_text())["sha256"] == card["sha256"]
    loaded, card2 = load_checkpoint(weights)
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert not list(tmp_path.glob("*.tmp"))


def test_pt_state_dict_loads_with_a_given_card(tmp_path):
    model = build_model("cnn_small", (1, 8, 8), 10)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    loaded, _ = load_checkpoint(tmp_path / "m.pt", CARD)
    assert torch.equal(loaded.state_dict()["0.weight"], model.state_dict()["0.weight"])


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"0.weight": RunsCode(marker)}, evil)
    with pytest.raises(CheckpointError, match="refused"):
        read_state_dict(evil)
    assert not marker.exists()


def test_shape_mismatch_is_listed_readably(tmp_path):
    other = build_model("cnn_small", (1, 8, 8), 3)  # 3 classes instead of 10
    state = other.state_dict()
    state.pop("0.bias")
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(tmp_path / "x.safetensors"))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "x.safetensors", CARD)
    msg = str(e.value)
    assert "missing keys (1): 0.bias" in msg and "unexpected keys (1): extra.weight" in msg
    assert "9.weight: file (3, 128) vs model (10, 128)" in msg and "number of classes" in msg


@pytest.mark.parametrize("content", [b"", b"\x00" * 7, os.urandom(300), b"\xff\xff\xff\xff\xff\xff\xff\x7f{"])
def test_corrupt_safetensors_is_refused(tmp_path, content):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        read_state_dict(p)


def test_truncated_safetensors_is_refused(tmp_path):
    save_checkpoint(build_model("cnn_small", (1, 8, 8), 10), CARD, tmp_path / "m")
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        read_state_dict(tmp_path / "t.safetensors")


def test_unknown_suffix_and_missing_card(tmp_path):
    (tmp_path / "m.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="unsupported file type"):
        read_state_dict(tmp_path / "m.bin")
    save_file(build_model("cnn_small", (1, 8, 8), 10).state_dict(), str(tmp_path / "bare.safetensors"))
    with pytest.raises(CheckpointError, match="no model card"):
        load_checkpoint(tmp_path / "bare.safetensors")


def test_loading_never_writes_the_input(tmp_path):
    save_checkpoint(build_model("cnn_small", (1, 8, 8), 10), CARD, tmp_path / "m")
    before = sha256_file(tmp_path / "m.safetensors"), os.stat(tmp_path / "m.safetensors").st_mtime_ns
    load_checkpoint(tmp_path / "m.safetensors")
    assert (sha256_file(tmp_path / "m.safetensors"), os.stat(tmp_path / "m.safetensors").st_mtime_ns) == before
