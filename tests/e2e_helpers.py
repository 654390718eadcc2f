"""What the browser tests share: the pages app.py navigates to, a `streamlit run` server on
loopback, Debian's Chromium, and the waits Streamlit's own end-to-end suite uses."""

from __future__ import annotations

import contextlib
import os
import re
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

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
RUNNING = "[data-testid='stApp'][data-test-script-state='running']"
EXCEPTION = "[data-testid='stException']"
CHART = "[data-testid='stPlotlyChart']"
DRAWN_CHART = f"{CHART} svg.main-svg"  # plotly has rendered it
CHART_WITH_DATA = f"{CHART} .scatterlayer .trace"  # a line drawn, not just empty axes


@dataclass(frozen=True)
class NavPage:
    file: str  # "pages/live_lab.py"

    @property
    def name(self) -> str:
        return Path(self.file).stem

    @property
    def url_path(self) -> str:
        """Streamlit names a page's URL after its file, except the default page (Home), which
        lives at "/": /home opens it under a "Page not found" dialog."""
        return "" if self.file == "pages/home.py" else self.name


def nav_pages() -> list[NavPage]:
    """The page files app.py's navigation lists, in order: the "pages/....py" names written in
    app.py, then in appkit.py (where app.py may take its list from). A page listed elsewhere
    fails test_the_sidebar_lists_exactly_these_pages instead of going untested."""
    names = []
    for source in ("app.py", "appkit.py"):
        for name in re.findall(r"[\"'](pages/\w+\.py)[\"']", (ROOT / source).read_text()):
            if name not in names and (ROOT / name).exists():
                names.append(name)
    return [NavPage(name) for name in names]


def chromium_path() -> str:
    """Debian's Chromium; skips the test without it, or fails it where NORMLAB_REQUIRE_BROWSER=1
    (CI, whose .ci/run installs it)."""
    path = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else \
        shutil.which("chromium")
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


def server_command(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *extra]


@contextlib.contextmanager
def streamlit_server(log: Path, env: dict[str, str], *extra: str,
                     start_timeout: float = 60.0) -> Iterator[Server]:
    """`streamlit run app.py` on a free loopback port, healthy, stopped (with any children)
    however the block ends."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(server_command(port, *extra), cwd=ROOT,
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


def wait_loaded(page, timeout: float = 60_000) -> None:
    """A freshly opened page has run its script and drawn what it sent.

    The state reads notRunning before the first run starts, and after it ends the elements
    next to a chart wait for plotly's code to load: so the title, then idle, then no requests.
    """
    page.wait_for_selector(CONNECTED, timeout=timeout)
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout)
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_load_state("networkidle", timeout=timeout)


def exceptions(page) -> list[str]:
    return page.locator(EXCEPTION).all_inner_texts()


def alerts(page) -> str:
    return "\n".join(page.locator("[data-testid='stAlert']").all_inner_texts())
