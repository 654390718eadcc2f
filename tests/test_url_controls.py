"""Links that bring a page back whole: each page's own controls (`appkit.Control`) in the URL.

Parsing is pure and never raises; every page that declares controls round-trips (open a link
with a non-default value for every control: the widgets show them, the URL keeps them, and a
second session opened from that URL draws the same charts); downloads carry the settings.
"""

import json
import random
import string
from pathlib import Path

import pandas as pd
import pytest
from apptest_helpers import figures, settle
from streamlit.testing.v1 import AppTest

from appkit.pages import PAGES
from appkit.show import page_html
from appkit.url import Control, check_names, controls_from_query, controls_to_query

APP = str(Path(__file__).resolve().parents[1] / "app.py")
NORMS = ("none", "batch", "layer", "rms")
KINDS = {
    "several": Control("k1", ["batch", "layer"], choices=NORMS),
    "pair": Control("k2", (0.01, 0.3), choices=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0)),
    "float": Control("k3", 3.0, lo=0.1, hi=10.0),
    "int": Control("k4", 7, lo=3, hi=31),
    "flag": Control("k5", False),
    "one of numbers": Control("k6", 8, choices=(2, 4, 8, 16)),
    "one of words": Control("k7", "relu", choices=("relu", "tanh")),
}


# --- parsing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, value, noted", [
    ("rms,batch", ["rms", "batch"], False), ("rms,zzz,rms", ["rms"], True), ("", [], False)])
def test_several_choices_keep_the_known_ones_once(raw, value, noted):
    got, note = KINDS["several"].from_query("norms", raw)
    assert got == value and bool(note) == noted


@pytest.mark.parametrize("kind, raw, value, noted", [
    ("pair", "1,0.03", (0.03, 1.0), False), ("pair", "0.03", (0.01, 0.3), True),
    ("float", "inf", 3.0, True), ("float", "99", 10.0, True), ("float", "-1e308", 0.1, True),
    ("float", "2.5", 2.5, False), ("int", "7.6", 8, True), ("int", "1e9", 31, True),
    ("flag", "true", True, False), ("flag", "<b>", False, True),
    ("one of numbers", "16.0", 16, False), ("one of numbers", "5", 8, True),
    ("one of words", "TANH", "tanh", False), ("one of words", "gelu", "relu", True)])
def test_each_kind_parses_or_falls_back_with_a_note(kind, raw, value, noted):
    got, note = KINDS[kind].from_query("x", raw)
    assert got == value and type(got) is type(value)
    assert bool(note) == noted


def test_hostile_values_never_raise_and_notes_are_safe():
    rng = random.Random(0)
    alphabet = string.printable + "éΣ\u202e\x00"
    for _ in range(400):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        for name, control in KINDS.items():
            value, note = control.from_query(name, raw)
            assert controls_from_query({"p": control}, {"p": raw})[0][control.key] == value
            if note:
                assert "<" not in note and "\n" not in note and "\x00" not in note
    huge = "batch," * 100_000
    assert KINDS["several"].from_query("norms", huge)[0] == ["batch"]


def test_only_values_off_their_default_go_in_the_url():
    state = {"k1": ["batch", "layer"], "k3": 2.5, "k5": True, "k2": (0.01, 0.3)}
    assert controls_to_query(KINDS, state) == {"float": "2.5", "flag": "1"}
    for name, control in KINDS.items():  # and what goes in comes back
        assert control.from_query(name, control.to_query(control.default)) == (control.default,
                                                                               None)


# --- every page round-trips ---------------------------------------------------------------------

def other_value(control: Control):
    """A valid value that is not the default, and cheap to compute (small, first choices)."""
    default, choices = control.default, control.choices
    if isinstance(default, bool):
        return not default
    if isinstance(default, tuple):
        return tuple(choices[:2]) if tuple(choices[:2]) != default else tuple(choices[1:3])
    if isinstance(default, list):
        return [choices[0]] if [choices[0]] != default else [choices[1]]
    if choices:  # (a control with one choice, as the device on a machine without a GPU, keeps it)
        return next((c for c in choices if c != default), default)
    lo, hi = control.bounds
    return lo if default != lo else type(default)(lo + (hi - lo) / 4)


def open_link(page: str, params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    for name, value in {"steps": "20", **params}.items():
        at.query_params[name] = value
    at.run()
    return settle(at.switch_page(page).run())  # the live lab trains off the script thread


def page_controls(page: str) -> dict[str, Control]:
    at = open_link(page, {})
    assert not at.exception, at.exception
    return at.session_state["_controls"] if "_controls" in at.session_state else {}


def query(at: AppTest) -> dict[str, str]:
    return {k: v[-1] if isinstance(v, list) else v for k, v in dict(at.query_params).items()}


# values other than other_value's where that would cost minutes (torch.compile on a CPU)
# (and for the inspector, a layer and a step its 20-step run records)
COSTLY = {"pages/speed.py": {"compile": False}, "pages/inspector.py": {"layer": 2, "step": 10}}
WITHOUT_CONTROLS = {"pages/home.py"}  # a map of the lessons and one button


@pytest.mark.parametrize("page", [page.path for page in PAGES])
def test_a_link_reopens_the_page_with_the_same_controls_and_result(page):
    controls = page_controls(page)
    assert bool(controls) != (page in WITHOUT_CONTROLS), "a page's controls are not in its links"
    if not controls:
        return
    values = {name: other_value(control) for name, control in controls.items()}
    values |= COSTLY.get(page, {})
    link = {name: controls[name].to_query(value) for name, value in values.items()}
    first = open_link(page, link)
    assert not first.exception, first.exception
    assert not [w for w in first.warning if "changed" in str(w.value)
                or "Session State" in str(w.value)], "a valid link was noted, or clashed"
    for name, control in controls.items():
        shown, wanted = first.session_state[control.key], values[name]
        assert (list(shown) if isinstance(shown, (list, tuple)) else shown) == (
            list(wanted) if isinstance(wanted, (list, tuple)) else wanted), name
    url = query(first)
    off_default = {name: text for name, text in link.items()
                   if controls[name].from_query(name, text)[0] != controls[name].default}
    assert {name: url[name] for name in controls if name in url} == off_default
    second = open_link(page, url)
    assert query(second) == url
    assert set(figures(second)) == set(figures(first))
    for title, spec in figures(first).items():
        if "time" in title.lower() or "second" in title.lower():
            continue  # wall-clock charts differ between two trainings
        assert figures(second)[title]["data"] == spec["data"], title


def test_a_page_control_may_not_reuse_a_sidebar_name():
    with pytest.raises(ValueError, match="depth"):
        check_names({"depth": Control("x_depth", 3, lo=1, hi=9), "other": KINDS["int"]})
    check_names(KINDS)


# --- downloads carry the settings ----------------------------------------------------------------

def test_csv_rows_and_the_page_html_carry_the_settings():
    def script():
        import pandas as pd
        import plotly.graph_objects as go
        import streamlit as st

        import appkit
        st.session_state["_framed"] = True
        appkit.page_setup("pages/x.py", controls={"alpha": appkit.Control("x_alpha", 2.0, lo=0.0,
                                                                             hi=5.0)})
        st.slider("alpha", 0.0, 5.0, key="x_alpha")

        class Capture:
            def download_button(self, label, data, **kwargs):
                st.session_state["csv"] = data()

        appkit.csv_download(Capture(), "t.csv", pd.DataFrame({"v": [1, 2]}), "t.csv", key="c")
        for i in range(3):
            appkit.chart(st, go.Figure(go.Scatter(y=[i, i + 1]), layout_title_text=f"chart {i}"),
                         key=f"f{i}", caption=f"caption {i}")
        appkit.keep_for_export(go.Figure(go.Scatter(y=[9]), layout_title_text="chart 2, redrawn"),
                               key="f2")  # as a live redraw of the chart under key f2
        export = st.session_state["_export"]
        st.session_state["html"] = appkit.show.page_html(export["figures"].values(),
                                                         export["settings"])

    at = AppTest.from_function(script)
    at.query_params["alpha"] = "4.5"
    at.run()
    assert not at.exception, at.exception
    frame = pd.read_csv(__import__("io").StringIO(at.session_state["csv"]))
    settings = json.loads(frame["settings"].iloc[0])
    assert settings["alpha"] == 4.5 and settings["page"] == "x.py"
    assert "alpha=4.5" in settings["link"]
    page = at.session_state["html"]
    assert page.count("chart 0") == 1 and "chart 1" in page and "chart 2, redrawn" in page
    assert '"chart 2"' not in page  # a redraw under one key replaces the earlier figure
    assert page.count("Plotly.newPlot") == 3 and page.count("plotly.js v") == 1
    assert "&quot;alpha&quot;: 4.5" in page
    assert [b.label for b in at.sidebar.get("download_button")] == ["This page's charts (HTML)"]


def test_the_live_charts_are_in_the_pages_html_too():
    at = open_link("pages/live_lab.py", {})
    at.button(key="train").click().run()
    at = settle(at)
    export = at.session_state["_export"]
    assert set(export["figures"]) == {f"live_charts-{name}" for name in
                                      ("loss", "accuracy", "layers", "gradients", "update_ratio")}
    page = page_html(export["figures"].values(), export["settings"])
    assert page.count("Plotly.newPlot") == 5
    assert [b.label for b in at.sidebar.get("download_button")] == ["This page's charts (HTML)"]
