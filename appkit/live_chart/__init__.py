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
                toolbar: bool = True, again: bool = False) -> None:
    """Draw `charts` (id -> Slot) in one iframe that stays mounted across reruns.

    Call it once per script or fragment run with the same `key` (a second call in one run is
    a duplicate key), or, to redraw within one run (a sweep drawing as it trains), call it
    again and again in one st.empty() with again=True. `stamp` is recorded in the frame
    (`window.__stamps`, `data-stamp`): the browser tests read what was drawn, and when.
    toolbar=False hides plotly's mode bar, which would cover the titles of small charts.
    """
    if again:
        _forget(key)
    _component(charts=[{"id": name, "spec": pio.to_json(slot.figure, validate=False),
                        "width": slot.width, "height": slot.height, "fill": slot.fill}
                       for name, slot in charts.items()],
               stamp=str(stamp), config={"displaylogo": False, "displayModeBar": toolbar},
               key=key, default=None)


def _forget(key: str) -> None:
    """Let `key` be registered again in this script run: the same element id, sent to the same
    place, is the same iframe with new arguments. Streamlit has no public way to say so; its
    duplicate-key check keeps the ids of this run in two sets, and this one key leaves them."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.runtime.state.common import user_key_from_element_id

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    for seen in (ctx.shared.widget_ids_this_run, ctx.shared.widget_user_keys_this_run):
        with seen._lock:
            seen._data = {value for value in seen._data
                          if value != key and user_key_from_element_id(value) != key}


def figures_of(element) -> dict[str, dict]:
    """What AppTest sees of a live_charts element (an UnknownElement): chart id -> figure."""
    args = json.loads(element.proto.json_args)
    return {chart["id"]: json.loads(chart["spec"]) for chart in args["charts"]}
