"""Plot builders: tidy DataFrames in, plotly graph_objects Figures out.

Every figure has a title and axis titles with units, and every norm has one colour wherever it
appears. Histograms arrive binned from the recorder, so a figure carries a few hundred numbers
per layer at most, never raw activations.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from normlab.registry import NORMS

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


def norm_color(norm: str) -> str:
    return NORM_COLORS.get(norm, "#999999")


def norm_label(norm: str) -> str:
    return NORMS[norm].label if norm in NORMS else str(norm)


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(title: str, x: str, y: str, height: int = 380, **extra) -> dict:
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


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    """One Figure from plain dicts, unvalidated (tests/test_plots.py validates every builder)."""
    return go.Figure(data=traces, layout=layout, _validate=VALIDATE)


def _norms_in(frame: pd.DataFrame) -> list[str]:
    """The norms in a frame, in registry order (so legends list them the same way everywhere)."""
    present = set(frame["norm"]) if "norm" in frame else set()
    return [n for n in NORMS if n in present] + sorted(present - set(NORMS))


def loss_curves(metrics: pd.DataFrame, x: str = "step",
                splits: tuple[str, ...] = ("train", "val")) -> go.Figure:
    """Cross-entropy loss per norm against `x`: validation solid, train dotted.

    metrics: rows of Run.metrics with a `norm` column.
    """
    traces = []
    for norm in _norms_in(metrics):
        rows = metrics[metrics["norm"] == norm]
        for split in splits:
            traces.append({
                "type": "scatter", "x": rows[x].to_numpy(), "y": rows[f"{split}_loss"].to_numpy(),
                "mode": "lines", "legendgroup": norm,
                "name": f"{norm_label(norm)} ({'validation' if split == 'val' else 'train'})",
                "line": {"color": norm_color(norm), "width": 2.5 if split == "val" else 1.5,
                         "dash": "solid" if split == "val" else "dot"},
            })
    title = {"step": "Loss by step", "wall_time": "Loss by wall time"}.get(x, "Loss")
    return _figure(traces, _layout(title, AXIS_TITLES[x], "cross-entropy loss (nats)",
                                   margin={"b": 110}, height=420,
                                   yaxis={"rangemode": "tozero"}))  # a flat 2.3 looks flat


def accuracy_curves(metrics: pd.DataFrame, x: str = "step") -> go.Figure:
    """Validation accuracy (%) per norm against `x`."""
    traces = [{"type": "scatter", "x": rows[x].to_numpy(),
               "y": 100 * rows["val_accuracy"].to_numpy(), "mode": "lines",
               "name": norm_label(norm), "legendgroup": norm,
               "line": {"color": norm_color(norm), "width": 2.5}}
              for norm in _norms_in(metrics) for rows in [metrics[metrics["norm"] == norm]]]
    return _figure(traces, _layout("Validation accuracy", AXIS_TITLES[x],
                                   AXIS_TITLES["val_accuracy"], yaxis={"range": [0, 100]},
                                   margin={"b": 110}, height=420))


def pick_layers(num_layers: int, most: int = 4) -> list[int]:
    """Up to `most` layers spread from the first to the last."""
    if num_layers <= most:
        return list(range(num_layers))
    return sorted({round(i * (num_layers - 1) / (most - 1)) for i in range(most)})


def _panels(count: int, gap: float = 0.03) -> list[tuple[float, float]]:
    """Horizontal domains of `count` side-by-side panels."""
    width = (1 - gap * (count - 1)) / count
    return [(i * (width + gap), i * (width + gap) + width) for i in range(count)]


def _panel_axes(layout: dict, i: int, domain: tuple[float, float], x_title: str, label: str,
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


def percentile_bands(layer_stats: pd.DataFrame, norm: str, point: str = "post_norm",
                     layers: list[int] | None = None) -> go.Figure:
    """The 15th-85th percentile band and the median of `point` over training, one panel per layer.

    Ioffe & Szegedy (2015, Fig. 1b,c) plot these three percentiles of a sigmoid's input. The
    panels share the value axis, so a layer whose values grow or shrink stands out.
    """
    rows = layer_stats[layer_stats["point"] == point]
    if layers is None:
        layers = pick_layers(int(rows["layer"].max()) + 1 if len(rows) else 1)
    color, traces = norm_color(norm), []
    title = f"Distribution of the {POINT_LABELS.get(point, point)} per layer ({norm_label(norm)})"
    layout = _layout(title, "", AXIS_TITLES["value"], margin={"t": 80, "b": 100}, height=400)
    for i, (layer, domain) in enumerate(zip(layers, _panels(len(layers)))):
        one = rows[rows["layer"] == layer]
        suffix = "" if i == 0 else str(i + 1)
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        steps = one["step"].to_numpy()
        traces += [
            {"type": "scatter", "x": steps, "y": one["p85"].to_numpy(), "mode": "lines",
             "line": {"width": 0, "color": color}, "hoverinfo": "skip", "showlegend": False,
             "legendgroup": "band", **axes},
            {"type": "scatter", "x": steps, "y": one["p15"].to_numpy(), "mode": "lines",
             "line": {"width": 0, "color": color}, "fill": "tonexty",
             "fillcolor": _rgba(color, 0.3), "name": "15th–85th percentile",
             "legendgroup": "band", "showlegend": i == 0, **axes},
            {"type": "scatter", "x": steps, "y": one["p50"].to_numpy(), "mode": "lines",
             "line": {"color": color, "width": 2}, "name": "median", "legendgroup": "median",
             "showlegend": i == 0, **axes},
        ]
        _panel_axes(layout, i, domain, AXIS_TITLES["step"], f"layer {layer}")
    return _figure(traces, layout)


def _layer_step_grid(gradients: pd.DataFrame, value: str) -> tuple[list, list, np.ndarray]:
    grid = gradients.pivot(index="layer", columns="step", values=value)
    return list(grid.columns), list(grid.index), grid.to_numpy(dtype=float)


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)


def gradient_heatmap(gradients: pd.DataFrame) -> go.Figure:
    """Weight-gradient norm per layer (rows) and step (columns), on a log colour scale."""
    steps, layers, values = _layer_step_grid(gradients, "weight_grad_norm")
    trace = {"type": "heatmap", "x": steps, "y": layers, "z": _log10(values),
             "customdata": values, "colorscale": "Viridis",
             "colorbar": {"title": {"text": "log₁₀ ‖∇W‖"}},
             "hovertemplate": "step %{x}, layer %{y}<br>‖∇W‖ = %{customdata:.3g}<extra></extra>"}
    return _figure([trace], _layout("Gradient norm by layer (log scale)", AXIS_TITLES["step"],
                                    AXIS_TITLES["layer"]))


def update_ratio_heatmap(gradients: pd.DataFrame) -> go.Figure:
    """Size of each update relative to the weights, ‖ΔW‖/‖W‖, per layer and step.

    The colour scale is centred on 10⁻³, a common rule of thumb for a healthy learning rate:
    red layers change faster than that, blue ones slower.
    """
    steps, layers, values = _layer_step_grid(gradients, "update_ratio")
    trace = {"type": "heatmap", "x": steps, "y": layers, "z": _log10(values),
             "customdata": values, "colorscale": BLUE_WHITE_RED, "zmid": -3,
             "colorbar": {"title": {"text": "log₁₀ ‖ΔW‖/‖W‖"}},
             "hovertemplate": "step %{x}, layer %{y}<br>‖ΔW‖/‖W‖ = %{customdata:.2g}"
                              "<extra></extra>"}
    return _figure([trace], _layout("Update:weight ratio by layer (log scale, white = 10⁻³)",
                                    AXIS_TITLES["step"], AXIS_TITLES["layer"]))


def gradient_by_depth(gradients: pd.DataFrame) -> go.Figure:
    """Median weight-gradient norm over training against layer index, one line per norm."""
    traces, values = [], []
    for norm in _norms_in(gradients):
        median = gradients[gradients["norm"] == norm].groupby("layer")["weight_grad_norm"].median()
        values += [v for v in median.to_numpy() if v > 0]
        traces.append({"type": "scatter", "x": median.index.to_numpy(), "y": median.to_numpy(),
                       "mode": "lines+markers", "name": norm_label(norm),
                       "line": {"color": norm_color(norm), "width": 2.5}, "marker": {"size": 6}})
    decades = math.log10(max(values) / min(values)) if values else 0.0
    # over a few decades label each power of ten; within one, label 1, 2 and 5 of each
    ticks = ({"dtick": math.ceil(decades / 6), "exponentformat": "power"} if decades > 3
             else {"dtick": "D2"})
    return _figure(traces, _layout("Gradient norm by depth (median over training)",
                                   AXIS_TITLES["layer"], "weight-gradient norm ‖∇W‖ (log scale)",
                                   yaxis={"type": "log", **ticks}, margin={"b": 110},
                                   height=420))


def _density(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin edges and density (count / total / width) of one binned histogram."""
    rows = rows.sort_values("bin_left")
    left, right = rows["bin_left"].to_numpy(float), rows["bin_right"].to_numpy(float)
    counts = rows["count"].to_numpy(float)
    widths = np.maximum(right - left, 1e-12)
    return left, right, counts / max(counts.sum(), 1.0) / widths


def _outline(left: np.ndarray, right: np.ndarray, heights: np.ndarray, base: float = 0.0):
    """A closed step outline over the bins, for a filled Scatter."""
    xs = np.repeat(np.append(left, right[-1:]), 2)
    ys = np.concatenate([[base], np.repeat(heights, 2) + base, [base]])
    return xs, ys


def histogram_overlay(histograms: pd.DataFrame, layer: int, step: int, norm: str,
                      points: tuple[str, ...] = ("pre_norm", "post_norm")) -> go.Figure:
    """One layer at one step: the norm's input and output distributions as filled outlines."""
    rows = histograms[(histograms["layer"] == layer) & (histograms["step"] == step)]
    colors = {"pre_norm": PRE_NORM_COLOR, "post_norm": norm_color(norm), "activation": "#999999"}
    traces = []
    for point in points:
        one = rows[rows["point"] == point]
        if one.empty:
            continue
        xs, ys = _outline(*_density(one))
        color = colors.get(point, "#999999")
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "fill": "tozeroy",
                       "line": {"color": color, "width": 2}, "fillcolor": _rgba(color, 0.25),
                       "name": POINT_LABELS.get(point, point)})
    return _figure(traces, _layout(f"Layer {layer} at step {step}: before and after "
                                   f"{norm_label(norm)}", AXIS_TITLES["value"],
                                   "density (fraction of values per unit)",
                                   margin={"b": 100}, height=400))


def ridgeline(histograms: pd.DataFrame, step: int, norm: str,
              point: str = "post_norm") -> go.Figure:
    """Every layer's histogram of `point` at one step, stacked: layer 0 on top."""
    rows = histograms[(histograms["step"] == step) & (histograms["point"] == point)]
    layers = sorted(int(layer) for layer in rows["layer"].unique())
    color, traces = norm_color(norm), []
    for rank, layer in reversed(list(enumerate(layers))):  # deepest first: shallow ridges on top
        left, right, density = _density(rows[rows["layer"] == layer])
        peak = density.max() if len(density) and density.max() > 0 else 1.0
        xs, ys = _outline(left, right, 0.9 * density / peak, base=len(layers) - 1 - rank)
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "fill": "toself",
                       "fillcolor": _rgba(color, 0.35), "line": {"color": color, "width": 1},
                       "name": f"layer {layer}", "showlegend": False,
                       "hovertemplate": f"layer {layer}<br>value %{{x:.3g}}<extra></extra>"})
    every = max(1, math.ceil(len(layers) / 16))
    ticks = {"tickvals": [len(layers) - 1 - rank for rank in range(len(layers))][::every],
             "ticktext": [f"layer {layer}" for layer in layers][::every], "showgrid": False}
    title = f"All layers at step {step}: {POINT_LABELS.get(point, point)} ({norm_label(norm)})"
    height = min(760, max(320, 40 * len(layers) + 120))
    return _figure(traces, _layout(title, AXIS_TITLES["value"], AXIS_TITLES["layer"],
                                   height=height, yaxis=ticks))


def statistics_sharing(norm: str, examples: int = 4, features: int = 6, channels: int = 4,
                       pixels: int = 4, highlight: int = 1) -> go.Figure:
    """Which elements share one set of statistics under `norm`, highlighted in its colour.

    Left: a batch of feature vectors (N x D). Right: a batch of images (N x C x H·W), each
    channel's pixels side by side. The highlighted cells are normalised together; every other
    group of the same shape gets its own statistics. GroupNorm is drawn with two groups.
    """
    dense = np.zeros((examples, features))  # (N, D)
    image = np.zeros((examples, channels * pixels))  # (N, C * H*W)
    n, d, c = highlight % examples, highlight % features, highlight % channels
    if norm == "batch":  # one feature (channel) across the whole batch
        dense[:, d] = 1
        image[:, c * pixels:(c + 1) * pixels] = 1
    elif norm in ("layer", "rms"):  # one example, all its features
        dense[n, :] = 1
        image[n, :] = 1
    elif norm == "group":  # one example, one group of features (channels)
        dense[n, :math.ceil(features / 2)] = 1
        image[n, :math.ceil(channels / 2) * pixels] = 1
    scale = [[0, "rgba(153,153,153,0.25)"], [1, norm_color(norm)]]
    cell = {"type": "heatmap", "zmin": 0, "zmax": 1, "colorscale": scale, "showscale": False,
            "xgap": 2, "ygap": 2, "hoverinfo": "skip"}
    traces = [{**cell, "z": dense}, {**cell, "z": image, "xaxis": "x2", "yaxis": "y2"}]
    split = 0.08 + 0.84 * features / (features + channels * pixels)
    titles = {"none": "No norm: no statistics, each value passes through unchanged",
              "dyt": "DyT: no statistics, each value is squashed by tanh on its own",
              "rms": "RMSNorm: the highlighted values share one root mean square"}
    title = titles.get(norm, f"{norm_label(norm)}: the highlighted values share one mean "
                             "and variance")
    layout = _layout(
        title, "feature (index)", "example (index)", height=300,
        margin={"l": 70, "t": 90},
        xaxis={"domain": [0, split - 0.08], "tickvals": list(range(features)),
               "ticktext": [f"d{j}" for j in range(features)]},
        yaxis={"autorange": "reversed", "tickvals": list(range(examples))},
        xaxis2={"domain": [split, 1], "anchor": "y2", "title": {"text": "channel × pixel (index)"},
                "tickvals": [k * pixels + (pixels - 1) / 2 for k in range(channels)],
                "ticktext": [f"channel {k}" for k in range(channels)]},
        yaxis2={"anchor": "x2", "autorange": "reversed", "showticklabels": False},
        shapes=[{"type": "line", "xref": "x2", "yref": "y2 domain", "x0": k * pixels - 0.5,
                 "x1": k * pixels - 0.5, "y0": 0, "y1": 1,
                 "line": {"color": "#777777", "width": 2}} for k in range(1, channels)],
        annotations=[{"text": text, "showarrow": False, "xref": f"{axis} domain",
                      "yref": "paper", "x": 0.5, "y": 1.0, "yanchor": "bottom"}
                     for axis, text in (("x", "features: N × D"),
                                        ("x2", "images: N × C × (H·W)"))],
    )
    return _figure(traces, layout)
