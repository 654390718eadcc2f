"""The real app, served by `streamlit run` and driven in headless Chromium.

Every page app.py navigates to opens without an exception box and draws its plotly charts; the
live lab trains to the end, reports a divergence and explains batch size 1; Stop, a rerun and a
closed tab leave nothing training; a second student sees none of the first's settings or runs
and is told when they queue; a few sessions at once all finish (benchmarks/load_test.py, light).
Screenshots of the main pages go to a temporary folder, or to $NORMLAB_SCREENSHOT_DIR
(`python -m tests.screenshots` sets it to assets/ to refresh the README's pictures): a test run
never writes into the tree.

The server runs with `--client.showErrorDetails full` (the deployed config says "none"): both
draw an exception box, but full details put the traceback into the failure message here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_helpers import (
    CHART,
    CHART_WITH_DATA,
    DRAWN_CHART,
    LIVE_CHART,
    LIVE_FRAME,
    ROOT,
    VIEWPORT,
    alerts,
    chromium,
    exceptions,
    nav_pages,
    streamlit_server,
    wait_idle,
    wait_loaded,
)

pytestmark = pytest.mark.e2e

PAGES = nav_pages()
SCREENSHOTS = {"home", "concepts", "live_lab", "compare", "inspector"}  # and a lesson, see below
NO_CHARTS = {"home"}  # every other page must draw at least one chart
SCREENSHOT_LIMIT = 300 * 1024
LONG_RUN = "steps=5000&depth=6"  # ~20 s of training at the 2-core speed: long enough to cut


def lesson_to_photograph() -> str:
    """The first page after the main ones: a lesson page once there are some, else Concepts."""
    others = [p.name for p in PAGES if p.name not in SCREENSHOTS]
    return others[0] if others else "concepts"


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory):
    """One server for the module: its own run cache, one training at a time (so a second
    session queues), and full error details for the failure messages."""
    folder = tmp_path_factory.mktemp("e2e")
    env = {"NORMLAB_CACHE_DIR": str(folder / "cache"), "NORMLAB_MAX_TRAININGS": "1"}
    with streamlit_server(folder / "server.log", env, "--client.showErrorDetails", "full") as srv:
        context = browser.new_context(viewport=VIEWPORT)  # pay for torch's import once, here
        page = context.new_page()
        page.goto(srv.url + "/")
        wait_loaded(page, timeout=120_000)
        context.close()
        yield srv
        srv.check_log()


@pytest.fixture
def context(browser, server):
    """A fresh browser profile (one student). Fails the test if the app made the browser ask
    anything of another host: a class on a closed network would wait on it."""
    context = browser.new_context(viewport=VIEWPORT)
    elsewhere = []
    context.on("request", lambda request: None if request.url.startswith(
        (server.url, "data:", "blob:")) else elsewhere.append(request.url))
    yield context
    context.close()
    assert not elsewhere, f"requests off the app's server: {sorted(set(elsewhere))[:5]}"


def open_page(context, url: str, timeout: float = 60_000):
    page = context.new_page()
    page.goto(url)
    wait_loaded(page, timeout)
    return page


def button(page, key: str):
    """The button with this widget key (a button with help text has a hidden twin for sizing)."""
    return page.locator(f".st-key-{key} button:visible").first


def click_and_wait(page, key: str, outcome: str, timeout: float = 120_000) -> None:
    """Click the button, wait for a message matching `outcome`, then for the run to end."""
    button(page, key).click()
    wait_for_alert(page, outcome, timeout)
    wait_idle(page, timeout, started=True)


def wait_for_alert(page, text: str, timeout: float = 120_000) -> None:
    """Until an info, success, warning or error box matching the regex `text` shows."""
    alert = page.locator("[data-testid='stAlert']").filter(has_text=re.compile(text))
    alert.first.wait_for(timeout=timeout)


def no_exception(page) -> None:
    """No exception box, and no "Page not found" dialog over the page."""
    found = exceptions(page)
    assert not found, f"{page.url} shows an exception:\n" + "\n---\n".join(found)
    dialogs = page.get_by_role("dialog").all_inner_texts()
    assert not any("not found" in text.lower() for text in dialogs), (page.url, dialogs)


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    """$NORMLAB_SCREENSHOT_DIR (see tests/screenshots.py), else a throwaway folder."""
    if folder := os.environ.get("NORMLAB_SCREENSHOT_DIR"):
        return Path(folder)
    return tmp_path_factory.mktemp("screenshots")


def screenshot(page, folder: Path, name: str) -> None:
    path = folder / f"screenshot-{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.mouse.move(1250, 880)  # beside the content: no tooltip, no sidebar chevron
    page.wait_for_timeout(500)  # tooltips fade, plotly finishes its transitions
    page.screenshot(path=str(path))
    assert path.stat().st_size < SCREENSHOT_LIMIT, f"{path.name}: {path.stat().st_size} bytes"


def active_trainings(context, server) -> int:
    """The server's count of running trainings, as a fresh session's sidebar states it."""
    page = context.new_page()
    page.goto(server.url + "/live_lab")
    caption = page.get_by_text(re.compile(r"\(\d+ training now\)"))
    caption.wait_for(timeout=60_000)
    count = int(re.search(r"\((\d+) training now\)", caption.inner_text()).group(1))
    page.close()
    return count


@contextlib.contextmanager
def observer(browser):
    """A separate student's browser context that looks at the server (closed afterwards)."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield context
    finally:
        context.close()


def wait_until_idle_server(context, server, within: float) -> float:
    """Seconds until no training runs on the server; fails after `within` seconds."""
    start = time.monotonic()
    while (count := active_trainings(context, server)) > 0:
        assert time.monotonic() - start < within, f"{count} training(s) still running"
        time.sleep(0.5)
    return time.monotonic() - start


# --- every page -------------------------------------------------------------------------------

def test_the_sidebar_lists_exactly_these_pages(server, context):
    page = open_page(context, server.url + "/")
    nav = page.locator("[data-testid='stSidebarNav']")
    if nav.get_by_role("button", name=re.compile("View")).count():  # long lists fold
        nav.get_by_role("button", name=re.compile("View")).first.click()
    links = {re.sub(r"^http://[^/]+/", "", href).split("?")[0]
             for href in nav.locator("a").evaluate_all("links => links.map(a => a.href)")}
    assert links == {p.url_path for p in PAGES}


@pytest.mark.parametrize("nav_page", PAGES, ids=[p.name for p in PAGES])
def test_every_page_opens_without_an_exception_and_draws_its_charts(server, context, nav_page,
                                                                    screenshot_dir):
    page = open_page(context, f"{server.url}/{nav_page.url_path}")
    no_exception(page)
    assert page.get_by_text("Page not found").count() == 0, f"{page.url}: page not found"
    assert page.locator("h1").count() >= 1, "every page has a title"
    if nav_page.name not in NO_CHARTS:
        main = page.locator("[data-testid='stMain']")
        primary = main.locator("[data-testid='stBaseButton-primary']")
        if page.locator(CHART_WITH_DATA).count() == 0 and primary.count():
            primary.first.click()  # the page's main action (Train, Compare, Run...)
            wait_idle(page, 120_000)
            no_exception(page)
        # (the main action trains the page's default: on a loaded 2-core machine, with other
        # tests' runs taking turns on the scheduler, that took over a minute)
        if nav_page.name == "live_lab":  # its plots live in one frame (appkit.live_chart)
            wait_for_live_lines(page, 180_000)
        elif nav_page.name == "inspector":  # so do the inspector's
            live_frame(page).locator("[data-chart='ridgeline'] .scatterlayer path.js-line"
                                     ).first.wait_for(state="attached", timeout=60_000)
        else:
            page.wait_for_selector(DRAWN_CHART, timeout=180_000)
            charts = page.locator(CHART).count()
            assert charts and page.locator(DRAWN_CHART).count() >= charts, "a chart did not draw"
    if nav_page.name in SCREENSHOTS or nav_page.name == lesson_to_photograph():
        # the live lab is photographed after it trained the default
        screenshot(page, screenshot_dir, nav_page.name)


def test_the_transformer_charts_come_in_seed_by_seed_and_stay_painted(server, context):
    """The lesson's training-loss chart, then its race chart, are drawn after every run, each
    in one frame that is never blank once drawn: every setting is on the first after the
    first seed's four runs, long before the twelfth, and both norms are on the second after
    two runs. (40 steps: not the default the test above trained, so not a replay.)"""
    from painted import start_dom_probe, stop_dom_probe

    def drawn(chart: str) -> tuple[list[str], dict]:
        probe = stop_dom_probe(page)
        no_exception(page)
        frames = [f.content_frame for f in page.locator(LIVE_FRAME).all()]  # one per chart
        stamps = next(f.locator("body").evaluate("() => window.__stamps") for f in frames
                      if f.locator(f"[data-chart='{chart}']").count())
        return stamps, probe

    page = open_page(context, server.url + "/transformer?run_steps=40&race=layer,rms")
    start_dom_probe(page, "[data-chart='curves']")
    button(page, "tf_run").click()
    wait_idle(page, 240_000)
    stamps, probe = drawn("curves")
    assert stamps[-1] == "12/3/final", stamps
    during = [stamp for stamp in stamps if stamp.endswith("/training")]
    assert "4/1/training" in during and len(set(during)) >= 3, stamps
    assert probe["frames"] > 30 and probe["blank"] == 0 and probe["flips"] == 0, probe
    assert probe["updates_seen"] >= 2, probe  # "1 of 3 seeds so far", ..., then the plain title

    start_dom_probe(page, "[data-chart='race']")
    button(page, "tf_race_run").click()
    wait_idle(page, 240_000)
    stamps, probe = drawn("race")
    assert stamps[-1] == "12/final", stamps  # 2 norms x 3 seeds x (equal steps, equal time)
    during = [stamp for stamp in stamps if stamp.endswith("/training")]
    assert "2/training" in during and len(set(during)) >= 3, stamps
    assert probe["frames"] > 30 and probe["blank"] == 0 and probe["flips"] == 0, probe
    assert probe["updates_seen"] >= 2, probe  # "2 of 12 runs so far", ..., the plain title


# --- the live lab ------------------------------------------------------------------------------

def live_frame(page):
    """The live lab's chart frame (a same-origin iframe: its DOM can be read)."""
    page.wait_for_selector(LIVE_FRAME, timeout=60_000)
    return page.locator(LIVE_FRAME).first.content_frame


def wait_for_live_lines(page, timeout: float = 60_000) -> None:
    """Until the live lab's loss chart has drawn a line with data."""
    live_frame(page).locator("[data-chart='loss'] .scatterlayer path.js-line").first.wait_for(
        state="attached", timeout=timeout)


def live_boxes(page) -> dict[str, dict]:
    """Each live plot's box in the page's viewport, by chart id."""
    frame = live_frame(page)
    return {div.get_attribute("data-chart"): div.bounding_box()
            for div in frame.locator(LIVE_CHART).all()}


def test_live_lab_trains_to_the_end_with_charts(server, context):
    page = open_page(context, server.url + "/live_lab?steps=40&depth=4&seed=101")
    button(page, "train").click()
    wait_for_live_lines(page)  # drawn while (or once) it trains
    wait_for_alert(page, "Finished 40 steps")
    wait_idle(page, 120_000, started=True)
    no_exception(page)
    assert "Finished 40 steps" in alerts(page)
    assert set(live_boxes(page)) == {"loss", "accuracy", "layers", "gradients", "update_ratio"}


def test_live_lab_charts_stay_painted_while_they_update_and_draw_during_the_run(server,
                                                                               context):
    """The painted page, not the DOM: screenshots of the loss chart every ~50 ms through a
    ~10 s run, and a per-animation-frame probe of drawn trace paths, both counting frames in
    which a chart already drawn is empty. And the frame's own record of what each redraw
    showed: a lab that drew only after the last snapshot would have one stamp."""
    from painted import sample_painted, start_dom_probe, stop_dom_probe

    page = open_page(context, server.url + "/live_lab?steps=2000&depth=6&seed=102")
    button(page, "train").click()
    wait_for_live_lines(page)
    start_dom_probe(page, ".js-plotly-plot")
    loss = page.locator(LIVE_FRAME).first.content_frame.locator("[data-chart='loss']")
    painted = sample_painted(page, loss, seconds=6)
    probe = stop_dom_probe(page)
    stamps = live_frame(page).locator("body").evaluate("() => window.__stamps")
    if button(page, "stop").is_enabled():  # on a quick machine the run may be over already
        button(page, "stop").click()
    wait_for_alert(page, "Stopped after|Finished")
    during = {stamp for stamp in stamps if stamp.endswith("/running")}
    assert len(during) >= 3, f"drawn {len(during)} times while training: {stamps[-5:]}"
    assert painted.frames >= 10, painted
    assert painted.blank_frames == 0 and painted.flips == 0, painted
    assert probe["frames"] > 30 and probe["blank"] == 0, probe


def test_the_live_lab_fits_one_screen_at_1440x900(server, browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = open_page(context, server.url + "/live_lab?steps=40&seed=103")
        button(page, "train").click()
        wait_for_alert(page, "Finished 40 steps")
        wait_idle(page, 60_000, started=True)
        page.wait_for_timeout(500)  # the frame takes its height
        boxes = live_boxes(page)
        for name in ("loss", "accuracy", "layers", "gradients", "update_ratio"):
            box = boxes[name]
            assert box["y"] >= 0 and box["y"] + box["height"] <= 900, (name, box)
            assert box["x"] >= 0 and box["x"] + box["width"] <= 1440, (name, box)
        for key in ("train", "pause", "step", "reset", "stop"):
            top = button(page, key).bounding_box()
            assert top is not None and top["y"] + top["height"] <= boxes["loss"]["y"], key
        scrolled = page.locator("[data-testid='stMain']").evaluate("main => main.scrollTop")
        assert scrolled == 0
    finally:
        context.close()


LIVE_LAB_VIEWPORTS = [(1440, 900), (1280, 720), (390, 844)]  # a laptop, a small one, a phone


def test_live_lab_screenshots_after_switching_to_batchnorm(server, browser, screenshot_dir):
    """The README's pictures of the lab: "Start here" without a norm, then BatchNorm trained
    over its faded copy; photographed at each of LIVE_LAB_VIEWPORTS, every chart drawn."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        preset = "norm=none&depth=20&activation=sigmoid&init=xavier&steps=300&seed=0"
        page = open_page(context, f"{server.url}/live_lab?{preset}")
        click_and_wait(page, "train", "learned nothing")
        norm = page.locator("[data-testid='stSidebar']").get_by_role("combobox").first
        norm.click()
        page.get_by_role("option", name="BatchNorm").click()
        wait_idle(page, 60_000)
        click_and_wait(page, "train", "Finished 300 steps in")
        for width, height in LIVE_LAB_VIEWPORTS:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(1200)  # the frame takes the new size
            no_exception(page)
            assert "previous: No norm" in live_frame(page).locator(
                "[data-chart='loss']").inner_text()
            screenshot(page, screenshot_dir, f"live_lab-{width}x{height}")
    finally:
        context.close()


COLLIDING_TEXTS = """div => {  // texts of one plot that leave its box or overlap another
  const box = div.getBoundingClientRect(), texts = [], found = [];
  for (const text of div.querySelectorAll("text")) {
    const r = text.getBoundingClientRect();
    if (!r.width || !text.textContent.trim()) continue;
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5
        || r.bottom > box.bottom + 0.5) found.push(`outside: ${text.textContent}`);
    texts.push([text, r]);
  }
  const tick = (text) => text.closest(".xtick") ? "x" : text.closest(".ytick") ? "y" : "";
  for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
    const [a, ra] = texts[i], [b, rb] = texts[j];
    if (tick(a) && tick(b) && tick(a) !== tick(b)) continue;  // the two 0s at the corner
    const wide = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
    const high = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
    if (wide > 1 && high > 1) found.push(`overlap: ${a.textContent} / ${b.textContent}`);
  }
  return found;
}"""


def test_live_lab_chart_texts_neither_collide_nor_leave_their_charts(server, browser):
    """A diverging run has the widest tick labels (2×10³⁴): at each of LIVE_LAB_VIEWPORTS no
    title, tick or legend text of a live plot overlaps another or leaves the plot's box (the
    x and y axes' 0 at the corner aside). Measured before the fix: the loss axis title ran
    into its ticks and, at 1280x720, into the chart title; the gradient colour bar's 10⁰
    into its ≥10¹."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = open_page(context, server.url + "/live_lab?lr=50&init_gain=5&norm=none&steps=40")
        click_and_wait(page, "train", "Diverged at step")
        found = {}
        for width, height in LIVE_LAB_VIEWPORTS:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(1200)  # the frame redraws for the new size
            for div in live_frame(page).locator(LIVE_CHART).all():
                if problems := div.evaluate(COLLIDING_TEXTS):
                    found[f"{width}x{height} {div.get_attribute('data-chart')}"] = problems
        assert not found, found
    finally:
        context.close()


def test_reset_step_and_train_in_the_browser(server, context):
    page = open_page(context, server.url + "/live_lab?steps=60&seed=104")
    button(page, "reset").click()
    wait_idle(page, 60_000)
    button(page, "step").click()
    wait_for_live_lines(page)
    wait_idle(page, 60_000)
    frame = live_frame(page)
    frame.locator("body[data-stamp$='/running']").wait_for(state="attached", timeout=30_000)
    first = frame.locator("body").get_attribute("data-stamp")
    assert not first.startswith("0/"), first  # one snapshot trained, paused
    page.wait_for_timeout(1500)
    assert frame.locator("body").get_attribute("data-stamp") == first  # and it stays paused
    button(page, "train").click()
    wait_for_alert(page, "Finished 60 steps")
    no_exception(page)


FRAME_PROBE = """(body, chart) => {  // in the live frame: each animation frame, `chart` drawn?
  const P = window.__probe = {frames: 0, blank: 0, run: true};
  const tick = () => {
    if (!P.run) return;
    const lines = document.querySelectorAll(`[data-chart='${chart}'] path.js-line`);
    P.frames++;
    if (![...lines].some((line) => (line.getAttribute("d") || "").length > 10)) P.blank++;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def test_inspector_play_moves_the_slider_keeps_the_charts_painted_and_pauses(server, context):
    page = open_page(context, server.url + "/inspector?steps=300&seed=105")
    frame = live_frame(page)
    frame.locator("[data-chart='ridgeline'] .scatterlayer path.js-line").first.wait_for(
        state="attached", timeout=60_000)
    slider = page.locator("[data-testid='stMain'] [data-testid='stSliderThumbValue']").first
    button(page, "inspect_play").click()
    page.wait_for_timeout(1000)  # the click's own rerun lands (see the report on issue 11)
    frame = live_frame(page)
    frame.locator("body").evaluate(FRAME_PROBE, "overlay")
    page.wait_for_timeout(3500)
    probe = frame.locator("body").evaluate("() => { window.__probe.run = false; "
                                           "return window.__probe; }")
    stamps = frame.locator("body").evaluate("() => window.__stamps")
    assert len(set(stamps)) >= 4, stamps  # played through several snapshots
    assert slider.inner_text() in stamps[-3:], (slider.inner_text(), stamps)  # it follows
    assert probe["frames"] > 30 and probe["blank"] == 0, probe
    button(page, "inspect_play").click()  # Pause
    wait_idle(page, 30_000)
    held = frame.locator("body").get_attribute("data-stamp")
    page.wait_for_timeout(1500)
    assert frame.locator("body").get_attribute("data-stamp") == held
    no_exception(page)


HELD_PROBE = """(frame) => {  // in the page: each animation frame, is the inspector's overlay
  // chart there, full height, with a line drawn? (an iframe remounted or resized would fail it)
  const P = window.__held = {frames: 0, bad: [], run: true};
  const tick = () => {
    if (!P.run) return;
    P.frames++;
    const iframe = document.querySelector(frame);
    const chart = iframe && iframe.contentDocument &&
      iframe.contentDocument.querySelector("[data-chart='overlay']");
    const line = chart && [...chart.querySelectorAll("path.js-line")].some(
      (path) => (path.getAttribute("d") || "").length > 10);
    const why = !iframe ? "no frame" : iframe.getBoundingClientRect().height < 400 ?
      `frame ${iframe.getBoundingClientRect().height} px` : !chart ? "no chart" :
      chart.getBoundingClientRect().height < 400 ? "chart collapsed" : !line ? "no line" : null;
    if (why) P.bad.push(why);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def test_inspector_charts_neither_blank_nor_collapse_across_clicks(server, context):
    """Previous, Next, Play, Pause and a slider key each rerun the page or its fragment; in every
    animation frame from before the first click to after the last, the overlay chart's frame
    is there at full height with its line drawn. The first load trains the run (a seed no other
    test uses): before the fix, its spinner's place went at the first click and the frame,
    one place up, was remounted: 0 px high for ~0.9 s."""
    page = open_page(context, server.url + "/inspector?steps=300&seed=106")
    live_frame(page).locator("[data-chart='overlay'] .scatterlayer path.js-line").first.wait_for(
        state="attached", timeout=60_000)
    page.wait_for_timeout(500)  # the frame takes its height
    page.evaluate(HELD_PROBE, LIVE_FRAME)
    for key in ("inspect_previous", "inspect_previous", "inspect_next", "inspect_play",
                "inspect_play"):
        button(page, key).click()
        page.wait_for_timeout(1200)
    page.locator("[data-testid='stMain'] [data-testid='stSlider'] input").first.focus()
    page.keyboard.press("ArrowLeft")
    wait_idle(page, 30_000)
    page.wait_for_timeout(800)
    probe = page.evaluate("() => { window.__held.run = false; return window.__held; }")
    stamps = live_frame(page).locator("body").evaluate("() => window.__stamps")
    assert len(set(stamps)) >= 4, stamps  # the clicks did redraw it
    assert probe["frames"] > 30 and not probe["bad"], (probe["frames"], probe["bad"][:10])
    no_exception(page)


def test_a_diverging_run_names_the_step_without_a_traceback(server, context):
    page = open_page(context, server.url + "/live_lab?lr=50&init_gain=5&norm=none&steps=40")
    click_and_wait(page, "train", "Diverged at step")
    no_exception(page)
    assert re.search(r"Diverged at step \d+", alerts(page))
    assert "Traceback" not in page.locator("[data-testid='stMain']").inner_text()


def test_batch_size_one_with_batch_norm_is_explained(server, context):
    page = open_page(context, server.url + "/live_lab?batch_size=1&norm=batch&steps=40")
    click_and_wait(page, "train", "batch size 1")
    no_exception(page)
    text = alerts(page)
    assert "batch size 1" in text and "variance" in text


# --- nothing keeps training --------------------------------------------------------------------

def start_long_run(context, server, seed: int):
    page = open_page(context, f"{server.url}/live_lab?{LONG_RUN}&seed={seed}")
    button(page, "train").click()
    wait_for_live_lines(page)  # training, charts drawn
    page.wait_for_selector("[data-testid='stProgress']", timeout=30_000)
    return page


def test_stop_ends_the_training(server, context, browser):
    page = start_long_run(context, server, seed=201)
    click_and_wait(page, "stop", "Stopped after")
    no_exception(page)
    assert "Stopped after" in alerts(page)
    with observer(browser) as watcher:
        assert wait_until_idle_server(watcher, server, within=10) < 10


def test_a_rerun_mid_training_ends_the_training(server, context, browser):
    page = start_long_run(context, server, seed=202)
    sidebar = page.locator("[data-testid='stSidebar']")
    batch_size = sidebar.get_by_role("spinbutton", name="Batch size")
    batch_size.fill("32")
    batch_size.press("Enter")  # a control changes: a rerun, without Train
    wait_idle(page, 60_000)
    assert "batch_size=32" in page.url
    no_exception(page)
    with observer(browser) as watcher:
        assert wait_until_idle_server(watcher, server, within=10) < 10


def test_closing_the_tab_mid_training_ends_the_training(server, context, browser):
    page = start_long_run(context, server, seed=203)
    with observer(browser) as watcher:
        assert active_trainings(watcher, server) == 1
        page.close()
        # nobody looks at the job any more: the scheduler cancels it after abandon_after (30 s)
        assert wait_until_idle_server(watcher, server, within=45) < 45


# --- several students --------------------------------------------------------------------------

def test_a_second_student_sees_none_of_the_first_ones_run_or_settings(server, browser):
    first, second = (browser.new_context(viewport=VIEWPORT) for _ in range(2))
    try:
        mine = open_page(first, server.url + "/live_lab?norm=layer&seed=401&steps=40&depth=3")
        click_and_wait(mine, "train", "Finished 40 steps")
        assert "Finished 40 steps" in alerts(mine)
        theirs = open_page(second, server.url + "/live_lab")
        no_exception(theirs)
        assert "seed=0" in theirs.url and "norm=batch" in theirs.url and "depth=6" in theirs.url
        assert "Finished" not in alerts(theirs)
        assert live_frame(theirs).locator(".scatterlayer path.js-line").count() == 0
        inspector = open_page(second, server.url + "/inspector")
        main = inspector.locator("[data-testid='stMain']").inner_text()
        assert "my last live-lab run" not in main
        assert "seed=401" in mine.url and "norm=layer" in mine.url  # and the first keeps theirs
    finally:
        first.close()
        second.close()


def test_a_run_waiting_for_a_free_slot_says_it_is_queued(server, browser):
    first, second = (browser.new_context(viewport=VIEWPORT) for _ in range(2))
    try:
        busy = start_long_run(first, server, seed=501)  # the server trains one run at a time
        waiting = open_page(second, server.url + "/live_lab?steps=40&seed=502")
        button(waiting, "train").click()
        waiting.get_by_text(re.compile(r"Queued: 1 run ahead of yours")).wait_for(timeout=30_000)
        busy.close()  # the slot frees once the first run stops
        wait_for_alert(waiting, "Finished 40 steps")
        wait_idle(waiting, 60_000, started=True)
        no_exception(waiting)
        assert "Finished 40 steps" in alerts(waiting)
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("client", ["ws", "chromium"])
def test_a_few_sessions_at_once_all_finish(server, tmp_path, client):
    """benchmarks/load_test.py in its light form, with both kinds of client; no timing is
    asserted."""
    report = tmp_path / "load.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "load_test.py"), "--url", server.url,
         "--server-pid", str(server.process.pid), "--sessions", "3", "--rounds", "1",
         "--client", client, "--json", str(report)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = json.loads(report.read_text())["rows"]
    assert row["finished_all_rounds"] == row["sessions"] == 3 and row["exceptions"] == 0, row
    assert row["ttfc_median_s"] is not None, row  # every session saw its first chart
