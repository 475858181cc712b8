"""End to end in a real headless Chromium (Debian's) through Playwright, against `streamlit run app.py`.

First the Home page's demo button, to its Results (the sentence, the run in the URL, a reload keeping it), then
every page at 1400×900 and at 1024×768. Then the walk Model → Forget set (class 0) → Unlearn (DeepClean,
automatic γ) → the job → Results, the table checked against the run store; a second browser session sees a
running job, a reload loses nothing, another page answers while a job runs, and Cancel stops it. Screenshots
go to tests/artifacts/ (not committed); timings (seconds) to tests/artifacts/e2e-timings.json, reported in
bench/RESULTS.md from an idle run, never asserted.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("DEEPCLEAN_CHROMIUM", "/usr/bin/chromium")
# Flags for a sandboxed machine with no network: no first-run work, no background connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

REQUIRED = os.environ.get("DEEPCLEAN_REQUIRE_BROWSER") == "1"  # set by `make test`: a missing browser fails there
if REQUIRED:
    import playwright.sync_api as playwright
else:
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is installed by `make test`")
if not Path(CHROMIUM).is_file():
    if REQUIRED:
        raise RuntimeError(f"{CHROMIUM} is missing; `make browser` installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} is missing: `make test` installs Debian's chromium", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    port = free_port()
    env = {**os.environ, "DEEPCLEAN_HOME": str(home), "DEEPCLEAN_DATA": str(tmp_path_factory.mktemp("data"))}
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the server did not come up: {(home / 'server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield url, RunStore(home)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def open_page(browser, url: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    return page


HEADINGS = {"Home": "DeepClean Studio"}  # a page's heading where it is not its title


def nav(page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).first.click()  # exact: "Runs" is not "Compare runs"
    page.get_by_role("heading", name=HEADINGS.get(title, title), exact=True).first.wait_for()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def cell_texts(page) -> dict[str, list[str]]:
    """The Results metrics table (an HTML table) as {model: [cells]}."""
    rows = page.locator("[data-testid='stTable'] table tbody tr")
    out = {}
    for i in range(rows.count()):
        cells = [c.strip() for c in rows.nth(i).locator("th, td").all_inner_texts()]
        out[cells[0]] = cells[1:]
    return out


TIMINGS: dict[str, float] = {}
SIZES = ((1400, 900), (1024, 768))
PAGES = ("Home", "Model", "Forget set", "Unlearn", "Results", "Runs")


def record_timings(**seconds: float) -> None:
    TIMINGS.update({k: round(v, 2) for k, v in seconds.items()})
    (ARTIFACTS / "e2e-timings.json").write_text(json.dumps(TIMINGS, indent=2))


def progress_text(page) -> str:
    """The first progress bar's text, or "" when there is none (it may vanish between look and read)."""
    try:
        return page.locator("[data-testid='stProgress']").first.inner_text(timeout=300)
    except playwright.Error:
        return ""


def test_the_demo_button_lands_on_its_results_and_every_page_draws_at_two_sizes(server, browser):
    url, store = server
    page = open_page(browser, url)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.get_by_role("heading", name="DeepClean Studio").first.wait_for()
    page.get_by_text("Four steps").first.wait_for()
    shot(page, "0-home")
    t0 = time.monotonic()
    page.get_by_role("button", name="Run the demo").click()
    first_phase = None
    sentence = re.compile(r"^(Forgot|Did not forget|Forgetting) digit 0")
    while time.monotonic() - t0 < 300:
        text = progress_text(page)
        if first_phase is None and text and "waiting for a worker" not in text:
            first_phase = time.monotonic() - t0
        if page.get_by_text(sentence).count():
            break
        time.sleep(0.1)
    page.get_by_text(sentence).first.wait_for(timeout=1000)
    finished = time.monotonic() - t0
    run = store.list(kind="unlearn", status="done")[0]
    assert run["method"] == "deepclean" and run["config"]["gamma"] == "auto" and run["forget"]["classes"] == [0]
    assert f"run={run['id']}" in page.url  # the URL names the run
    shot(page, "0-demo-results")
    t1 = time.monotonic()
    page.reload()  # a reload (or the link, opened by someone else) keeps the run
    page.get_by_text(sentence).first.wait_for()
    page.get_by_role("heading", name="Metrics").first.wait_for()
    results_load = time.monotonic() - t1
    switches = []
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        for title in PAGES:
            t = time.monotonic()
            nav(page, title)
            switches.append(time.monotonic() - t)
            page.wait_for_timeout(500)  # charts settle
            shot(page, f"page-{title.lower().replace(' ', '-')}-{width}x{height}")
    switches.sort()
    record_timings(launch_to_first_phase=first_phase if first_phase is not None else finished,
                   launch_to_finished=finished, results_load=results_load, page_switch=switches[len(switches) // 2],
                   page_switch_max=switches[-1])


def test_walkthrough_and_live_jobs(server, browser):
    url, store = server
    timings = {}
    page = open_page(browser, url)
    nav(page, "Model")
    page.get_by_text("Test accuracy").first.wait_for()
    page.get_by_text("98.67%").first.wait_for()
    shot(page, "1-model")

    nav(page, "Forget set")
    page.get_by_text("Data to forget").first.wait_for()
    page.get_by_role("button", name="Use this forget set").click()
    page.get_by_text("Active forget set: digit 0").first.wait_for()
    shot(page, "2-forget")

    nav(page, "Unlearn")
    page.get_by_text("Forgetting strength (threshold γ)").first.wait_for()
    page.get_by_text("weights (").first.wait_for()  # the γ-curve's caption
    done_before = {r["id"] for r in store.list(kind="unlearn", status="done")}
    t0 = time.monotonic()
    page.get_by_role("button", name="Launch").click()
    page.get_by_text(re.compile(r"Run \S+ finished")).first.wait_for(timeout=120_000)
    timings["job_seconds_from_click"] = round(time.monotonic() - t0, 2)
    shot(page, "3-unlearn")
    run = [r for r in store.list(kind="unlearn", status="done") if r["id"] not in done_before][0]
    # γ is chosen by the search by default: the record keeps "auto" and the γ it chose.
    assert run["method"] == "deepclean" and run["config"]["gamma"] == "auto"
    assert run["metrics"]["gamma_search"]["chosen"] > 0

    page.get_by_role("button", name="Open its results").click()
    page.get_by_role("heading", name="Metrics").first.wait_for()
    page.locator("[data-testid='stTable']").first.wait_for()
    table = cell_texts(page)
    result = run["metrics"]
    headers = [h.strip() for h in page.locator("[data-testid='stTable'] table thead th").all_inner_texts()][1:]
    for role, name in (("original", "original"), ("unlearned", "DeepClean"), ("gold", "retrained (gold)")):
        m = result["models"][role]
        row = dict(zip(headers, table[name]))
        for col, key in (("accuracy (kept)", "acc_retain"), ("accuracy (forgotten)", "acc_forget"),
                         ("accuracy (unseen)", "acc_test"), ("attacker's success", "mia_forget")):
            assert row[col] == f"{100 * m[key]:.2f}%", (name, col, row[col], m[key])
    page.locator("[data-testid='stVegaLiteChart']").first.wait_for()
    shot(page, "4-results")

    def runs_heading_seconds() -> float:
        t0 = time.monotonic()
        page.get_by_role("link", name="Runs", exact=True).first.click()
        page.get_by_role("heading", name="Runs", exact=True).first.wait_for()
        return round(time.monotonic() - t0, 2)

    nav(page, "Model")
    timings["runs_page_heading_seconds_idle"] = runs_heading_seconds()  # the baseline, no job running

    # a longer job, to watch while it runs
    nav(page, "Unlearn")
    page.get_by_role("combobox").first.click()
    page.get_by_role("option", name=re.compile("^Fine-tune")).click()
    epochs = page.get_by_label("epochs", exact=True)
    epochs.fill("4000")  # long enough to be caught running from another page, then cancelled
    epochs.press("Enter")
    page.get_by_role("button", name="Launch").click()
    deadline = time.monotonic() + 60
    while store.list(kind="unlearn", status="running") == [] and time.monotonic() < deadline:
        time.sleep(0.2)
    running = store.list(kind="unlearn", status="running")
    assert running and running[0]["method"] == "finetune", store.list()
    job = running[0]["id"]

    other = open_page(browser, url)  # a second browser session
    nav(other, "Unlearn")
    other.get_by_text(job).first.wait_for()
    other.get_by_text(re.compile(r"fine-tuning|evaluation|starting|gold")).first.wait_for()
    shot(other, "5-second-session")

    page.reload()  # a reload during the job loses nothing
    nav(page, "Unlearn")
    page.get_by_text(job).first.wait_for()

    timings["runs_page_heading_seconds_during_job"] = runs_heading_seconds()  # another page answers meanwhile
    page.get_by_role("button", name="Cancel run").wait_for()  # shown for the selected (newest) run: the job
    assert store.get(job)["status"] == "running"
    shot(page, "6-runs")

    nav(other, "Unlearn")
    other.get_by_role("button", name="Cancel").first.click()
    deadline = time.monotonic() + 30
    while store.get(job)["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.get(job)["status"] == "cancelled"
    record_timings(**timings)
    print("e2e timings:", TIMINGS)
