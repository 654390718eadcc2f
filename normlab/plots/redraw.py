"""A chart redrawn while its run grows: the Figure is built once, later draws replace its data.

Building a plotly Figure from dicts costs more than the numbers in it: every trace and the
layout become validated-on-demand objects, and the default template is copied in. A live chart
keeps its layout and trace styles from one redraw to the next, so `Redraw` builds the Figure
on the first call and afterwards only swaps the arrays (x, y, z, customdata) of its traces; a
change in anything else (a trace more, another title) builds a fresh Figure. The result equals
the builder's own Figure, which tests/test_redraw.py checks.

Serializing a Figure (`Figure.to_dict`, which st.plotly_chart calls) deep-copies it, template
and all, and costs more than building it; a chart mechanism that takes JSON can send
`spec_json(spec)` instead: the same chart without a Figure, ~30x cheaper (benchmarks/README.md).

    loss = Redraw(plots.loss_curves_spec)
    for run in stream(cfg):
        show(loss(run.metrics.assign(norm=cfg.norm)))  # the same Figure object, new data
"""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import plotly.io as pio

from normlab.plots import style

DATA_KEYS = ("x", "y", "z", "customdata")  # what a redraw replaces; the rest is the style


class Redraw:
    """Calls `spec(*args)` (a builder's `*_spec` twin: {"traces": [...], "layout": {...}}) and
    returns one Figure, kept between calls and updated in place while its shape holds."""

    def __init__(self, spec: Callable[..., dict]):
        self.spec = spec
        self.figure: go.Figure | None = None
        self._shape: tuple | None = None  # the layout and every trace less its data

    def __call__(self, *args, **kwargs) -> go.Figure:
        spec = self.spec(*args, **kwargs)
        traces, layout = spec["traces"], spec["layout"]
        shape = (layout, [{k: v for k, v in t.items() if k not in DATA_KEYS} for t in traces])
        if self.figure is None or shape != self._shape:
            self.figure, self._shape = style.figure(traces, layout), shape
            return self.figure
        with self.figure.batch_update():
            for trace, new in zip(self.figure.data, traces, strict=True):
                trace.update({k: new[k] for k in DATA_KEYS if k in new})
        return self.figure


_TEMPLATES: dict[str, dict] = {}  # template name -> its dict, built once


def spec_json(spec: dict) -> str:
    """A spec as plotly.js JSON, with the default template a Figure would have filled in;
    arrays are written as lists where plotly.io writes base64 (plotly.js reads both)."""
    name = pio.templates.default
    if name not in _TEMPLATES:
        _TEMPLATES[name] = pio.templates[name].to_plotly_json() if name else {}
    layout = {**spec["layout"], "template": _TEMPLATES[name]}
    return pio.to_json({"data": spec["traces"], "layout": layout}, validate=False)
