"""Config options declare their limits once; one parser serves flags, forms and stored JSON."""

from dataclasses import dataclass

import pytest

from core import config as cfgmod
from core.config import Config, ConfigError, param
from core.methods import METHODS


@dataclass(frozen=True)
class Demo(Config):
    """A config with one of each kind of option."""

    lr: float = param(0.1, "learning rate", low=0, low_open=True)
    share: float = param(0.5, "a share", low=0, high=1, high_open=True)
    epochs: int | None = param(None, "epochs (empty: automatic)", low=0)
    mode: str = param("a", "which mode", choices=("a", "b"))
    fast: bool = param(False, "go fast")
    steps: tuple[int, ...] | None = param(None, "milestones")
    cap: float | None = param(10.0, "a cap (empty: none)", low=0)


def test_limits_are_checked_on_construction_with_scikit_learn_style_messages():
    assert Demo().lr == 0.1
    for kwargs, message in [({"lr": -1.0}, "lr must be > 0; got -1.0"), ({"lr": 0.0}, "lr must be > 0; got 0.0"),
                            ({"share": 1.0}, r"share must be in \[0, 1\); got 1.0"),
                            ({"epochs": -2}, "epochs must be >= 0; got -2"),
                            ({"mode": "c"}, "mode must be one of 'a', 'b'; got 'c'"),
                            ({"lr": float("nan")}, "lr must be a number > 0")]:
        with pytest.raises(ConfigError, match=message):
            Demo(**kwargs)


def test_one_parser_for_strings_and_json_values():
    strings = cfgmod.parse(Demo, {"lr": "0.01", "epochs": "3", "mode": "b", "fast": "yes", "steps": "4,8",
                                  "cap": ""}, owner="demo")
    json_values = cfgmod.parse(Demo, {"lr": 0.01, "epochs": 3, "mode": "b", "fast": True, "steps": [4, 8],
                                      "cap": None})
    assert strings == json_values == Demo(lr=0.01, epochs=3, mode="b", fast=True, steps=(4, 8), cap=None)
    assert cfgmod.to_dict(strings)["steps"] == [4, 8]
    assert cfgmod.parse(Demo, cfgmod.to_dict(strings)) == strings  # round trip through the store
    for values, message in [({"lr": "lots"}, "demo option lr: 'lots' is not a valid float"),
                            ({"epochs": 2.5}, "demo option epochs: 2.5 is not a valid int"),
                            ({"fast": "maybe"}, "demo option fast: 'maybe' is not a valid bool"),
                            ({"colour": "red"}, "demo has no option 'colour'; it has: lr, share"),
                            ({"lr": ""}, "demo option lr needs a value"),
                            ({"lr": "-3"}, "demo option lr must be > 0; got -3.0")]:
        with pytest.raises(ConfigError, match=message):
            cfgmod.parse(Demo, values, owner="demo")


def test_options_describe_each_field_for_flags_and_forms():
    opts = {o.name: o for o in cfgmod.options(Demo)}
    assert (opts["epochs"].kind, opts["epochs"].optional, opts["epochs"].limits()) == (int, True, ">= 0")
    assert opts["mode"].choices == ("a", "b") and opts["steps"].item is int and opts["share"].limits() == "in [0, 1)"
    assert cfgmod.option(Demo, "cap").default == 10.0


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_default_config_is_valid_and_its_help_is_written(name):
    m = METHODS[name]
    cfg = m.config()
    assert cfgmod.parse(m.config, cfgmod.to_dict(cfg)) == cfg
    assert all(o.help for o in cfgmod.options(m.config))
    if m.sweep is not None:
        opt = cfgmod.option(m.config, m.sweep.option)
        assert opt.kind is float and m.sweep.low < m.sweep.high
        for kind in m.forget_kinds:
            assert m.sweep.low <= m.sweep.default(kind) <= m.sweep.high
