"""The "See the data" page in headless Chromium: while two networks train, their decision regions
are redrawn in place (several frames before the run ends, none of them blank), and the two
norms' regions fit the first screen of a laptop. Screenshots at 1440x900 and 390x844 go to
$NORMLAB_SCREENSHOT_DIR or a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_helpers import (
    EXCEPTION,
    IDLE,
    LIVE_FRAME,
    chromium,
    streamlit_server,
    wait_idle,
    wait_loaded,
)
from painted import sample_painted, start_dom_probe, stop_dom_probe

pytestmark = pytest.mark.e2e

REGIONS = "[data-chart='regions']"


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory):
    """A server of its own: its cache holds nothing this module did not train."""
    folder = tmp_path_factory.mktemp("data_view")
    env = {"NORMLAB_CACHE_DIR": str(folder / "cache")}
    with streamlit_server(folder / "server.log", env, "--client.showErrorDetails", "full") as srv:
        yield srv
        srv.check_log()


def open_data_view(browser, server, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(server.url + "/data_view")
    wait_loaded(page, timeout=240_000)  # the defaults train (or replay) on the first visit
    return context, page


def regions(page):
    return page.locator(LIVE_FRAME).first.content_frame.locator(REGIONS)


def stamps(page) -> list[str]:
    return page.locator(LIVE_FRAME).first.content_frame.locator("body").evaluate(
        "() => window.__stamps")


def test_the_regions_are_redrawn_while_they_train_and_never_go_blank(browser, server):
    context, page = open_data_view(browser, server, 1440, 900)
    try:
        assert page.locator(EXCEPTION).count() == 0
        before = len(stamps(page))
        page.locator(".st-key-dv_steps input[type='range']").focus()
        page.keyboard.press("End")  # 800 steps: not in the cache, and a few seconds long
        # The chart is on screen from the first visit: start watching, then click from inside
        # the page (a loaded machine answers the driver slowly while it trains).
        start_dom_probe(page, REGIONS)
        page.evaluate("() => setTimeout(() => document.querySelector("
                      "'.st-key-dv_run button').click(), 1000)")
        trace: list[dict] = []
        painted = sample_painted(page, regions(page), seconds=12, trace=trace)
        page.wait_for_selector(IDLE, timeout=240_000)
        probe = stop_dom_probe(page)
        drawn = stamps(page)[before:]
        during = {stamp for stamp in drawn if stamp.endswith("/training")}
        print("painted", painted, "probe", probe, "stamps", drawn,
              "hashes", len({frame["hash"] for frame in trace}))
        assert len(during) >= 3, f"redrawn {len(during)} times while training: {drawn}"
        assert drawn[-1] == "800/final", drawn
        # (that the picture moves is the stamps' job: under load the screenshot sampler's first
        # painted frame can come after the last redraw)
        assert painted.frames >= 3, trace
        assert painted.blank_frames == 0 and painted.flips == 0, painted
        assert probe["frames"] > 30 and probe["blank"] == 0, probe
        assert page.locator(EXCEPTION).count() == 0
        assert "Validation accuracy at step 800" in page.locator("[data-testid='stMain']") \
            .inner_text()
    finally:
        context.close()


@pytest.mark.parametrize("width, height", [(1440, 900), (390, 844)])
def test_both_norms_regions_on_the_first_screen_and_screenshots(browser, server, width, height,
                                                                 tmp_path):
    context, page = open_data_view(browser, server, width, height)
    try:
        wait_idle(page, 240_000)
        page.wait_for_timeout(800)  # the frame takes its height
        frame = page.locator(LIVE_FRAME).first
        box = frame.bounding_box()
        panels = regions(page).locator(".heatmaplayer image")
        assert panels.count() == 2, "one heatmap per norm"
        text = regions(page).inner_text()
        assert "No norm, step 400" in text and "BatchNorm, step 400" in text, text
        if width >= 1000:
            assert box["y"] >= 0 and box["y"] + box["height"] <= height, box
        folder = Path(os.environ.get("NORMLAB_SCREENSHOT_DIR", tmp_path))
        folder.mkdir(parents=True, exist_ok=True)
        page.mouse.move(width - 5, height - 5)
        page.screenshot(path=str(folder / f"screenshot-data_view-{width}x{height}.png"))
    finally:
        context.close()
