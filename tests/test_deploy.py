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
    assert "/healthz" in health and "8501" in health  # our route: it also checks that DEEPCLEAN_HOME is usable
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


def env_of(ins) -> dict[str, str]:
    out = {}
    for op, arg in ins:
        if op == "ENV":
            for item in shlex.split(arg):
                key, _, value = item.partition("=")
                out[key] = value
    return out


def test_pip_installs_into_a_venv_that_keeps_the_images_torch():
    """Issue 17, blocker 1: the image's Python refuses `pip install` (PEP 668); a venv with the system
    site-packages takes our packages and sees the image's torch, which the pin matches."""
    ins = instructions()
    runs = " ".join(arg for op, arg in ins if op == "RUN")
    venv = re.search(r"-m venv (--system-site-packages) (\S+)", runs)
    assert venv, "a virtual environment that sees the image's site-packages"
    path = venv.group(2)
    assert f"{path}/bin/python -m pip install" in runs
    assert not re.search(r"(?<!/bin/)python3? -m pip install", runs), "nothing pip-installs into the image's Python"
    env = env_of(ins)
    assert env["PATH"].startswith(f"{path}/bin:"), "the venv's python is the one every command runs"
    torch_pin = re.search(r"^torch==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert re.search(rf"pytorch/pytorch:{re.escape(torch_pin)}-", ins[0][1]), "the base image's torch is the pin"
    assert "STREAMLIT_CONFIG_DIR" not in env, "not a Streamlit setting: the config is read from the working directory"


def test_the_image_puts_core_on_every_processs_path():
    """Issue 17, blocker 2: `dask worker` does not add the working directory to sys.path."""
    ins = instructions()
    workdir = [arg for op, arg in ins if op == "WORKDIR"][-1]
    assert workdir in env_of(ins).get("PYTHONPATH", "").split(":")
