"""Load and fault test of the dashboard in real browsers (issue 19), on loopback only.

N browser sessions (Chromium through Playwright) each choose a different class and launch DeepClean at
once; a γ sweep is queued behind them from another session and runs while 3 sessions switch pages; one
worker is killed with `kill -9` mid-sweep, then the server, which is started again on the same port and
store. Reported: per session, launch → "finished" in its browser and the lag behind the store; page switch
p50/p95 idle and under the sweep; server RSS before/peak/after and its CPU once every job has ended; the
store's counts (done, failed and interrupted with their reasons, lost, duplicated, stuck).

    .venv/bin/python bench/load.py                      # 8 sessions, a 20-value sweep; ~5-8 min on 2 cores
    .venv/bin/python bench/load.py --sessions 2 --sweep 3 --no-write   # a short run (tests/test_load.py)

Writes its section of bench/RESULTS.md (unless --no-write). Bounded: every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("DEEPCLEAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
PAGES = ["Model", "Forget set", "Unlearn", "Results", "Runs"]
SWEEP_CLASS = 0  # the sweep's forget set; session k forgets class k + 1, so no two launches share a key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_tree() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, command name) of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    text = f.read()
                name = text[text.index("(") + 1:text.rindex(")")]
                out[int(entry)] = (int(text.rsplit(")", 1)[1].split()[1]), name)
            except (OSError, ValueError):
                pass
    return out


class CpuMeter:
    """CPU seconds used by the server, its job workers, the Chromium we drive, and the whole machine, sampled
    every second (processes that end between samples lose their last second)."""

    def __init__(self, server: "Server") -> None:
        self.server, self.marks, self.health = server, [], []
        self._seen: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _classify(self, tree) -> dict[str, list[int]]:
        def under(pid: int, root: int) -> bool:
            while pid > 1:
                if pid == root:
                    return True
                pid = tree.get(pid, (0, ""))[0]
            return False

        server = self.server.proc.pid if self.server.proc else -1
        me = os.getpid()
        groups = {"server": [server], "workers": [], "chromium": []}
        for pid, (_, name) in tree.items():
            if pid != server and under(pid, server):
                groups["workers"].append(pid)
            elif under(pid, me) and pid != me and ("chrom" in name or "headless" in name or name == "node"):
                groups["chromium"].append(pid)
        return groups

    def _run(self) -> None:
        while not self._stop.is_set():
            groups = self._classify(process_tree())
            for group, pids in groups.items():
                for pid in pids:
                    self._seen[(group, pid)] = cpu_seconds(pid)  # cumulative per process, kept after it ends
            totals = {g: sum(v for (gg, _), v in self._seen.items() if gg == g) for g in groups}
            t0 = time.monotonic()  # how long the server's event loop takes to answer, meanwhile
            try:
                urllib.request.urlopen(f"{self.server.url}/_stcore/health", timeout=30).read()
                self.health.append((t0, time.monotonic() - t0))
            except OSError:
                pass  # restarting
            self.marks.append((time.monotonic(), machine_busy_s(), totals))
            self._stop.wait(1.0)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def share(self, t0: float, t1: float) -> dict[str, float]:
        """Percent of the machine's cores each group used between t0 and t1 (and the rest of the machine)."""
        inside = [m for m in self.marks if t0 <= m[0] <= t1]
        if len(inside) < 2:
            return {}
        (a_t, a_busy, a), (b_t, b_busy, b) = inside[0], inside[-1]
        cores, wall = os.cpu_count() or 1, b_t - a_t
        out = {g: round(100 * (b[g] - a[g]) / (wall * cores), 1) for g in a}
        out["other work on the machine"] = round(100 * (b_busy - a_busy) / (wall * cores) - sum(out.values()), 1)
        return out


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))]


class Server:
    """`streamlit run app.py` on loopback; its RSS is sampled from start to stop (across restarts)."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port, self.url = home, port, f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def start(self, timeout: float = 120) -> float:
        env = {**os.environ, "DEEPCLEAN_HOME": str(self.home)}
        env.pop("DEEPCLEAN_PASSWORD", None)
        env.pop("DEEPCLEAN_PASSWORD_FILE", None)
        log = open(self.home / "server.log", "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port",
                                      str(self.port), "--server.address", "127.0.0.1"],
                                     cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        while True:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() - t0 > timeout:
                raise RuntimeError(f"server did not start: {(self.home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        if not self._sampler.is_alive():
            self._sampler.start()
        return time.monotonic() - t0

    def _sample(self) -> None:
        while not self._stop.is_set():
            if self.proc is not None and self.proc.poll() is None:
                self.samples.append((time.monotonic(), rss_mib(self.proc.pid)))
            self._stop.wait(0.5)

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def open_session(browser, url: str, cls: int):
    """A browser session with class `cls` as its forget set, on the Unlearn page."""
    page = await (await browser.new_context(viewport={"width": 1400, "height": 1000})).new_page()
    page.set_default_timeout(180_000)
    await page.goto(f"{url}/forget")
    await page.get_by_text("Data to forget").first.wait_for()
    if cls != 0:  # the page preselects class 0: clear it, pick `cls` from the list
        await page.get_by_role("button", name="Clear all").click()
        await page.get_by_text("Choose at least one class").first.wait_for()
        box = page.get_by_role("combobox", name="Classes to forget")
        await box.click()
        await box.fill(str(cls))
        await page.get_by_role("option", name=str(cls), exact=True).click()
        await page.keyboard.press("Escape")
        await page.get_by_text(f"digit {cls}").first.wait_for()
    await page.get_by_role("button", name="Use this forget set").click()
    await page.get_by_text(f"Active forget set: digit {cls}").first.wait_for()
    await switch(page, "Unlearn")
    await page.get_by_text("weights (").first.wait_for()  # the γ-curve's caption: the page is complete
    return page


async def switch(page, title: str) -> float:
    """Click a page in the navigation; seconds until its heading shows."""
    t0 = time.monotonic()
    await page.get_by_role("link", name=title, exact=True).first.click()  # exact: "Runs" is not "Compare runs"
    await page.get_by_role("heading", name=title, exact=True).first.wait_for()
    return time.monotonic() - t0


async def switch_loop(page, stop: asyncio.Event, out: list[tuple], start: int = 0) -> None:
    """Switch pages until `stop`, recording (page, started, seconds) per switch (monotonic clock)."""
    k = start
    while not stop.is_set():
        k += 1
        title, t0 = PAGES[k % len(PAGES)], time.monotonic()
        try:
            out.append((title, t0, await switch(page, title)))
        except Exception:  # noqa: BLE001 - a switch that fails (server restarting) is not a latency sample
            out.append((title, t0, None))
            await asyncio.sleep(1.0)
        await asyncio.sleep(0.3)


def session_runs(store, cls: int) -> list[dict]:
    return [r for r in store.list(kind="unlearn") if (r["forget"] or {}) == {"kind": "classes", "classes": [cls]}]


async def wait_store(cond, timeout: float, what: str, poll: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(poll)


async def scenario(sessions: int, sweep: int, switchers: int, kill: bool, timeout: float) -> dict:
    from playwright.async_api import async_playwright

    from core.store import RunStore

    assert 1 <= sessions <= 9, "session k forgets class k + 1 of digits' 10 classes"
    home = Path(tempfile.mkdtemp(prefix="deepclean-load-"))
    server = Server(home, free_port())
    out: dict = {"sessions": sessions, "sweep": sweep, "switchers": switchers, "kill": kill}
    out["server_start_s"] = round(server.start(), 2)
    store = RunStore(home)
    rss_before = rss_mib(server.proc.pid)
    load_before = os.getloadavg()
    t_begin = time.monotonic()
    meter = CpuMeter(server)
    meter.start()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            pages = await asyncio.gather(*(open_session(browser, server.url, k + 1) for k in range(sessions)))
            sweeper = await open_session(browser, server.url, SWEEP_CLASS)

            idle = []  # page switches with every session open and nothing running
            for k in range(10):
                idle.append(await switch(pages[0], PAGES[(k + 1) % len(PAGES)]))
            await switch(pages[0], "Unlearn")
            await pages[0].get_by_text("weights (").first.wait_for()

            # every session launches at once
            retries = []

            async def launch(k, page):
                """Click Launch; a click that a busy page dropped (no run queued within 20 s) is made again, as
                a person would, and counted."""
                t = time.time()
                for attempt in range(3):
                    await page.get_by_role("button", name="Launch", exact=True).click()
                    for _ in range(80):
                        if session_runs(store, k + 1):
                            return t
                        await asyncio.sleep(0.25)
                    retries.append(k + 1)
                return t

            clicked = await asyncio.gather(*(launch(k, pg) for k, pg in enumerate(pages)))
            out["launch_clicks_repeated"] = retries
            ids = await wait_store(lambda: [r[0]["id"] if (r := session_runs(store, k + 1)) else None
                                            for k in range(sessions)] if all(
                session_runs(store, k + 1) for k in range(sessions)) else None, 60, "every launch to be queued")

            # each browser shows its own run finished (watched from now on); the first `switchers` then switch pages
            stop, under_load = asyncio.Event(), []

            async def watch(k: int, page, run_id: str):
                await page.get_by_text(f"Run {run_id} finished").first.wait_for(timeout=timeout * 1000)
                seen = time.time()
                if k < switchers:
                    asyncio.ensure_future(switch_loop(page, stop, under_load, start=k))
                return seen

            t_launched = time.monotonic()
            watchers = [asyncio.ensure_future(watch(k, pg, rid)) for k, (pg, rid) in enumerate(zip(pages, ids))]
            # the sweep, queued behind them from another session
            values = [round(0.5 + 0.1 * i, 2) for i in range(sweep)]
            await sweeper.get_by_text(re.compile("^Sweep ")).first.click()
            box = sweeper.get_by_label("Values", exact=True)
            await box.fill(",".join(f"{v:g}" for v in values))
            await box.press("Enter")
            await sweeper.get_by_role("button", name="Launch sweep").click()
            sweep_ids = await wait_store(lambda: [r["id"] for r in session_runs(store, SWEEP_CLASS)]
                                         if len(session_runs(store, SWEEP_CLASS)) == sweep else None, 60, "the sweep")

            seen = await asyncio.gather(*watchers, return_exceptions=True)
            t_sessions_done = time.monotonic()

            # faults, mid-sweep: a worker, then the server (started again on the same port and store)
            def done_in_sweep():
                return sum(store.get(r)["status"] == "done" for r in sweep_ids)

            if kill:
                def running_sweep_job():
                    return next((rec for r in sweep_ids if (rec := store.get(r))["status"] == "running"
                                 and rec["phase"] not in (None, "starting")), None)

                def sweep_over():
                    return all(store.get(r)["status"] not in ("queued", "running") for r in sweep_ids)

                await wait_store(lambda: (done_in_sweep() >= max(1, sweep // 4) and running_sweep_job()) or sweep_over(),
                                 timeout, "a running sweep job to kill", poll=0.1)
                victim = running_sweep_job()
                out["killed_worker_run"] = victim["id"] if victim else None
                if victim:
                    os.kill(victim["worker_pid"], signal.SIGKILL)
                    await wait_store(lambda: store.get(victim["id"])["status"] == "failed", 30, "the killed job to fail")
                await wait_store(lambda: done_in_sweep() >= max(1, sweep // 2) or
                                 all(store.get(r)["status"] not in ("queued", "running") for r in sweep_ids),
                                 timeout, "half the sweep")
                live = [r for r in sweep_ids if store.get(r)["status"] in ("queued", "running")]
                out["live_at_server_kill"] = len(live)
                restart = [time.monotonic()]
                server.kill9()
                out["server_restart_s"] = round(server.start(), 2)
                restart.append(time.monotonic())

            await wait_store(lambda: not store.list(status="queued") and not store.list(status="running"),
                             timeout, "every run to end")
            t_end_jobs = time.monotonic()
            stop.set()
            await asyncio.sleep(1.0)

            # the server once every job has ended, every browser still open: it should be idle (measured from
            # 10 s on, after the pages' last reruns)
            pid = server.proc.pid
            await asyncio.sleep(10)
            c0, w0 = cpu_seconds(pid), time.monotonic()
            await asyncio.sleep(20)
            out["server_cpu_after_jobs_pct"] = round(100 * (cpu_seconds(pid) - c0) / (time.monotonic() - w0), 1)
            await browser.close()
    finally:
        meter.stop()
        rss_after = rss_mib(server.proc.pid) if server.proc and server.proc.poll() is None else None
        server.stop()
    out["cpu_pct_while_sessions_ran"] = meter.share(t_launched, t_sessions_done)
    out["cpu_pct_during_sweep"] = meter.share(t_sessions_done, t_end_jobs)
    health = [h for t, h in meter.health if t_launched <= t <= t_end_jobs]
    out["health_s"] = {"n": len(health), "p50": percentile(health, 50), "p95": percentile(health, 95),
                       "max": max(health, default=None)}

    # per session: launch → finished in its browser, and the lag behind the store
    per = []
    for k, (rid, t_click, t_seen) in enumerate(zip(ids, clicked, seen)):
        rec = store.get(rid)
        row = {"session": k, "class": k + 1, "run": rid, "status": rec["status"],
               "store_finished_s": round(rec["finished_at"] - t_click, 1) if rec["finished_at"] else None}
        if isinstance(t_seen, float):
            row["browser_finished_s"] = round(t_seen - t_click, 1)
            row["lag_s"] = round(t_seen - rec["finished_at"], 1) if rec["finished_at"] else None
        else:
            row["browser_finished_s"], row["lag_s"] = None, None
            row["browser_error"] = f"{type(t_seen).__name__}: {str(t_seen)[:200]}"
        per.append(row)
    out["per_session"] = per
    out["switch_idle_s"] = {"n": len(idle), "p50": percentile(idle, 50), "p95": percentile(idle, 95)}
    # switches that overlap the server's kill and restart (plus 10 s to reconnect) are counted apart
    if kill:
        window = (restart[0], restart[1] + 10)
        overlaps = lambda t0, d: t0 < window[1] and t0 + (d or 0) > window[0]  # noqa: E731
    else:
        overlaps = lambda t0, d: False  # noqa: E731
    loaded = [d for _, t0, d in under_load if d is not None and not overlaps(t0, d)]
    out["switch_under_load_s"] = {"n": len(loaded), "p50": percentile(loaded, 50), "p95": percentile(loaded, 95),
                                  "max": max(loaded, default=None),
                                  "slowest": sorted(((round(d, 2), t) for t, t0, d in under_load
                                                     if d is not None and not overlaps(t0, d)), reverse=True)[:3],
                                  "across_restart": [round(d, 2) if d is not None else None
                                                     for _, t0, d in under_load if overlaps(t0, d)],
                                  "failed": sum(d is None for _, t0, d in under_load if not overlaps(t0, d))}
    peak = max((r for _, r in server.samples), default=0.0)
    out["server_rss_mib"] = {"before": round(rss_before), "peak": round(peak),
                             "after": round(rss_after) if rss_after else None}
    out["jobs_wall_s"] = round(t_end_jobs - t_begin, 1)
    out["load_avg_before"] = [round(x, 2) for x in load_before]
    out["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    out["store"] = store_counts(store, ids, sweep_ids)
    return out


def store_counts(store, ids: list[str], sweep_ids: list[str]) -> dict:
    """What the store holds at the end: lost = a launch with no record, duplicated = a forget set and γ
    with two records (or two finished gold models for one key), stuck = still queued or running."""
    runs = store.list(limit=100_000)
    unlearn = [r for r in runs if r["kind"] == "unlearn"]
    keys = [(json.dumps(r["forget"], sort_keys=True), r["config"].get("gamma")) for r in unlearn]
    gold_done = [r["cache_key"] for r in runs if r["kind"] == "gold" and r["status"] == "done"]
    have = {r["id"] for r in runs}
    by = lambda s: [r for r in runs if r["status"] == s]  # noqa: E731
    return {
        "runs": len(runs), "unlearn": len(unlearn), "gold": sum(r["kind"] == "gold" for r in runs),
        "done": len(by("done")),
        "failed": len(by("failed")), "failed_without_reason": sum(not r["error"] for r in by("failed")),
        "interrupted": len(by("interrupted")),
        "interrupted_without_reason": sum(not r["error"] for r in by("interrupted")),
        "cancelled": len(by("cancelled")),
        "lost": sum(i not in have for i in [*ids, *sweep_ids]),
        "duplicated": (len(keys) - len(set(keys))) + (len(gold_done) - len(set(gold_done))),
        "stuck": len(by("queued")) + len(by("running")),
        "reasons": sorted({re.sub(r"/\S+|\b\d{8}-\d{6}-\w+\b", "…", r["error"])[:110]
                           for r in runs if r["status"] in ("failed", "interrupted")}),
    }


def markdown(r: dict) -> str:
    per = r["per_session"]
    lags = [s["lag_s"] for s in per if s["lag_s"] is not None]
    shown = sum(s["browser_finished_s"] is not None for s in per)
    st = r["store"]
    lines = [
        "## Load and faults in real browsers (`bench/load.py`)",
        "",
        f"{r['sessions']} Chromium sessions (Playwright, loopback) each launch DeepClean on their own class at once; "
        f"a {r['sweep']}-value γ sweep is queued behind them from another session and runs while {r['switchers']} "
        f"sessions switch pages; {'a worker and then the server are killed with kill -9 mid-sweep and the server is started again' if r['kill'] else 'no faults'}. "
        f"One local worker, `make run` settings. Load average before/after: {r['load_avg_before']} / "
        f"{r['load_avg_after']} (2 cores shared with other work).",
        "",
        "| session | class | launch → store done (s) | launch → browser shows it (s) | lag (s) |",
        "|---|---|---|---|---|",
        *[f"| {s['session']} | {s['class']} | {s['store_finished_s']} | {s['browser_finished_s']} | {s['lag_s']} |" for s in per],
        "",
        f"- Browsers showing their own finished run: {shown} of {len(per)}; lag behind the store: max "
        f"{max(lags) if lags else '–'} s, median {statistics.median(lags) if lags else '–'} s (goal ≤ 60 s).",
        f"- Launch clicks a busy page dropped (no run queued within 20 s, clicked again as a person would): "
        f"{len(r.get('launch_clicks_repeated', []))} of {len(per)}"
        + (f" (classes {', '.join(map(str, r['launch_clicks_repeated']))}; their times above include the wait)."
           if r.get("launch_clicks_repeated") else "."),
        f"- Page switch (click → heading), idle: p50 {fmt(r['switch_idle_s']['p50'])} s, p95 "
        f"{fmt(r['switch_idle_s']['p95'])} s (n {r['switch_idle_s']['n']}); under the sweep: p50 "
        f"{fmt(r['switch_under_load_s']['p50'])} s, p95 {fmt(r['switch_under_load_s']['p95'])} s "
        f"(n {r['switch_under_load_s']['n']}, slowest {r['switch_under_load_s']['slowest']}; goal p95 ≤ 2 s)"
        + (f"; switches across the server restart, counted apart: {r['switch_under_load_s']['across_restart']} s"
           if r["kill"] else "") + ".",
        f"- Server RSS: before {r['server_rss_mib']['before']} MiB, peak {r['server_rss_mib']['peak']} MiB, after "
        f"{r['server_rss_mib']['after']} MiB. Server CPU over 20 s from 10 s after every job had ended, all browsers open: "
        f"{r['server_cpu_after_jobs_pct']}%.",
        f"- The server's `/_stcore/health` while jobs ran (its event loop's answer time): p50 "
        f"{fmt(r['health_s']['p50'])} s, p95 {fmt(r['health_s']['p95'])} s, max {fmt(r['health_s']['max'])} s.",
        f"- CPU, percent of the machine's {os.cpu_count()} cores, while the {r['sessions']} launched runs went through: "
        f"{r['cpu_pct_while_sessions_ran']}; during the sweep: {r['cpu_pct_during_sweep']}.",
        f"- Server start {r['server_start_s']} s" + (f", restart after kill -9 {r['server_restart_s']} s "
                                                      f"({r['live_at_server_kill']} sweep jobs live at the kill)"
                                                      if r.get("server_restart_s") else "") +
        f"; every job ended {r['jobs_wall_s']} s after the first page opened.",
        f"- Store: {st['runs']} runs ({st['unlearn']} unlearn, {st['gold']} gold): {st['done']} done, "
        f"{st['failed']} failed ({st['failed_without_reason']} without a reason), {st['interrupted']} interrupted "
        f"({st['interrupted_without_reason']} without a reason), {st['cancelled']} cancelled; "
        f"**{st['lost']} lost, {st['duplicated']} duplicated, {st['stuck']} stuck**.",
        *[f"  - reason: {reason}" for reason in st["reasons"]],
    ]
    return "\n".join(lines)


def fmt(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--sweep", type=int, default=20)
    ap.add_argument("--switchers", type=int, default=3)
    ap.add_argument("--no-kill", action="store_true", help="no kill -9 of a worker and the server")
    ap.add_argument("--timeout", type=float, default=900, help="seconds any one wait may take")
    ap.add_argument("--json", help="write the figures as JSON here")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    args = ap.parse_args(argv)
    result = asyncio.run(scenario(args.sessions, args.sweep, args.switchers, not args.no_kill, args.timeout))
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if not args.no_write:
        from common import write_section

        write_section("load", markdown(result))
    return result


if __name__ == "__main__":
    main()
