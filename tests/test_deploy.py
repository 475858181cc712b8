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
    base = ins[ops.index("FROM")][1]
    assert set(ops[:ops.index("FROM")]) <= {"ARG"} and re.search(r"pytorch.*cuda", base), "a CUDA PyTorch image"
    users = [arg for op, arg in ins if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "runs as a non-root user"
    assert ops.index("USER") > max(i for i, op in enumerate(ops) if op == "RUN"), "nothing runs as root after USER"
    health = " ".join(arg for op, arg in ins if op == "HEALTHCHECK")
    assert "/healthz" in health and "8501" in health
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
    assert "torch==2.14.1" in pins and f"torch=={build_args()['TORCH']}" in constraints()


def build_args() -> dict[str, str]:
    return dict(arg.partition("=")[::2] for op, arg in instructions() if op == "ARG")


def env() -> dict[str, str]:
    """The image's ENV (KEY=VALUE pairs, $PATH-style references left as written)."""
    out = {}
    for op, arg in instructions():
        if op == "ENV":
            for pair in shlex.split(arg):
                key, _, value = pair.partition("=")
                out[key] = value
    return out


def constraints() -> str:
    return (ROOT / "constraints.txt").read_text()


def test_install_goes_into_a_venv_that_keeps_the_images_cuda_torch():
    """PEP 668: the base image's system Python refuses `pip install`; the project installs into a venv made
    with --system-site-packages (so the image's torch is visible), and that venv is first on PATH."""
    runs = " ".join(arg for op, arg in instructions() if op == "RUN")
    m = re.search(r"-m venv --system-site-packages (\S+)", runs)
    assert m, "a venv that sees the image's site-packages"
    venv = m.group(1)
    assert f"{venv}/bin/python -m pip install" in runs and "-c constraints.txt" in runs
    assert env()["PATH"].startswith(f"{venv}/bin:")
    base = [arg for op, arg in instructions() if op == "FROM"][0]
    args = build_args()
    resolved = base.replace("${TORCH}", args["TORCH"]).replace("${CUDA}", args["CUDA"]).replace("${BASE_DIGEST}", "")
    assert resolved == "pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime"


def test_pip_keeps_an_installed_cuda_torch_of_the_pinned_version(tmp_path):
    """The pin, resolved by pip itself against an installed `2.14.1+cu130`-style torch: nothing to install
    (no download). Runs offline (--no-index): a re-download would fail to resolve."""
    import importlib.metadata
    import json
    import subprocess
    import sys

    installed = importlib.metadata.version("torch")
    pins = [line for line in constraints().splitlines() if line.startswith(("torch==", "torchvision=="))]
    assert installed.split("+")[0] == build_args()["TORCH"]
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--quiet",
                    "--disable-pip-version-check", "--report", str(report), *pins],
                   check=True, capture_output=True, timeout=120)
    assert json.loads(report.read_text())["install"] == [], "pip would re-install torch"


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
    assert app["environment"]["DEEPCLEAN_DASK_ADDRESS"].startswith("tls://scheduler:")
    assert all("deepclean-home:/data" in s.get("volumes", []) for s in [app, *workers])


def test_compose_exposes_only_the_app_and_checks_each_service_its_own_way():
    c = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = c["services"]
    published = {n: s["ports"] for n, s in services.items() if s.get("ports")}
    assert published == {"app": ["8501:8501"]}, "the scheduler and its dashboard stay on the internal network"
    assert "/health" in " ".join(services["scheduler"]["healthcheck"]["test"])
    for name, s in services.items():
        if name.startswith("worker"):
            port = s["command"][s["command"].index("--dashboard-address") + 1].lstrip(":")
            assert f"127.0.0.1:{port}/health" in " ".join(s["healthcheck"]["test"]), "the worker's own /health"
    assert services["app"]["depends_on"]["scheduler"]["condition"] == "service_healthy"
    assert "deploy" not in services["app"], "the app needs no GPU: jobs run on the workers"
    for name, s in services.items():
        assert s.get("pull_policy") == "build" or name == "postgres", name  # postgres: the upstream image
        if name.startswith("worker"):
            cmd = s["command"]
            assert cmd[cmd.index("--nthreads") + 1] == "1"
            assert "CUDA_VISIBLE_DEVICES" not in (s.get("environment") or {}), \
                "each container sees its reserved GPU as index 0"


def test_compose_keeps_the_run_store_in_its_postgres_service():
    """Issue 17, past one host: the app and every worker record runs in the `postgres` service (internal
    only, healthy before they start), with the password from .env, never a default written here."""
    c = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = c["services"]
    pg = services["postgres"]
    assert "ports" not in pg and "pg_isready" in pg["healthcheck"]["test"]
    assert pg["environment"]["POSTGRES_PASSWORD"].startswith("${DEEPCLEAN_DB_PASSWORD:?")
    assert any(v.startswith("deepclean-db:") for v in pg["volumes"]) and "deepclean-db" in c["volumes"]
    for name, s in services.items():
        if name == "app" or name.startswith("worker"):
            url = s["environment"]["DEEPCLEAN_DATABASE_URL"]
            assert url.startswith("postgresql+psycopg://deepclean:${DEEPCLEAN_DB_PASSWORD:?") and "@postgres:5432/" in url
            assert s["depends_on"]["postgres"]["condition"] == "service_healthy", name


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def tls_flags(service: str, certs: Path | str | None = None) -> list[str]:
    """The --tls-* flags of a compose service's command, the certificate folder mapped onto `certs`."""
    c = compose()
    mount = c["services"]["app"]["environment"]["DEEPCLEAN_DASK_TLS_DIR"]
    cmd = c["services"][service]["command"]
    out = []
    for flag, value in zip(cmd, cmd[1:]):
        if flag.startswith("--tls-"):
            out += [flag, value if certs is None else value.replace(mount, str(certs), 1)]
    return out


def test_compose_secures_the_dask_cluster_with_mutual_tls():
    """Issue 13.10: a one-shot `certs` service makes the CA and certificate on a volume before the scheduler
    starts; scheduler, workers and app use tls:// with those files (mounted read-only) and Dask's real flags."""
    from distributed.cli import dask_scheduler, dask_worker

    from core.cluster_tls import CA, CERT, KEY

    c = compose()
    services = c["services"]
    certs = services["certs"]
    cmd = certs["command"]
    assert cmd[:4] == ["python", "-m", "core", "cluster-certs"]
    tls_dir = cmd[cmd.index("--dir") + 1]
    volume = next(v.split(":")[0] for v in certs["volumes"] if v.split(":")[1] == tls_dir)
    assert f"{volume}:{tls_dir}" in certs["volumes"] and volume in c["volumes"]
    assert services["scheduler"]["depends_on"]["certs"]["condition"] == "service_completed_successfully"
    sched = services["scheduler"]["command"]
    assert sched[sched.index("--protocol") + 1] == "tls"
    expected = ["--tls-ca-file", f"{tls_dir}/{CA}", "--tls-cert", f"{tls_dir}/{CERT}", "--tls-key", f"{tls_dir}/{KEY}"]
    app = services["app"]
    assert app["environment"]["DEEPCLEAN_DASK_ADDRESS"] == "tls://scheduler:8786"
    assert app["environment"]["DEEPCLEAN_DASK_TLS_DIR"] == tls_dir
    workers = [n for n in services if n.startswith("worker")]
    for name in ["scheduler", *workers, "app"]:
        assert f"{volume}:{tls_dir}:ro" in services[name]["volumes"], f"{name} reads the certificates, read-only"
        if name != "app":
            assert tls_flags(name) == expected, name
    for name in workers:
        assert services[name]["command"][2] == "tls://scheduler:8786"
    assert not any("tcp://" in str(s) for s in services.values()), "no plain-TCP address left"
    known = {o for cmd in (dask_scheduler.main, dask_worker.main) for p in cmd.params for o in p.opts}
    assert {"--protocol", *expected[::2]} <= known, "flags of the installed distributed"
    runs = " ".join(arg for op, arg in instructions() if op == "RUN")
    assert re.search(rf"install -d -m 700 -o deepclean -g deepclean {tls_dir}\b", runs), \
        "the volume's folder exists in the image, owned by the user the services run as (a fresh volume copies it)"


def test_no_streamlit_config_dir_setting_and_a_dockerignore():
    assert "STREAMLIT_CONFIG_DIR" not in env(), "not a Streamlit setting; .streamlit/ in WORKDIR is what loads"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
