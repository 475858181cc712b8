"""Adding a method is one file plus one registry line: a tiny method with a swept option and a choice-valued
option, written here as a module of its own, is registered, listed, run from the CLI, swept by job workers and
offered by the Unlearn page, with no other file touched."""

import json
import sys
import textwrap

import pytest

from core.cli import main
from core.methods import EXTRA_MODULES_ENV, METHODS, MethodError, load_extra_methods, register

TINY = '''
"""Tiny: shrink the classifier head (or every weight) by 1 / (1 + strength). A test's method."""

from dataclasses import dataclass

import torch

from core.config import Config, param
from core.methods.base import Method, Sweep


@dataclass(frozen=True)
class TinyConfig(Config):
    """Tiny's options."""

    strength: float | None = param(None, "how hard to shrink (empty: 1 for classes, 0.5 for samples)", low=0,
                                   low_open=True)
    where: str = param("head", "which weights to shrink", choices=("head", "all"))


def run(model, task, cfg):
    strength = cfg.strength if cfg.strength is not None else default(task.forget_kind)
    params = list(model.parameters())
    chosen = params[-2:] if cfg.where == "head" else params
    with torch.no_grad():
        for p in chosen:
            p.mul_(1 / (1 + strength))
    return model, {"shrunk": sum(p.numel() for p in chosen)}


def default(kind):
    return 1.0 if kind == "classes" else 0.5


METHOD = Method(name="tiny", run=run, config=TinyConfig, summary="shrink the head (a test's method)",
                citation="tests/test_registry.py",
                sweep=Sweep(option="strength", label="shrink strength", low=0.1, high=10.0, values=(0.5, 2.0),
                            default=default))
'''


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """The tiny method as a module of its own on the path, named in DEEPCLEAN_METHOD_MODULES (so job worker
    processes register it too), and registered here; unregistered afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "tiny_method.py").write_text(textwrap.dedent(TINY))
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", str(folder))
    monkeypatch.setenv(EXTRA_MODULES_ENV, "tiny_method")
    assert load_extra_methods() == ["tiny"]
    yield METHODS["tiny"]
    METHODS.pop("tiny")
    sys.modules.pop("tiny_method", None)


def test_the_tiny_method_is_listed_run_from_the_cli_and_swept(tiny, shipped, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["methods", "--json", str(out)]) == 0
    listing = {m["name"]: m for m in json.loads(out.read_text())}
    assert listing["tiny"]["sweep"]["option"] == "strength"
    assert {o["name"]: o["choices"] for o in listing["tiny"]["options"]}["where"] == ["head", "all"]

    assert main(["unlearn", "--method", "tiny", "--checkpoint", str(shipped), "--forget-classes", "0",
                 "--where", "all", "--strength", "2", "--device", "cpu", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["method"] == "tiny" and r["config"] == {"strength": 2.0, "where": "all"}
    assert r["weights_changed_fraction"] == 1.0 and "verdict" in r
    with pytest.raises(SystemExit):  # argparse refuses a value outside the option's choices
        main(["unlearn", "--method", "tiny", "--checkpoint", str(shipped), "--forget-classes", "0", "--where", "x"])
    assert "invalid choice: 'x'" in capsys.readouterr().err
    assert main(["unlearn", "--method", "tiny", "--checkpoint", str(shipped), "--forget-classes", "0",
                 "--strength", "-1"]) == 2
    assert "strength must be > 0" in capsys.readouterr().err

    # the sweep runs in worker processes, which register the method from DEEPCLEAN_METHOD_MODULES
    assert main(["sweep", "--method", "tiny", "--checkpoint", str(shipped), "--forget-classes", "0",
                 "--values", "0.5,4", "--device", "cpu", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(row["strength"], row["status"]) for row in rows] == [(0.5, "done"), (4.0, "done")], rows


def test_the_unlearn_page_offers_its_slider_and_a_selectbox_for_its_choice(tiny, open_app):
    at = open_app("pages/unlearn.py", forget={"kind": "classes", "classes": [0]})
    at.selectbox(key="method").set_value("tiny").run()
    assert not at.exception, at.exception
    assert at.slider(key="tiny.strength").value == 1.0 and at.slider(key="tiny.strength").label == "Shrink strength"
    where = at.selectbox(key="tiny.where")
    assert where.options == ["head", "all"] and where.value == "head"
    assert not at.button(key="launch").disabled
    assert at.text_input(key="tiny.sweep_values").value == "0.5,2"


def test_a_second_method_under_a_taken_name_is_refused():
    with pytest.raises(MethodError, match="already registered"):
        register(METHODS["ssd"].__class__(**{**METHODS["ssd"].__dict__, "summary": "impostor"}))
    with pytest.raises(MethodError, match="cannot be imported"):
        load_extra_methods("no_such_module_here")
