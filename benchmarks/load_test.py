"""Load test: N students at once, each opening the live lab and training its default.

One `streamlit run app.py` server on 127.0.0.1 per N (or --url for one already running) and N
sessions, each as a student's tab would be. Every session opens the live lab; once all have
loaded they press Train together and wait for the outcome. Reported per N: sessions that
finished, seconds from the click to the first chart with data (median and p95 over every
session of every round), the server's peak RSS, and its RSS after each round (flat: no
growth). With --against NAME=VALUE a second server runs with that Streamlit option, the two
take turns round by round, and the ratios between them are printed.

    python benchmarks/load_test.py --sessions 5,15,30 --rounds 3 --cached
    python benchmarks/load_test.py --sessions 5,15,30 --rounds 3 --cached --client chromium
    python benchmarks/load_test.py --sessions 30 --cached --against runner.postScriptGC=true
    python benchmarks/load_test.py --sessions 3 --rounds 1      # the light form tests run

Two kinds of session (--client):
- ws (default): Streamlit's own websocket protocol, as the browser's client speaks it (a
  BackMsg asking for a run, with the Train button's trigger; ForwardMsgs back). The server does
  exactly the work a tab makes it do; "first chart" is when the first chart with data reaches
  the student's machine. Drawing it is the student's laptop's work, and costs no server time.
- chromium: one headless Chromium with N browser contexts, as N laptops would be, timed to the
  chart drawn on screen. On one machine the N renderers compete with the server for the same
  cores, so this mode also reports "chart sent" (the first chart's websocket frame reaching
  the browser, before it is drawn) and the CPU seconds the server and the browsers spent.

--cached fills a fresh run cache with `normlab precompute` first, as the Docker image does, so
the default run is replayed from disk; without it the cache starts empty (cold) and the first
sessions train while the others queue (NORMLAB_MAX_TRAININGS, default: the CPU count).
--own-runs gives every session its own seed, so that all of them train and none replays: the
most a class can ask of the server. Every wait is bounded and each server is stopped however
the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from e2e_helpers import CHROMIUM_ARGS as TEST_CHROMIUM_ARGS  # noqa: E402
from e2e_helpers import (  # noqa: E402
    CONNECTED,
    EXCEPTION,
    IDLE,
    WsSession,
    has_data,
    streamlit_server,
)

CHROMIUM_ARGS = TEST_CHROMIUM_ARGS + [
    # every page is a student in front of their screen: no background throttling
    "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows"]
OUTCOME = r"Finished \d+ steps|Diverged at step|Stopped after|cannot train"

# Runs in each page before Train is pressed: notes when the click happened, when the first
# chart with a line appeared (empty axes have no trace) and the outcome message.
WATCH = """() => {
  const seen = window.__normlab = {click: null, chart: null, outcome: null};
  document.querySelectorAll('.st-key-train button').forEach((button) => button.addEventListener(
    'click', () => { seen.click ??= performance.now(); }, {capture: true}));
  const look = () => {
    if (seen.click === null) return;
    const frame = document.querySelector("iframe[title='appkit.live_chart.normlab_live_chart']");
    const inFrame = frame && frame.contentDocument &&
      [...frame.contentDocument.querySelectorAll(".scatterlayer path.js-line")].some(
        (line) => (line.getAttribute("d") || "").length > 10);
    if (seen.chart === null && (inFrame ||
        document.querySelector("[data-testid='stPlotlyChart'] .scatterlayer .trace"))) {
      seen.chart = performance.now();
    }
    for (const alert of document.querySelectorAll("[data-testid='stAlert']")) {
      if (/OUTCOME/.test(alert.innerText)) {
        seen.outcome ??= alert.innerText;
      }
    }
  };
  new MutationObserver(look).observe(document.body,
                                     {childList: true, subtree: true, characterData: true});
  setInterval(look, 50);  // the live lab's charts change inside an iframe the observer misses
}""".replace("OUTCOME", OUTCOME)


# --- what the server spends --------------------------------------------------------------------

def process_tree(pid: int, leave_out: int | None = None) -> list[int]:
    """`pid` and its descendants (from /proc/<pid>/task/*/children), without the subtree of
    `leave_out` (the server, when this process started it)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current == leave_out:
            continue
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in task.read_text().split()]
    return tree


def cpu_seconds(pid: int, leave_out: int | None = None) -> float:
    """User and system CPU time of `pid`'s process tree so far (reaped children included)."""
    total = 0
    for member in process_tree(pid, leave_out):
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


# --- the two kinds of session ------------------------------------------------------------------

class WsStudent:
    """One student's tab as the server sees it (the websocket protocol), timed to the first
    chart with data reaching their machine."""

    def __init__(self, url: str, query: str = ""):
        self.session = WsSession(url, page="live_lab")
        self.session.query = query  # the link the student followed

    async def open(self, timeout_s: float) -> WsStudent:
        await self.session.open(timeout_s)
        if "train" not in self.session.buttons:
            raise RuntimeError(f"the live lab drew no Train button: {self.session.problems}")
        return self

    async def train(self, timeout_s: float) -> dict:
        seen = {"chart": None, "outcome": None}

        def look(element) -> None:
            kind = element.WhichOneof("type")
            if seen["chart"] is None and has_data(element):
                seen["chart"] = time.monotonic() - clicked
            elif kind == "alert" and seen["outcome"] is None and \
                    re.search(OUTCOME, element.alert.body):
                seen["outcome"] = element.alert.body

        clicked = time.monotonic()
        await self.session.press("train", timeout_s, look)
        # The run trains on the server's scheduler and the page redraws it in a run_every
        # fragment, which a browser ticks; this client reruns the page instead, as often.
        while seen["outcome"] is None and time.monotonic() - clicked < timeout_s:
            await asyncio.sleep(0.3)
            await self.session.run(timeout_s, look=look)
        return {"finished": "Finished" in (seen["outcome"] or ""),
                "ttfc": seen["chart"], "delivered": seen["chart"],
                "exception": bool(self.session.problems)}

    async def close(self) -> None:
        await self.session.close()


class ChromiumSession:
    """One student's tab in headless Chromium, timed to the chart drawn on screen."""

    def __init__(self, browser, url: str, query: str = "", page: str = "live_lab"):
        self.browser, self.url, self.page = browser, url, page + (f"?{query}" if query else "")
        self.context = self.tab = None
        self.clicked = self.delivered = None

    async def open(self, timeout_s: float) -> ChromiumSession:
        timeout_ms = timeout_s * 1000
        self.context = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        self.tab = await self.context.new_page()
        self.tab.on("websocket", self._listen)
        await self.tab.goto(f"{self.url}/{self.page}", timeout=timeout_ms)
        await self.tab.wait_for_selector(CONNECTED, timeout=timeout_ms)
        # the button shows once plotly's code has loaded (the empty charts hold the page back)
        await self.tab.wait_for_selector(".st-key-train button:visible", timeout=timeout_ms)
        await self.tab.wait_for_selector(IDLE, timeout=timeout_ms)
        await self.tab.evaluate(WATCH)
        return self

    async def train(self, timeout_s: float) -> dict:
        timeout_ms = timeout_s * 1000
        self.clicked = time.monotonic()
        await self.tab.locator(".st-key-train button:visible").first.click(timeout=timeout_ms)
        await self.tab.wait_for_function("() => window.__normlab.outcome !== null",
                                         timeout=timeout_ms, polling=100)
        await self.tab.wait_for_selector(IDLE, timeout=timeout_ms)
        seen = await self.tab.evaluate("() => window.__normlab")
        return {"finished": "Finished" in seen["outcome"],
                "ttfc": None if seen["chart"] is None else (seen["chart"] - seen["click"]) / 1000,
                "delivered": None if self.delivered is None else self.delivered - self.clicked,
                "exception": await self.tab.locator(EXCEPTION).count() > 0}

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()

    def _listen(self, websocket) -> None:
        """When the server's first chart (a plotly spec) reaches the page after the click:
        the server's share of the time to first chart, before the browser draws it."""
        def frame(payload) -> None:
            if self.delivered is not None:  # stop shipping every later frame to Python
                websocket.remove_listener("framereceived", frame)
            elif self.clicked is not None:
                data = payload if isinstance(payload, bytes) else payload.encode()
                if b'"scatter"' in data:
                    self.delivered = time.monotonic()

        websocket.on("framereceived", frame)


# --- one round: N sessions -----------------------------------------------------------------------

def failure(error: BaseException) -> dict:
    return {"finished": False, "ttfc": None, "delivered": None, "exception": False,
            "error": f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"}


async def one_round(new_session, pid: int, sessions: int, timeout_s: float,
                    cpu: dict) -> list[dict]:
    """N sessions load the live lab, then all press Train at once; one result per session.

    Adds to `cpu` the CPU seconds the server and this process (the clients) spent from the
    clicks to the last outcome.
    """
    async def timed_open():
        start = time.monotonic()
        session = await new_session().open(timeout_s)
        session.open_s = time.monotonic() - start  # all N arrive at once, as a class does
        return session

    opened = await asyncio.gather(*(timed_open() for _ in range(sessions)),
                                  return_exceptions=True)
    ready = [item for item in opened if not isinstance(item, BaseException)]
    try:
        before = cpu_seconds(pid), cpu_seconds(os.getpid(), pid), time.monotonic()
        trained = await asyncio.gather(*(session.train(timeout_s) for session in ready),
                                       return_exceptions=True)
        cpu["server_s"] = cpu.get("server_s", 0) + cpu_seconds(pid) - before[0]
        cpu["clients_s"] = cpu.get("clients_s", 0) + cpu_seconds(os.getpid(), pid) - before[1]
        cpu["wall_s"] = cpu.get("wall_s", 0) + time.monotonic() - before[2]
    finally:
        for session in ready:
            with contextlib.suppress(Exception):
                await session.close()
    for session, item in zip(ready, trained):
        if isinstance(item, dict):
            item["open_s"] = session.open_s
    results = []
    for item in list(trained) + [item for item in opened if isinstance(item, BaseException)]:
        if isinstance(item, Exception):  # a timeout, a closed socket, a page that broke
            results.append(failure(item))
        elif isinstance(item, BaseException):
            raise item
        else:
            results.append(item)
    return results


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile, nearest rank (p95 of 5 values is the largest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * q // 100) - 1))]


class Server:
    """One server under test and everything measured on it, over its rounds."""

    def __init__(self, url: str, pid: int, options: str = ""):
        self.url, self.pid, self.options = url, pid, options
        self.results, self.rss_after, self.cpu = [], [], {}
        self.peak = memory_mib(pid, "VmRSS")

    def row(self, sessions: int, rounds: int) -> dict:
        ttfc = [r["ttfc"] for r in self.results if r["ttfc"] is not None]
        delivered = [r["delivered"] for r in self.results if r.get("delivered") is not None]
        opens = [r["open_s"] for r in self.results if r.get("open_s") is not None]
        return {
            "options": self.options, "sessions": sessions, "rounds": rounds,
            "finished_first_round": sum(r["finished"] for r in self.results[:sessions]),
            "finished_all_rounds": sum(r["finished"] for r in self.results),
            "exceptions": sum(r["exception"] for r in self.results),
            "errors": [r["error"] for r in self.results if r.get("error")][:5],
            "open_median_s": statistics.median(opens) if opens else None,
            "open_p95_s": percentile(opens, 95),
            "ttfc_median_s": statistics.median(ttfc) if ttfc else None,
            "ttfc_p95_s": percentile(ttfc, 95),
            "ttfc_max_s": max(ttfc) if ttfc else None,
            "delivered_median_s": statistics.median(delivered) if delivered else None,
            "delivered_p95_s": percentile(delivered, 95),
            "peak_rss_mib": round(max(self.peak, memory_mib(self.pid, "VmHWM"))),
            "rss_after_rounds_mib": self.rss_after,
            # from the clicks to the last outcome, all rounds: how the cores were shared
            "train_phase_wall_s": round(self.cpu.get("wall_s", 0), 1),
            "server_cpu_s": round(self.cpu.get("server_s", 0), 1),
            "clients_cpu_s": round(self.cpu.get("clients_s", 0), 1),
        }


async def measure(servers: list[Server], new_session, sessions: int, rounds: int,
                  timeout_s: float, settle_s: float, own_runs: bool = False) -> list[dict]:
    """Rounds of N sessions against each server, taking turns (A B, then B A, ...) so that a
    busy moment of the machine falls on both; one row per server, over all its rounds.

    own_runs: every session follows a link with its own seed, so every one trains (nothing
    to replay): the most work a class can ask of the server.
    """
    seeds = itertools.count(1)

    def student(url: str):
        return new_session(url, f"seed={next(seeds)}" if own_runs else "")
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            for server in servers:
                server.peak = max(server.peak, memory_mib(server.pid, "VmRSS"))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    try:
        for number in range(rounds):
            for server in servers if number % 2 == 0 else servers[::-1]:
                results = await asyncio.wait_for(
                    one_round(functools.partial(student, server.url), server.pid, sessions,
                              timeout_s, server.cpu),
                    timeout=3 * timeout_s + 60)
                server.results += results
                await asyncio.sleep(settle_s)  # closed tabs' sessions wind down
                server.rss_after.append(round(memory_mib(server.pid, "VmRSS")))
                print(f"  round {number + 1}{' ' + server.options if server.options else ''}: "
                      f"{sum(r['finished'] for r in results)}/{sessions} finished, "
                      f"server RSS {server.rss_after[-1]} MiB", file=sys.stderr, flush=True)
    finally:
        done.set()
        await sampler
    return [server.row(sessions, rounds) for server in servers]


# --- the command ---------------------------------------------------------------------------------

def chromium() -> str:
    path = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else \
        shutil.which("chromium")
    if path is None:
        sys.exit("no Chromium at /usr/bin/chromium or on PATH (apt-get install chromium)")
    return path


@contextlib.asynccontextmanager
async def session_maker(client: str, timeout_s: float):
    """A function (url, query) -> a new, unopened session of the chosen kind (one Chromium
    serves them all)."""
    if client == "ws":
        yield WsStudent
        return
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS,
                                                   timeout=timeout_s * 1000)
        try:
            yield functools.partial(ChromiumSession, browser)
        finally:
            await browser.close()


async def warm(url: str, timeout_s: float) -> float:
    """Open Home once: the first visit imports torch and loads the data."""
    start = time.monotonic()
    session = WsSession(url)
    try:
        await session.open(timeout_s)
    finally:
        await session.close()
    return time.monotonic() - start


async def main_async(args: argparse.Namespace, work: Path) -> list[dict]:
    cached = work / "precomputed"
    if args.cached and not args.url:
        print("precomputing the cache (normlab precompute)...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "normlab", "precompute", "--out", str(cached)],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL, timeout=600)
    variants = [args.option] + ([args.option + args.against] if args.against else [])
    rows = []
    async with session_maker(args.client, args.timeout) as new_session:
        for sessions in args.sessions:
            print(f"{sessions} sessions ({args.client}), {args.rounds} round(s), "
                  f"{'cached' if args.cached else 'cold'}", file=sys.stderr, flush=True)
            with contextlib.ExitStack() as stack:
                servers = [Server(args.url, args.server_pid)] if args.url else []
                for number, options in enumerate([] if args.url else variants):
                    cache = work / f"cache-{sessions}-{number}"
                    if args.cached:
                        shutil.copytree(cached, cache)
                    started = stack.enter_context(streamlit_server(
                        work / f"server-{sessions}-{number}.log",
                        {"NORMLAB_CACHE_DIR": str(cache)},
                        *(f"--{name}={value}" for name, value in options)))
                    servers.append(Server(started.url, started.process.pid,
                                          " ".join(f"{n}={v}" for n, v in options)))
                warm_s = [await warm(server.url, args.timeout) for server in servers]
                measured = await measure(servers, new_session, sessions, args.rounds,
                                         args.timeout, args.settle, args.own_runs)
            mode = "own runs" if args.own_runs else "cached" if args.cached else "cold"
            rows += [{"mode": mode, "client": args.client,
                      "warm_up_s": round(warm, 1), **row} for warm, row in zip(warm_s, measured)]
    return rows


def table(rows: list[dict]) -> str:
    def seconds(value):
        return "-" if value is None else f"{value:.2f} s"

    lines = ["| client | cache | options | N | finished (all rounds) | page open, median / p95 "
             "| first chart, median | p95 | chart sent, median / p95 | peak RSS "
             "| RSS after rounds | CPU s after Train: server / clients / wall |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['client']} | {row['mode']} | {row['options'] or '-'} | {row['sessions']} | "
            f"{row['finished_all_rounds']}/{row['sessions'] * row['rounds']} | "
            f"{seconds(row['open_median_s'])} / {seconds(row['open_p95_s'])} | "
            f"{seconds(row['ttfc_median_s'])} | {seconds(row['ttfc_p95_s'])} | "
            f"{seconds(row['delivered_median_s'])} / {seconds(row['delivered_p95_s'])} | "
            f"{row['peak_rss_mib']} MiB | "
            f"{', '.join(str(r) for r in row['rss_after_rounds_mib'])} MiB | "
            f"{row['server_cpu_s']} / {row['clients_cpu_s']} / {row['train_phase_wall_s']} |")
    by_n = {}
    for row in rows:
        by_n.setdefault(row["sessions"], []).append(row)
    for sessions, (base, *others) in by_n.items():
        for other in others:  # --against: the ratios measured side by side
            ratio = [other[key] / base[key] if other[key] and base[key] else float("nan")
                     for key in ("ttfc_median_s", "ttfc_p95_s", "server_cpu_s")]
            lines.append(f"\nN={sessions}: [{other['options']}] / [{base['options'] or '-'}]: "
                         f"first chart median {ratio[0]:.2f}x, p95 {ratio[1]:.2f}x, server CPU "
                         f"{ratio[2]:.2f}x")
    return "\n".join(lines)


def streamlit_option(text: str) -> tuple[str, str]:
    """"runner.postScriptGC=true" -> ("runner.postScriptGC", "true")."""
    name, equals, value = text.partition("=")
    if not (name and equals):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="5,15,30",
                        type=lambda text: [int(n) for n in text.split(",")],
                        help="comma list of concurrent session counts (default 5,15,30)")
    parser.add_argument("--client", choices=("ws", "chromium"), default="ws",
                        help="websocket protocol (default) or real Chromium pages")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds per N, to see whether the server's memory keeps growing")
    parser.add_argument("--cached", action="store_true",
                        help="precompute the app's first runs into the cache first")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        type=streamlit_option,
                        help="a Streamlit config option for the servers started here, e.g. "
                             "runner.postScriptGC=true (repeatable)")
    parser.add_argument("--own-runs", action="store_true",
                        help="every session trains its own seed: no replays, all train")
    parser.add_argument("--against", action="append", default=[], metavar="NAME=VALUE",
                        type=streamlit_option,
                        help="also start a second server with this option; the two take "
                             "turns, round by round, and the table compares them")
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
