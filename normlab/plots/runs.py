"""Plot builders for one run or several: a Run's tidy frames (metrics, layer_stats,
histograms, gradients) in, plotly Figures out.

Every figure has a title and axis titles with units, and every norm has one colour wherever it
appears. Histograms arrive binned from the recorder, so a figure carries a few hundred numbers
per layer at most, never raw activations.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from normlab.plots import style
from normlab.plots.style import (
    AXIS_TITLES,
    BLUE_WHITE_RED,
    GRADIENT_RANGE,
    GRADIENT_SCALE,
    POINT_LABELS,
    PRE_NORM_COLOR,
    SPREAD_RANGE,
    UPDATE_RATIO_RANGE,
    ZERO_COLOR,
    log_colorbar,
    norm_color,
    norm_label,
)

# An earlier run drawn under this one: (label for the legend, its metrics with a norm column).
Earlier = tuple[str, pd.DataFrame]
FADED = 0.35  # opacity of an earlier run's lines


def _earlier_traces(earlier, column: str, scale: float = 1.0) -> list[dict]:
    """An earlier run's validation line per entry, faded and dashed, in its norm's colour."""
    traces = []
    for label, metrics in earlier:
        for norm in style.norms_in(metrics):
            rows = metrics[metrics["norm"] == norm]
            traces.append({"type": "scatter", "x": rows["step"].to_numpy(),
                           "y": scale * rows[column].to_numpy(), "mode": "lines",
                           "name": label, "opacity": FADED, "legendgroup": f"earlier {label}",
                           "line": {"color": norm_color(norm), "width": 2.5, "dash": "dash"}})
    return traces


def loss_curves(metrics: pd.DataFrame, x: str = "step",
                splits: tuple[str, ...] = ("train", "val"), earlier: tuple[Earlier, ...] = (),
                height: int = 420) -> go.Figure:
    """Cross-entropy loss per norm against `x`: validation solid, train dotted; `earlier` runs'
    validation loss faded and dashed underneath (by step).

    metrics: rows of Run.metrics with a `norm` column.
    """
    traces = _earlier_traces(earlier, "val_loss")
    for norm in style.norms_in(metrics):
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
    return style.figure(traces, style.layout(
        title, AXIS_TITLES[x], "cross-entropy loss (nats)",
        margin={"b": 110}, height=height,
        yaxis={"rangemode": "tozero"}))  # a flat 2.3 looks flat


def accuracy_curves(metrics: pd.DataFrame, x: str = "step", earlier: tuple[Earlier, ...] = (),
                    height: int = 420) -> go.Figure:
    """Validation accuracy (%) per norm against `x`; `earlier` runs faded and dashed under it."""
    traces = _earlier_traces(earlier, "val_accuracy", scale=100) + [
              {"type": "scatter", "x": rows[x].to_numpy(),
               "y": 100 * rows["val_accuracy"].to_numpy(), "mode": "lines",
               "name": norm_label(norm), "legendgroup": norm,
               "line": {"color": norm_color(norm), "width": 2.5}}
              for norm in style.norms_in(metrics) for rows in [metrics[metrics["norm"] == norm]]]
    return style.figure(traces, style.layout(
        "Validation accuracy", AXIS_TITLES[x],
        AXIS_TITLES["val_accuracy"], yaxis={"range": [0, 100]},
        margin={"b": 110}, height=height))


def pick_layers(num_layers: int, most: int = 4) -> list[int]:
    """Up to `most` layers spread from the first to the last."""
    if num_layers <= most:
        return list(range(num_layers))
    return sorted({round(i * (num_layers - 1) / (most - 1)) for i in range(most)})


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
    layout = style.layout(title, "", AXIS_TITLES["value"], margin={"t": 80, "b": 100}, height=400)
    for i, (layer, domain) in enumerate(zip(layers, style.panels(len(layers)))):
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
             "fillcolor": style.rgba(color, 0.3), "name": "15th–85th percentile",
             "legendgroup": "band", "showlegend": i == 0, **axes},
            {"type": "scatter", "x": steps, "y": one["p50"].to_numpy(), "mode": "lines",
             "line": {"color": color, "width": 2}, "name": "median", "legendgroup": "median",
             "showlegend": i == 0, **axes},
        ]
        style.panel_axes(layout, i, domain, AXIS_TITLES["step"], f"layer {layer}")
    return style.figure(traces, layout)


def _layer_step_grid(frame: pd.DataFrame, value: str) -> tuple[list, list, np.ndarray]:
    """Steps, layers and the (layer, step) grid of `value`, NaN where a pair is missing: what
    DataFrame.pivot gives, with numpy (pivot costs ~0.5 ms, at every redraw)."""
    layers, layer_at = np.unique(frame["layer"].to_numpy(), return_inverse=True)
    steps, step_at = np.unique(frame["step"].to_numpy(), return_inverse=True)
    grid = np.full((len(layers), len(steps)), np.nan)  # (layers, steps)
    grid[layer_at, step_at] = frame[value].to_numpy(dtype=float)
    return steps.tolist(), layers.tolist(), grid


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)


def _log_heatmap(frame: pd.DataFrame, value: str, title: str, bar_title: str, scale,
                 limits: tuple[float, float], hover: str, zero_name: str,
                 mid: float | None = None, step_ticks: int = 2) -> go.Figure:
    """A layer x step heatmap of log10(value) on the fixed range `limits`, exact zeros drawn
    in ZERO_COLOR with their own legend entry (log10 of 0 has no colour on any scale)."""
    steps, layers, values = _layer_step_grid(frame, value)
    low, high = limits
    trace = {"type": "heatmap", "x": steps, "y": layers, "z": _log10(values),
             "customdata": values, "colorscale": scale, "zmin": low, "zmax": high,
             "colorbar": log_colorbar(bar_title, low, high, step_ticks),
             "hovertemplate": f"step %{{x}}, layer %{{y}}<br>{hover} = %{{customdata:.3g}}"
                              "<extra></extra>"}
    if mid is not None:
        trace["zmid"] = mid
    zeros = np.where(values == 0, 1.0, np.nan)
    traces = [trace, {"type": "heatmap", "x": steps, "y": layers, "z": zeros,
                      "colorscale": [[0, ZERO_COLOR], [1, ZERO_COLOR]], "showscale": False,
                      "hovertemplate": f"step %{{x}}, layer %{{y}}<br>{hover} = 0 exactly"
                                       "<extra></extra>"},
              # the legend entry for exact zeros (a heatmap has none of its own)
              {"type": "scatter", "x": [None], "y": [None], "mode": "markers",
               "marker": {"symbol": "square", "size": 12, "color": ZERO_COLOR},
               "name": zero_name, "showlegend": True, "hoverinfo": "skip"}]
    return style.figure(traces, style.layout(
        title, AXIS_TITLES["step"], AXIS_TITLES["layer"],
        legend={"y": -0.25, "yanchor": "top"}, margin={"b": 80}))


def gradient_heatmap(gradients: pd.DataFrame) -> go.Figure:
    """Weight-gradient norm per layer (rows) and step (columns), log colour scale on a fixed
    range (GRADIENT_RANGE, the same for every run), exact zeros in black."""
    return _log_heatmap(gradients, "weight_grad_norm", "Gradient norm by layer (log scale)",
                        "‖∇W‖", GRADIENT_SCALE, GRADIENT_RANGE, "‖∇W‖",
                        "exactly 0", step_ticks=3)  # 10⁻⁸, 10⁻⁵, 10⁻², ≥10¹: no 10⁰ under ≥10¹


def update_ratio_heatmap(gradients: pd.DataFrame) -> go.Figure:
    """Size of each update relative to the weights, ‖ΔW‖/‖W‖, per layer and step.

    The colour scale is fixed (UPDATE_RATIO_RANGE) and centred on 10⁻³, a common rule of thumb
    for a healthy learning rate: red layers change faster than that, blue ones slower; a layer
    that did not move at all is black, not white.
    """
    return _log_heatmap(gradients, "update_ratio",
                        "Update:weight ratio by layer (white = 10⁻³)", "‖ΔW‖/‖W‖",
                        BLUE_WHITE_RED, UPDATE_RATIO_RANGE, "‖ΔW‖/‖W‖",
                        "exactly 0", mid=-3.0, step_ticks=1)


def layer_spread_heatmap(layer_stats: pd.DataFrame, norm: str,
                         point: str = "post_norm") -> go.Figure:
    """Every layer's spread (standard deviation of `point`) by step, on a fixed log range
    centred on 1: white is unit spread, red wider, blue narrower; collapsed to 0 is black."""
    rows = layer_stats[layer_stats["point"] == point]
    return _log_heatmap(rows, "std",
                        f"Spread of the {POINT_LABELS.get(point, point)} per layer "
                        f"({norm_label(norm)})", "std", BLUE_WHITE_RED, SPREAD_RANGE,
                        "std", "exactly 0", mid=0.0, step_ticks=1)


def gradient_by_depth(gradients: pd.DataFrame) -> go.Figure:
    """Median weight-gradient norm over training against layer index, one line per norm."""
    traces, values = [], []
    for norm in style.norms_in(gradients):
        median = gradients[gradients["norm"] == norm].groupby("layer")["weight_grad_norm"].median()
        values += [v for v in median.to_numpy() if v > 0]
        traces.append({"type": "scatter", "x": median.index.to_numpy(), "y": median.to_numpy(),
                       "mode": "lines+markers", "name": norm_label(norm),
                       "line": {"color": norm_color(norm), "width": 2.5}, "marker": {"size": 6}})
    decades = math.log10(max(values) / min(values)) if values else 0.0
    # over a few decades label each power of ten; within one, label 1, 2 and 5 of each
    ticks = ({"dtick": math.ceil(decades / 6), "exponentformat": "power"} if decades > 3
             else {"dtick": "D2"})
    return style.figure(traces, style.layout(
        "Gradient norm by depth (median over training)",
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
                       "line": {"color": color, "width": 2}, "fillcolor": style.rgba(color, 0.25),
                       "name": POINT_LABELS.get(point, point)})
    return style.figure(traces, style.layout(
        f"Layer {layer} at step {step}: before and after "
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
                       "fillcolor": style.rgba(color, 0.35), "line": {"color": color, "width": 1},
                       "name": f"layer {layer}", "showlegend": False,
                       "hovertemplate": f"layer {layer}<br>value %{{x:.3g}}<extra></extra>"})
    every = max(1, math.ceil(len(layers) / 16))
    # the recorded range is wider than the values in it: fit the values of every step, so the
    # axis holds still while a player steps through the run
    every_step = histograms[histograms["point"] == point]
    filled = every_step[every_step["count"] > 0]
    x_range = ([float(filled["bin_left"].min()), float(filled["bin_right"].max())]
               if len(filled) else None)
    ticks = {"tickvals": [len(layers) - 1 - rank for rank in range(len(layers))][::every],
             "ticktext": [f"layer {layer}" for layer in layers][::every], "showgrid": False}
    title = f"All layers at step {step}: {POINT_LABELS.get(point, point)} ({norm_label(norm)})"
    height = min(760, max(320, 40 * len(layers) + 120))
    return style.figure(traces, style.layout(
        title, AXIS_TITLES["value"], AXIS_TITLES["layer"],
        height=height, yaxis=ticks, xaxis={"range": x_range} if x_range else {}))
