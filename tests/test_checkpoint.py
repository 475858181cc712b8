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


TV_CARD = {"architecture": "torchvision.mobilenet_v3_small", "dataset": "cifar10", "num_classes": 10,
           "input_shape": [3, 32, 32], "normalisation": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}


def _torchvision_model():
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v3_small(weights=None, num_classes=10).eval()
    with torch.no_grad():  # non-default BatchNorm statistics, so that a load that skipped them would show
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("form", ["plain", "module_prefix", "state_dict_wrapper", "model_wrapper_with_optimizer",
                                  "compiled_prefix", "no_num_batches_tracked"])
def test_a_torchvision_state_dict_loads_as_its_user_saved_it_and_evaluates(tmp_path, form):
    model = _torchvision_model()
    state = model.state_dict()
    if form == "module_prefix":  # DataParallel / DistributedDataParallel
        obj = {f"module.{k}": v for k, v in state.items()}
    elif form == "state_dict_wrapper":
        obj = {"state_dict": {f"module.{k}": v for k, v in state.items()}}
    elif form == "model_wrapper_with_optimizer":  # torchvision's reference training scripts
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        obj = {"model": state, "optimizer": opt.state_dict(), "epoch": 3, "args": "--lr 0.1"}
    elif form == "compiled_prefix":
        obj = {f"_orig_mod.{k}": v for k, v in state.items()}
    elif form == "no_num_batches_tracked":
        obj = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    else:
        obj = state
    torch.save(obj, tmp_path / "m.pth")
    loaded, card = load_checkpoint(tmp_path / "m.pth", TV_CARD)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))
    assert not loaded.training and card["architecture"] == "torchvision.mobilenet_v3_small"


def test_a_wrapper_without_a_state_dict_names_its_keys(tmp_path):
    torch.save({"epoch": 3, "weights": [1, 2]}, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="epoch"):
        read_state_dict(tmp_path / "m.pt")


def test_a_torchvision_checkpoint_for_another_model_is_listed_readably(tmp_path):
    import torchvision

    torch.save(torchvision.models.resnet18(weights=None, num_classes=10).state_dict(), tmp_path / "r.pth")
    with pytest.raises(CheckpointError, match="missing keys .*unexpected keys"):
        load_checkpoint(tmp_path / "r.pth", TV_CARD)


def test_auxiliary_classifier_weights_are_ignored(tmp_path):
    import torchvision

    torch.manual_seed(0)
    full = torchvision.models.googlenet(weights=None, num_classes=4, aux_logits=True, init_weights=False).eval()
    torch.save(full.state_dict(), tmp_path / "g.pth")
    card = {**TV_CARD, "architecture": "torchvision.googlenet", "num_classes": 4, "input_shape": [3, 64, 64]}
    loaded, _ = load_checkpoint(tmp_path / "g.pth", card)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(x), full(x))
