"""A sweep: one job per value of a method's swept option on the active executor, from the CLI."""

import json

import pytest

from core.cli import main
from core.config import ConfigError
from core.methods import MethodError
from core.sweep import parse_values, sweep_configs


def test_parse_values_and_the_configs_they_make():
    assert parse_values("1.1, 1.5,2,2") == [1.1, 1.5, 2.0]
    for bad in ("", "1,x"):
        with pytest.raises(ValueError, match="--values"):
            parse_values(bad)
    assert [c.gamma for c in sweep_configs("deepclean", [1.5, 3])] == [1.5, 3.0]
    with pytest.raises(ConfigError, match="gamma must be > 0; got 0.0"):  # the option's declared limit
        sweep_configs("deepclean", [0, 1])
    with pytest.raises(MethodError, match="ssd has no option to sweep"):
        sweep_configs("ssd", [1.0])


def test_sweep_cli_fans_out_and_tabulates(shipped, tmp_path, capsys):
    out = tmp_path / "sweep.json"
    assert main(["sweep", "--checkpoint", str(shipped), "--forget-classes", "0", "--gammas", "1.5,3",
                 "--method", "zero_weights", "--device", "cpu", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["gamma"] for r in rows] == [1.5, 3.0] and all(r["status"] == "done" for r in rows)
    assert rows[0]["weights_reset_fraction"] > rows[1]["weights_reset_fraction"] > 0  # lower γ resets more
    for r in rows:  # the verdict's private check is |ΔMIA| ≤ 5 points
        assert ("private" in r["misses"]) == (abs(r["delta_mia"]) > 0.05)
    assert "gamma" in capsys.readouterr().out
    assert main(["sweep", "--checkpoint", str(shipped), "--forget-classes", "0", "--gammas", "a,b"]) == 2
    assert main(["sweep", "--checkpoint", str(shipped), "--forget-classes", "0", "--values", "0,1"]) == 2
    assert "gamma must be > 0" in capsys.readouterr().err
