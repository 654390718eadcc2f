"""The pages say what is true: where training runs, what is a rule of thumb, what is contested."""

import re
from pathlib import Path

from apptest_helpers import texts
from streamlit.testing.v1 import AppTest

import appkit

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def source(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    return at.switch_page(page).run()


def test_nothing_says_the_training_runs_in_the_browser():
    for path in [*sorted((ROOT / "pages").glob("*.py")), ROOT / "README.md"]:
        assert "in your browser" not in path.read_text(encoding="utf-8"), path
    for path in ("pages/home.py", "pages/live_lab.py", "README.md"):
        assert "on the server" in source(path), path


def test_home_says_bn_uses_batch_statistics_in_training_mode_and_why_it_helps_is_contested():
    at = open_page("pages/home.py")
    assert not at.exception
    shown = texts(at.markdown)
    assert "In training mode, each unit is standardised" in shown
    assert "a deep sigmoid network (20 layers" in texts(at.caption)
    assert "like the one in the batch norm paper" not in texts(at.caption)
    headers = [header.value for header in at.header]
    assert "Why does batch norm help? Contested" in headers
    assert "internal covariate shift" in shown and "Santurkar et al. (2018" in shown


def served_at(path: str) -> str:
    """The URL path st.navigation serves the page file at (Streamlit's own rule, from its
    file name); "" for the default page."""
    from streamlit.source_util import page_icon_and_name

    return "" if path == appkit.HOME else page_icon_and_name(ROOT / path)[1]


def test_the_caveat_links_to_the_why_bn_page_where_the_navigation_serves_it():
    (target,) = re.findall(r"\]\(([^)]*)\)", appkit.WHY_BN_HELPS_CAVEAT)
    served = {served_at(page.path): page.path for page in appkit.PAGES}
    assert target in served, (target, sorted(served))
    assert served[target] == appkit.WHY_BN_PAGE == "pages/why_bn.py"
    assert appkit.find_page(appkit.WHY_BN_PAGE).title == "Why does batch norm help?"


def test_pages_showing_a_steady_distribution_link_to_the_caveat():
    assert 'anchor=appkit.WHY_BN_HELPS_ANCHOR' in source("pages/home.py")
    assert "st.page_link(appkit.WHY_BN_PAGE" in source("pages/home.py")
    for path in ("pages/live_lab.py", "pages/inspector.py", "pages/presets.py"):
        assert "appkit.WHY_BN_HELPS_CAVEAT" in source(path), path


def test_the_update_ratio_target_is_called_a_rule_of_thumb():
    live_lab = source("pages/live_lab.py")
    assert "rule of thumb" in live_lab and "Karpathy" in live_lab
    assert "is healthy;" not in live_lab


def test_speed_page_names_its_sources_and_what_zhang_and_sennrich_timed():
    speed = source("pages/speed.py")
    assert "whole-model times" in speed and "2019 implementations" in speed
    assert "Sources:" in speed and "H100" in speed and "2-core CPU" in speed


def test_dyt_is_said_to_struggle_in_resnets():
    assert "struggles to replace batch norm in ResNets" in source("pages/batch_dependence.py")


def test_the_claim_checker_counts_examples_seen_not_distinct_digits():
    assert "2048 digits" not in source("pages/claims.py")
