"""The plots' shared style: one colour per norm, axis titles with units, the base layout,
side-by-side panels. Public, so runs.py, lessons.py and any notebook draw alike."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from normlab.registry import NORMS, norm_label  # noqa: F401 (norm_label: part of the style)

# Okabe & Ito's colour-blind-safe palette (black swapped for grey so it reads on dark themes).
NORM_COLORS: dict[str, str] = {
    "none": "#999999",  # grey: the baseline
    "batch": "#D55E00",  # vermillion
    "layer": "#0072B2",  # blue
    "rms": "#009E73",  # bluish green
    "group": "#CC79A7",  # reddish purple
    "dyt": "#E69F00",  # orange
}
PRE_NORM_COLOR = "#56B4E9"  # sky blue: the norm's input in pre/post overlays
# ColorBrewer RdBu, low values blue: spelled out because figures skip plotly's name lookup.
BLUE_WHITE_RED = [[0.0, "#2166ac"], [0.25, "#67a9cf"], [0.5, "#f7f7f7"], [0.75, "#ef8a62"],
                  [1.0, "#b2182b"]]
# Viridis from its blue on: its darkest quarter would read as black, the colour of exact zeros.
GRADIENT_SCALE = [[0.0, "#3b528b"], [0.33, "#21918c"], [0.67, "#5ec962"], [1.0, "#fde725"]]
ZERO_COLOR = "#000000"  # an exactly-zero gradient or update: not a small value, none at all
# Fixed colour ranges (log10), the same for every run and page, so that BatchNorm's one decade
# of gradient norms does not look as dramatic as no norm's ten. Values outside take the end
# colour, and the colour bar says so.
GRADIENT_RANGE = (-8.0, 1.0)  # log10 ||dW||: 1e-8 (vanished) to 10 (exploding)
UPDATE_RATIO_RANGE = (-6.0, 0.0)  # log10 ||dW||/||W||, centred on the 1e-3 rule of thumb
SPREAD_RANGE = (-2.0, 2.0)  # log10 of a layer's std: 1 (white) is what a norm aims for

AXIS_TITLES = {
    "step": "step (optimizer updates)",
    "wall_time": "wall time (s)",
    "examples": "examples seen (count)",
    "train_loss": "train cross-entropy loss (nats)",
    "val_loss": "validation cross-entropy loss (nats)",
    "val_accuracy": "validation accuracy (%)",
    "layer": "layer (0 = nearest the input)",
    "value": "value (unitless)",
}
POINT_LABELS = {"pre_norm": "norm input", "post_norm": "norm output",
                "activation": "activation output"}


def log_colorbar(title: str, low: float, high: float, step: int = 2) -> dict:
    """A colour bar for log10 values on a fixed range: ticks as powers of ten, the ends marked
    "or less" / "or more" (values beyond them are drawn in the end colours)."""
    ticks = list(range(int(low), int(high) + 1, step))
    if ticks[-1] != high:
        ticks.append(int(high))
    text = [f"10<sup>{t}</sup>" for t in ticks]
    text[0], text[-1] = f"≤{text[0]}", f"≥{text[-1]}"
    return {"title": {"text": title, "side": "right"}, "tickvals": ticks, "ticktext": text,
            "thickness": 12, "len": 0.9}


def norm_color(norm: str) -> str:
    """The norm's colour in every chart (grey for an unknown one)."""
    return NORM_COLORS.get(norm, "#999999")


def rgba(hex_color: str, alpha: float) -> str:
    """'#D55E00' at opacity `alpha` as a plotly rgba() string."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def layout(title: str, x: str, y: str, height: int = 380, **extra) -> dict:
    """Title, axis titles and a legend above the plot; colours are left to the theme."""
    layout = {
        "title": {"text": title, "x": 0, "xanchor": "left"}, "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        # below the x-axis title, so long legends never run into the plot's title
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.3, "x": 0},
        "hovermode": "closest", "showlegend": True,
        "xaxis": {"title": {"text": x}}, "yaxis": {"title": {"text": y}},
    }
    for name, value in extra.items():
        layout[name] = {**layout.get(name, {}), **value} if isinstance(value, dict) else value
    return layout


VALIDATE = False  # tests set True; validating costs ~10 ms a figure, redrawn 8 times a second


def figure(traces: list[dict], layout: dict) -> go.Figure:
    """One Figure from plain dicts, unvalidated (tests/test_plots.py validates every builder)."""
    return go.Figure(data=traces, layout=layout, _validate=VALIDATE)


def norms_in(frame: pd.DataFrame) -> list[str]:
    """The norms in a frame, in registry order (so legends list them the same way everywhere)."""
    present = set(frame["norm"]) if "norm" in frame else set()
    return [n for n in NORMS if n in present] + sorted(present - set(NORMS))



def panels(count: int, gap: float = 0.03) -> list[tuple[float, float]]:
    """Horizontal domains of `count` side-by-side panels."""
    width = (1 - gap * (count - 1)) / count
    return [(i * (width + gap), i * (width + gap) + width) for i in range(count)]


def panel_axes(layout: dict, i: int, domain: tuple[float, float], x_title: str, label: str,
               x: dict | None = None, y: dict | None = None, label_font: dict | None = None
                ) -> None:
    """Axes of side-by-side panel `i` (0 = the first): its own x axis, the first panel's y
    scale (a matched axis must repeat the type, e.g. `y={"type": "log"}`, or plotly reads log
    units as linear), and `label` above it. `x` and `y` add to the axes' settings."""
    suffix = "" if i == 0 else str(i + 1)
    layout[f"xaxis{suffix}"] = {"domain": list(domain), "anchor": f"y{suffix}",
                                "title": {"text": x_title}, **(x or {})}
    if i:
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "matches": "y",
                                    "showticklabels": False, **(y or {})}
    layout.setdefault("annotations", []).append(
        {"text": label, "showarrow": False, "xref": f"x{suffix} domain", "yref": "paper",
         "x": 0.5, "y": 1.0, "yanchor": "bottom", **({"font": label_font} if label_font else {})})


