"""What the end-to-end tests share: the pages app.py navigates to, a `streamlit run` server on
loopback, Debian's Chromium and the waits Streamlit's own end-to-end suite uses, and WsSession,
a student's tab played over Streamlit's websocket protocol without a browser.

benchmarks/load_test.py uses this module too (it needs no pytest)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
RUNNING = "[data-testid='stApp'][data-test-script-state='running']"
EXCEPTION = "[data-testid='stException']"
SKELETON = "[data-testid='stSkeleton']"  # a widget whose code is still loading
CHART = "[data-testid='stPlotlyChart']"
DRAWN_CHART = f"{CHART} svg.main-svg"  # plotly has rendered it
CHART_WITH_DATA = f"{CHART} .scatterlayer .trace"  # a line drawn, not just empty axes
# The live lab draws its plots in one components-v1 iframe (appkit.live_chart), same origin.
LIVE_FRAME = "iframe[title='appkit.live_chart.normlab_live_chart']"
LIVE_CHART = "[data-chart]"  # one div per plot inside it: data-chart="loss", "layers", ...


@dataclass(frozen=True)
class NavPage:
    file: str  # "pages/live_lab.py"
    default: bool = False  # the navigation's default page (Home)

    @property
    def name(self) -> str:
        return Path(self.file).stem

    @property
    def url_path(self) -> str:
        """Streamlit names a page's URL after its file, except the default page (Home), which
        lives at "/": /home opens it under a "Page not found" dialog."""
        return "" if self.default else self.name


def nav_pages() -> list[NavPage]:
    """The page files app.py's navigation lists, in order: appkit.pages, the list app.py builds
    st.navigation from (imported here, not at the top, so benchmarks/load_test.py runs without
    the app's imports). test_the_sidebar_lists_exactly_these_pages checks the two agree."""
    if str(ROOT) not in sys.path:  # this checkout's app, as `streamlit run app.py` imports it
        sys.path.insert(0, str(ROOT))
    from appkit.pages import HOME, PAGES

    return [NavPage(page.path, default=page.path == HOME) for page in PAGES]


def chromium_path() -> str:
    """Debian's Chromium; skips the test without it, or fails it where NORMLAB_REQUIRE_BROWSER=1
    (CI, whose .ci/run installs it)."""
    path = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else \
        shutil.which("chromium")
    import pytest  # here, so that benchmarks/load_test.py can use this module without it

    required = os.environ.get("NORMLAB_REQUIRE_BROWSER") == "1"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path, why = None, "the playwright package is not installed (pip install -e '.[test]')"
    else:
        why = "no Chromium at /usr/bin/chromium or on PATH (apt-get install chromium)"
    if path is None:
        (pytest.fail if required else pytest.skip)(f"{why}; NORMLAB_REQUIRE_BROWSER="
                                                   f"{os.environ.get('NORMLAB_REQUIRE_BROWSER')}")
    return path


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """Debian's Chromium under Playwright (skipped or failed as chromium_path says)."""
    executable = chromium_path()  # skips or fails before anything starts
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def check_log(self) -> None:
        """The server is alive and logged no traceback: errors no page showed (in threads,
        callbacks, shutdowns)."""
        assert self.process.poll() is None, f"the server died:\n{self.log_tail()}"
        log = self.log_tail(10**7)
        assert "Traceback" not in log, log[log.index("Traceback") - 500:][:3000]


def server_command(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *extra]


@contextlib.contextmanager
def streamlit_server(log: Path, env: dict[str, str], *extra: str, start_timeout: float = 60.0,
                     cwd: Path = ROOT) -> Iterator[Server]:
    """`streamlit run app.py` (in `cwd`) on a free loopback port, healthy, stopped (with any
    children) however the block ends."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(server_command(port, *extra), cwd=cwd,
                                   env={**os.environ, **env}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + start_timeout
        while not healthy(server.url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{server.log_tail()}")
            time.sleep(0.2)
        yield server
    finally:
        stop(process)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
            return answer.read() == b"ok"
    except OSError:
        return False


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (it leads its own session), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)


def wait_idle(page, timeout: float = 60_000, started: bool = False) -> None:
    """Connected, then the script run that a click started has finished (started=True: a
    message from that run already showed, so it has begun)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_selector(CONNECTED, timeout=timeout)
    if not started:
        with contextlib.suppress(PlaywrightTimeout):  # the state flips to running after a moment
            page.wait_for_selector(RUNNING, timeout=3_000)
    page.wait_for_selector(IDLE, timeout=timeout)
    no_skeletons(page, timeout)


def no_skeletons(page, timeout: float) -> None:
    """Until every widget has drawn: Streamlit loads a widget's code on its first use and shows
    a grey skeleton meanwhile, after the script run has ended and the network has gone quiet."""
    page.wait_for_function(f"() => !document.querySelector({SKELETON!r})", timeout=timeout)


def wait_loaded(page, timeout: float = 60_000) -> None:
    """A freshly opened page has run its script and drawn what it sent.

    The state reads notRunning before the first run starts, and after it ends the elements
    next to a chart wait for plotly's code to load: so the title, then idle, then no requests.
    Then no skeletons (a button read absent 0.5 s after a page had "loaded" without this, so a
    test that asked whether there was one to press skipped it and waited for charts that never
    came).
    """
    page.wait_for_selector(CONNECTED, timeout=timeout)
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout)
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_load_state("networkidle", timeout=timeout)
    no_skeletons(page, timeout)


def exceptions(page) -> list[str]:
    return page.locator(EXCEPTION).all_inner_texts()


def alerts(page) -> str:
    return "\n".join(page.locator("[data-testid='stAlert']").all_inner_texts())


class WsSession:
    """A student's tab as the server sees it: Streamlit's own websocket protocol, nothing drawn.

    Sends what the browser's client sends (a BackMsg asking to run the page; then one carrying
    a button's trigger) and reads the ForwardMsgs back: elements, the query string the sidebar
    wrote, and the end of each script run. `problems` collects exception boxes and "page not
    found". Cheap enough to play many students from one process (benchmarks/load_test.py).
    """

    def __init__(self, url: str, page: str = ""):
        self.url, self.page = url, page  # page: its URL path ("" is Home)
        self.query = self.script_hash = ""
        self.buttons: dict[str, str] = {}  # widget key -> widget id
        self.problems: list[str] = []
        self.websocket = None

    async def open(self, timeout_s: float, look=None) -> WsSession:
        import websockets  # a dependency of streamlit

        self.websocket = await websockets.connect(
            self.url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit"],
            origin=self.url, max_size=None, open_timeout=timeout_s)
        await self.run(timeout_s, look=look)
        return self

    async def press(self, key: str, timeout_s: float, look=None) -> None:
        """Click the button with this widget key and read until the run it starts ends."""
        await self.run(timeout_s, trigger=self.buttons[key], look=look)

    async def run(self, timeout_s: float, trigger: str | None = None, look=None) -> None:
        """Ask for a script run; call look(element) on every element it sends until it ends."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        message = BackMsg()
        state = message.rerun_script
        state.query_string, state.page_name = self.query, self.page
        state.page_script_hash = self.script_hash
        if trigger is not None:
            widget = state.widget_states.widgets.add()
            widget.id, widget.trigger_value = trigger, True
        await self.websocket.send(message.SerializeToString())
        await self._until_finished(timeout_s, look or (lambda element: None))

    async def close(self) -> None:
        if self.websocket is not None:
            await self.websocket.close()

    async def _until_finished(self, timeout_s: float, look) -> None:
        """Read messages until the script run ends (not one cut short for a rerun)."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        rerun = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")
        while True:
            message = ForwardMsg()
            message.ParseFromString(await asyncio.wait_for(self.websocket.recv(), timeout_s))
            kind = message.WhichOneof("type")
            if kind == "page_info_changed":
                self.query = message.page_info_changed.query_string
            elif kind == "page_not_found":
                self.problems.append(f"page not found: {self.page!r}")
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                self.script_hash = message.metadata.active_script_hash or self.script_hash
                element = message.delta.new_element
                if element.WhichOneof("type") == "button":  # ids end in "-<key>"
                    self.buttons[element.button.id.rsplit("-", 1)[-1]] = element.button.id
                elif element.WhichOneof("type") == "exception":
                    self.problems.append(f"{element.exception.type}: {element.exception.message}")
                look(element)
            elif kind == "script_finished" and message.script_finished != rerun:
                return


def has_data(element) -> bool:
    """A plotly chart element, or the live lab's live_charts component, with at least one
    plotted point (the empty axes have none)."""
    kind = element.WhichOneof("type")
    if kind == "component_instance":
        charts = json.loads(element.component_instance.json_args or "{}").get("charts", [])
        specs = [json.loads(chart["spec"]) for chart in charts]
    elif kind == "plotly_chart":
        specs = [json.loads(element.plotly_chart.spec)]
    else:
        return False
    return any(trace.get("x") and trace["x"] != [None] or trace.get("z")
               for spec in specs for trace in spec.get("data", []))
