"""The container: Dockerfile, compose file and the production Streamlit settings, checked by parsing them."""

import re
import shlex
import tomllib
from pathlib import Path

import yaml
from streamlit import config as st_config

ROOT = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_base_user_health_port_and_copies():
    ins = instructions()
    ops = [op for op, _ in ins]
    assert ops[0] == "FROM" and re.search(r"pytorch.*cuda", ins[0][1]), "a CUDA runtime image with PyTorch"
    users = [arg for op, arg in ins if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "runs as a non-root user"
    assert ops.index("USER") > max(i for i, op in enumerate(ops) if op == "RUN"), "nothing runs as root after USER"
    health = " ".join(arg for op, arg in ins if op == "HEALTHCHECK")
    assert "/_stcore/health" in health and "8501" in health
    assert any(op == "EXPOSE" and "8501" in arg for op, arg in ins)
    assert any(op == "VOLUME" and "/data" in arg for op, arg in ins)
    env = " ".join(arg for op, arg in ins if op == "ENV")
    assert "DEEPCLEAN_HOME=/data" in env
    for op, arg in ins:
        if op == "COPY":
            *sources, _dest = shlex.split(arg)
            for src in sources:
                assert (ROOT / src).exists(), f"COPY {src}: no such path in the repository"
    cmd = [arg for op, arg in ins if op == "CMD"][-1]
    assert "streamlit" in cmd and "app.py" in cmd
    pins = (ROOT / "requirements.txt").read_text()
    assert "torch==2.14.1" in pins and "2.14.1" in ins[0][1], "the image's torch is the pinned one"


def test_production_settings_are_valid_streamlit_options():
    cfg = tomllib.loads((ROOT / "deploy" / "streamlit-production.toml").read_text())
    known = set(st_config._config_options_template)
    for section, values in cfg.items():
        for key in values:
            assert f"{section}.{key}" in known, f"{section}.{key} is not a Streamlit option"
    assert cfg["server"]["headless"] is True and cfg["server"]["fileWatcherType"] == "none"
    assert cfg["browser"]["gatherUsageStats"] is False and cfg["client"]["showErrorDetails"] == "none"
    assert cfg["server"]["maxUploadSize"] > 0


def test_compose_runs_a_scheduler_gpu_workers_and_the_app_on_one_volume():
    c = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = c["services"]
    assert "dask" in " ".join(services["scheduler"]["command"])
    workers = [s for n, s in services.items() if n.startswith("worker")]
    assert workers and all("GPU=1" in " ".join(w["command"]) for w in workers)
    app = services["app"]
    assert app["environment"]["DEEPCLEAN_DASK_ADDRESS"].startswith("tcp://scheduler:")
    assert all("deepclean-home:/data" in s.get("volumes", []) for s in [app, *workers])
