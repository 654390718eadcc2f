"""Plotly charts that update in place: `live_charts(charts, key=...)`, one components-v1
iframe holding several plots, each redrawn with `Plotly.react` on the same DOM node.

Why not `st.plotly_chart`: in Streamlit 1.67 its element id hashes the figure JSON even when a
`key` is given (`key_as_main_identity=False` in elements/plotly_chart.py), and the front end
keys the React element by that id, so new data unmounts the chart and draws it from scratch:
measured blank in 13% of painted frames on a bench, about half a run on the live lab. A v1
component's id ignores its arguments when it has a key, so the iframe survives and the new
figures arrive as a message. One iframe for all of a page's live charts, because each iframe
parses plotly.js (4.8 MB) before its first paint.

plotly.js is not in the tree: the served folder is filled once per plotly version from plotly's
own package (`plotly/package_data/plotly.min.js`), so the browser asks nothing of another host.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import plotly
import plotly.io as pio
import streamlit as st
import streamlit.components.v1 as components

HTML = Path(__file__).with_name("index.html")


def _served_folder() -> Path:
    """A folder holding index.html and plotly.min.js, made once (atomically) per version."""
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    tag = hashlib.sha256(HTML.read_bytes()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"normlab-live-chart-{plotly.__version__}-{tag}"
    if not (folder / "plotly.min.js").is_file():
        staging = Path(tempfile.mkdtemp(prefix=folder.name + "-", dir=folder.parent))
        shutil.copyfile(HTML, staging / "index.html")
        shutil.copyfile(plotly_js, staging / "plotly.min.js")
        try:
            os.replace(staging, folder)  # another server process may have won: keep theirs
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return folder


_component = components.declare_component("normlab_live_chart", path=str(_served_folder()))


@dataclass(frozen=True)
class Slot:
    """One plot in the grid: its figure, share of the row (CSS flex-basis), and height in
    pixels, or `fill`: a fraction of the viewport below the frame (at least `height` px)."""

    figure: object  # a plotly Figure
    width: str = "100%"
    height: int = 300
    fill: float | None = None


def live_charts(charts: dict[str, Slot], *, key: str, stamp: object = "",
                toolbar: bool = True) -> None:
    """Draw `charts` (id -> Slot) in one iframe that stays mounted across reruns.

    Call it once per script or fragment run with the same `key` (a second call in one run is
    a duplicate key; to redraw within one run, use LiveCharts). `stamp` is recorded in the
    frame (`window.__stamps`, `data-stamp`): the browser tests read what was drawn, and when.
    The mode bar shows while the pointer is over a plot (on a phone: after a tap), as on
    Streamlit's own charts: always shown, it covered the titles on a narrow screen.
    toolbar=False hides it, for charts too small to want it.
    """
    _component(charts=[{"id": name, "spec": pio.to_json(slot.figure, validate=False),
                        "width": slot.width, "height": slot.height, "fill": slot.fill}
                       for name, slot in charts.items()],
               stamp=str(stamp),
               config={"displaylogo": False, "displayModeBar": "hover" if toolbar else False},
               key=key, default=None)
    from appkit.show import keep_for_export  # (appkit.show draws through this module's page)

    for name, slot in charts.items():  # the page's HTML download holds these charts too
        keep_for_export(slot.figure, key=f"{key}-{name}")


class LiveCharts:
    """live_charts at one place of the page, redrawn as often as needed within one script run
    (a sweep drawing as it trains), in the same iframe from one run to the next.

    Made where the charts go: it reserves that place without sending anything to it and draws
    there at once what this key last drew in this session, so the chart on screen is never
    replaced by an empty placeholder (st.empty() sends one: the browser unmounts the iframe
    and parses plotly.js again before the next draw, blank for a moment).

    Streamlit has no public way to do either (place an element and later replace it without a
    placeholder; register one key twice in a run): both go through its internals, checked
    against Streamlit 1.67. If they change, this raises a RuntimeError saying so.
    """

    def __init__(self, key: str, *, toolbar: bool = True):
        self.key, self.toolbar, self._drawn = key, toolbar, False
        last = st.session_state.get(_LAST.format(key))
        if last is None:  # nothing of ours on screen: a placeholder replaces nothing, and a
            # place left unsent until the first frame kept a first visit's page from showing
            self._place = st.empty()
        else:
            self._place = _reserve_place()
            self.draw(*last)

    def draw(self, charts: dict[str, Slot], stamp: object = "") -> None:
        if self._drawn:
            _forget(self.key)
        with self._place:
            live_charts(charts, key=self.key, stamp=stamp, toolbar=self.toolbar)
        self._drawn = True
        st.session_state[_LAST.format(self.key)] = (charts, stamp)


_LAST = "_live_charts_last_{}"  # session state: (charts, stamp) a LiveCharts key last drew


class StreamlitInternalsChanged(RuntimeError):
    """LiveCharts relies on Streamlit internals that this version does not have."""

    def __init__(self, what: str, error: BaseException):
        super().__init__(
            f"appkit.live_chart.LiveCharts cannot {what} with Streamlit {st.__version__} "
            f"({type(error).__name__}: {error}). It uses Streamlit internals, checked against "
            "1.67; pin that version or port LiveCharts (tests/test_live_chart.py).")


def _reserve_place():
    """A DeltaGenerator for the next place in the current container, as st.empty() returns,
    without sending the empty element (what DeltaGenerator._enqueue does, minus the message)."""
    try:
        from streamlit.delta_generator import DeltaGenerator
        from streamlit.delta_generator_singletons import get_dg_singleton_instance

        parent = get_dg_singleton_instance().main_dg._active_dg
        if parent._cursor is None:
            raise AttributeError("the current container has no cursor")
        return DeltaGenerator(root_container=parent._root_container,
                              cursor=parent._cursor.lock_element(), parent=parent)
    except (ImportError, AttributeError, TypeError) as error:
        raise StreamlitInternalsChanged("reserve a place on the page", error) from error


def _forget(key: str) -> None:
    """Let `key` be registered again in this script run: the same element id, sent to the same
    place, is the same iframe with new arguments. Streamlit's duplicate-key check keeps the
    ids of this run in two sets; this one key leaves them."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        from streamlit.runtime.state.common import user_key_from_element_id

        ctx = get_script_run_ctx()
        if ctx is None:  # bare mode: no duplicate check either
            return
        for seen in (ctx.shared.widget_ids_this_run, ctx.shared.widget_user_keys_this_run):
            with seen._lock:
                seen._data = {value for value in seen._data
                              if value != key and user_key_from_element_id(value) != key}
        if key in ctx.shared.widget_user_keys_this_run:
            raise AttributeError(f"{key!r} is still registered in this run")
    except (ImportError, AttributeError, TypeError) as error:
        raise StreamlitInternalsChanged("redraw a chart within one script run", error) \
            from error


def figures_of(element) -> dict[str, dict]:
    """What AppTest sees of a live_charts element (an UnknownElement): chart id -> figure."""
    args = json.loads(element.proto.json_args)
    return {chart["id"]: json.loads(chart["spec"]) for chart in args["charts"]}
