"""The γ sweep: one job per γ on the active executor, from the CLI."""

import json

import pytest

from core.cli import main
from core.sweep import parse_gammas
from test_train import SHIPPED


def test_parse_gammas():
    assert parse_gammas("1.1, 1.5,2,2") == [1.1, 1.5, 2.0]
    for bad in ("", "1,x", "0,1"):
        with pytest.raises(ValueError, match="--gammas"):
            parse_gammas(bad)


def test_sweep_cli_fans_out_and_tabulates(tmp_path, capsys):
    out = tmp_path / "sweep.json"
    assert main(["sweep", "--checkpoint", str(SHIPPED), "--forget-classes", "0", "--gammas", "1.5,3",
                 "--method", "zero_weights", "--device", "cpu", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["gamma"] for r in rows] == [1.5, 3.0] and all(r["status"] == "done" for r in rows)
    assert rows[0]["weights_reset_fraction"] > rows[1]["weights_reset_fraction"] > 0  # lower γ resets more
    for r in rows:  # the verdict's private check is |ΔMIA| ≤ 5 points
        assert ("private" in r["misses"]) == (abs(r["delta_mia"]) > 0.05)
    assert "γ" in capsys.readouterr().out
    assert main(["sweep", "--checkpoint", str(SHIPPED), "--forget-classes", "0", "--gammas", "a,b"]) == 2
