"""Load test: N students at once, each a real Chromium page training the live lab's default.

One `streamlit run app.py` server on 127.0.0.1 per N (or --url for one already running), one
Chromium with N browser contexts (N sessions, as N laptops would be). Every session opens the
live lab; once all have loaded they press Train together and wait for the outcome. Reported per
N: sessions that finished, seconds from the click to the first chart with data (median, p95,
from the first round), the server's peak RSS, and its RSS after each round (flat: no growth).

    python benchmarks/load_test.py --sessions 5,15,30 --rounds 3 --cached
    python benchmarks/load_test.py --sessions 3 --rounds 1      # the light form tests run

--cached fills a fresh run cache with `normlab precompute` first, as the Docker image does, so
the default run is replayed from disk; without it the cache starts empty (cold) and the first
sessions train while the others queue (NORMLAB_MAX_TRAININGS, default: the CPU count). Every
wait is bounded and each server is stopped however the run ends.

On one machine the N Chromium renderers compete with the server for the same cores, so the
table also gives "chart sent" (the first chart's websocket frame reaching the browser, before
it is drawn) and the CPU seconds the server and the browsers spent after Train: the server's
seconds divided by N is its cost per student, whatever the browsers cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # every page is a student in front of their screen: no background throttling
                 "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
                 "--disable-backgrounding-occluded-windows"]
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
EXCEPTION = "[data-testid='stException']"

# Runs in each page before Train is pressed: notes when the click happened, when the first
# chart with a line appeared (empty axes have no trace) and the outcome message.
WATCH = """() => {
  const seen = window.__normlab = {click: null, chart: null, outcome: null};
  document.querySelector('.st-key-train button').addEventListener(
    'click', () => { seen.click ??= performance.now(); }, {capture: true});
  const look = () => {
    if (seen.click === null) return;
    if (seen.chart === null &&
        document.querySelector("[data-testid='stPlotlyChart'] .scatterlayer .trace")) {
      seen.chart = performance.now();
    }
    for (const alert of document.querySelectorAll("[data-testid='stAlert']")) {
      if (/Finished \\d+ steps|Diverged at step|Stopped after|cannot train/.test(alert.innerText)) {
        seen.outcome ??= alert.innerText;
      }
    }
  };
  new MutationObserver(look).observe(document.body,
                                     {childList: true, subtree: true, characterData: true});
}"""


# --- the server ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
            return answer.read() == b"ok"
    except OSError:
        return False


@contextlib.contextmanager
def streamlit_server(cache: Path, log: Path, start_timeout: float = 60.0):
    """(url, pid) of `streamlit run app.py` on a free loopback port, stopped on exit."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "NORMLAB_CACHE_DIR": str(cache)},
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while not healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log}")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(wait)


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (from /proc/<pid>/task/*/children)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in task.read_text().split()]
    return tree


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of `pid`'s process tree so far (reaped children included)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int, field: str) -> float:
    """/proc status `field` (VmRSS now, VmHWM the peak) summed over the server's processes."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])  # kB
    return total / 1024


# --- one round: N sessions -----------------------------------------------------------------------

class Delivery:
    """When the server's first chart (a plotly spec) reaches the page after the click, read from
    the websocket: the server's share of the time to first chart, before the browser draws."""

    def __init__(self):
        self.clicked = self.delivered = None

    def listen(self, websocket) -> None:
        def frame(payload) -> None:
            if self.delivered is not None:  # stop shipping every later frame to Python
                websocket.remove_listener("framereceived", frame)
            elif self.clicked is not None:
                data = payload if isinstance(payload, bytes) else payload.encode()
                if b'"scatter"' in data:
                    self.delivered = time.monotonic()

        websocket.on("framereceived", frame)


async def open_live_lab(browser, url: str, timeout_ms: float):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.delivery = Delivery()
    page.on("websocket", page.delivery.listen)
    await page.goto(url + "/live_lab", timeout=timeout_ms)
    await page.wait_for_selector(CONNECTED, timeout=timeout_ms)
    # the button shows once plotly's code has loaded (the empty charts hold the page back)
    await page.wait_for_selector(".st-key-train button", timeout=timeout_ms)
    await page.wait_for_selector(IDLE, timeout=timeout_ms)
    await page.evaluate(WATCH)
    return context, page


async def train(page, timeout_ms: float) -> dict:
    """Press Train; the session's outcome and seconds from the click to its first chart."""
    page.delivery.clicked = time.monotonic()
    await page.locator(".st-key-train button").click(timeout=timeout_ms)
    await page.wait_for_function("() => window.__normlab.outcome !== null", timeout=timeout_ms,
                                 polling=100)
    await page.wait_for_selector(IDLE, timeout=timeout_ms)
    seen = await page.evaluate("() => window.__normlab")
    return {"finished": "Finished" in seen["outcome"],
            "ttfc": None if seen["chart"] is None else (seen["chart"] - seen["click"]) / 1000,
            "delivered": None if page.delivery.delivered is None
            else page.delivery.delivered - page.delivery.clicked,
            "exception": await page.locator(EXCEPTION).count() > 0}


async def one_round(browser, url: str, pid: int, sessions: int, timeout_s: float,
                    cpu: dict) -> list[dict]:
    """N sessions load the live lab, then all press Train at once; one result per session.

    Adds to `cpu` the CPU seconds the server and the browsers spent from the clicks to the
    last outcome: on one machine the N browsers compete with the server for its cores.
    """
    from playwright.async_api import Error as PlaywrightError

    timeout_ms = timeout_s * 1000
    opened = await asyncio.gather(*(open_live_lab(browser, url, timeout_ms)
                                    for _ in range(sessions)), return_exceptions=True)
    results = []
    try:
        ready = [item for item in opened if not isinstance(item, BaseException)]
        before = cpu_seconds(pid), cpu_seconds(os.getpid()), time.monotonic()
        trained = await asyncio.gather(*(train(page, timeout_ms) for _, page in ready),
                                       return_exceptions=True)
        cpu["server_s"] = cpu.get("server_s", 0) + cpu_seconds(pid) - before[0]
        cpu["browsers_s"] = cpu.get("browsers_s", 0) + cpu_seconds(os.getpid()) - before[1]
        cpu["wall_s"] = cpu.get("wall_s", 0) + time.monotonic() - before[2]
        for item in list(trained) + [item for item in opened if isinstance(item, BaseException)]:
            if isinstance(item, (PlaywrightError, asyncio.TimeoutError)):
                results.append({"finished": False, "ttfc": None, "exception": False,
                                "error": str(item).splitlines()[0][:200]})
            elif isinstance(item, BaseException):
                raise item
            else:
                results.append(item)
    finally:
        for item in opened:
            if not isinstance(item, BaseException):
                with contextlib.suppress(PlaywrightError):
                    await item[0].close()
    return results


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile, nearest rank (p95 of 5 values is the largest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * q // 100) - 1))]


async def measure(browser, url: str, pid: int, sessions: int, rounds: int,
                  timeout_s: float, settle_s: float) -> dict:
    """Every round of N sessions against one server, and what the server's memory did."""
    peak, done = memory_mib(pid, "VmRSS"), asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, memory_mib(pid, "VmRSS"))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    all_results, first_round, rss_after, cpu = [], [], [], {}
    try:
        for number in range(rounds):
            results = await asyncio.wait_for(
                one_round(browser, url, pid, sessions, timeout_s, cpu),
                timeout=3 * timeout_s + 60)
            all_results += results
            first_round = first_round or results
            await asyncio.sleep(settle_s)  # closed tabs' sessions wind down
            rss_after.append(round(memory_mib(pid, "VmRSS")))
            print(f"  round {number + 1}: {sum(r['finished'] for r in results)}/{sessions} "
                  f"finished, server RSS {rss_after[-1]} MiB", file=sys.stderr, flush=True)
    finally:
        done.set()
        await sampler
    ttfc = [r["ttfc"] for r in first_round if r["ttfc"] is not None]
    delivered = [r["delivered"] for r in first_round if r.get("delivered") is not None]
    return {
        "sessions": sessions, "rounds": rounds,
        "finished": sum(r["finished"] for r in first_round),
        "finished_all_rounds": sum(r["finished"] for r in all_results),
        "exceptions": sum(r["exception"] for r in all_results),
        "errors": [r["error"] for r in all_results if r.get("error")][:5],
        "ttfc_median_s": statistics.median(ttfc) if ttfc else None,
        "ttfc_p95_s": percentile(ttfc, 95),
        "ttfc_max_s": max(ttfc) if ttfc else None,
        "delivered_median_s": statistics.median(delivered) if delivered else None,
        "delivered_p95_s": percentile(delivered, 95),
        "peak_rss_mib": round(max(peak, memory_mib(pid, "VmHWM"))),
        "rss_after_rounds_mib": rss_after,
        # from the clicks to the last outcome, all rounds: how the cores were shared
        "train_phase_wall_s": round(cpu.get("wall_s", 0), 1),
        "server_cpu_s": round(cpu.get("server_s", 0), 1),
        "browsers_cpu_s": round(cpu.get("browsers_s", 0), 1),
    }


async def warm(browser, url: str, timeout_s: float) -> float:
    """Open the home page once: the first visit imports torch and loads the data."""
    start = time.monotonic()
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(url + "/", timeout=timeout_s * 1000)
        await page.wait_for_selector(CONNECTED, timeout=timeout_s * 1000)
        await page.wait_for_timeout(150)
        await page.wait_for_selector(IDLE, timeout=timeout_s * 1000)
    finally:
        await context.close()
    return time.monotonic() - start


# --- the command ---------------------------------------------------------------------------------

def chromium() -> str:
    path = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else \
        shutil.which("chromium")
    if path is None:
        sys.exit("no Chromium at /usr/bin/chromium or on PATH (apt-get install chromium)")
    return path


async def main_async(args: argparse.Namespace, work: Path) -> list[dict]:
    from playwright.async_api import async_playwright

    cached = work / "precomputed"
    if args.cached and not args.url:
        print("precomputing the cache (normlab precompute)...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "normlab", "precompute", "--out", str(cached)],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL, timeout=600)
    rows = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            for sessions in args.sessions:
                print(f"{sessions} sessions, {args.rounds} round(s), "
                      f"{'cached' if args.cached else 'cold'}", file=sys.stderr, flush=True)
                with contextlib.ExitStack() as stack:
                    if args.url:
                        url, pid = args.url, args.server_pid
                    else:
                        cache = work / f"cache-{sessions}"
                        if args.cached:
                            shutil.copytree(cached, cache)
                        url, pid = stack.enter_context(
                            streamlit_server(cache, work / f"server-{sessions}.log"))
                    warm_s = await warm(browser, url, args.timeout)
                    row = await measure(browser, url, pid, sessions, args.rounds, args.timeout,
                                        args.settle)
                rows.append({"mode": "cached" if args.cached else "cold",
                             "warm_up_s": round(warm_s, 1), **row})
        finally:
            await browser.close()
    return rows


def table(rows: list[dict]) -> str:
    def seconds(value):
        return "-" if value is None else f"{value:.2f} s"

    lines = ["| mode | N | finished | TTFC median | TTFC p95 | chart sent, median / p95 "
             "| peak RSS | RSS after rounds | CPU s after Train: server / browsers / wall |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['mode']} | {row['sessions']} | {row['finished']}/{row['sessions']} "
            f"({row['finished_all_rounds']}/{row['sessions'] * row['rounds']} over "
            f"{row['rounds']} rounds) | {seconds(row['ttfc_median_s'])} | "
            f"{seconds(row['ttfc_p95_s'])} | {seconds(row['delivered_median_s'])} / "
            f"{seconds(row['delivered_p95_s'])} | {row['peak_rss_mib']} MiB | "
            f"{', '.join(str(r) for r in row['rss_after_rounds_mib'])} MiB | "
            f"{row['server_cpu_s']} / {row['browsers_cpu_s']} / {row['train_phase_wall_s']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="5,15,30",
                        type=lambda text: [int(n) for n in text.split(",")],
                        help="comma list of concurrent session counts (default 5,15,30)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds per N, to see whether the server's memory keeps growing")
    parser.add_argument("--cached", action="store_true",
                        help="precompute the app's first runs into the cache first")
    parser.add_argument("--url", help="use this running server (loopback) instead of starting one")
    parser.add_argument("--server-pid", type=int, help="its process id, for RSS (with --url)")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds any one wait may take (default 180)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds after a round before measuring RSS (default 3)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the rows here too")
    args = parser.parse_args(argv)
    if args.url and not args.url.startswith(("http://127.0.0.1", "http://localhost")):
        parser.error("--url must be a loopback address")
    if args.url and args.server_pid is None:
        parser.error("--url needs --server-pid")
    with tempfile.TemporaryDirectory(prefix="normlab-load-") as work:
        rows = asyncio.run(main_async(args, Path(work)))
    print(table(rows))
    for row in rows:
        for error in row["errors"]:
            print(f"N={row['sessions']}: {error}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    return 0 if all(r["finished_all_rounds"] == r["sessions"] * r["rounds"] and not r["exceptions"]
                    for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
