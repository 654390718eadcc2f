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
    POINT_LABELS,
    PRE_NORM_COLOR,
    norm_color,
    norm_label,
)


def loss_curves(metrics: pd.DataFrame, x: str = "step",
                splits: tuple[str, ...] = ("train", "val")) -> go.Figure:
    """Cross-entropy loss per norm against `x`: validation solid, train dotted.

    metrics: rows of Run.metrics with a `norm` column.
    """
    return style.figure(**loss_curves_spec(metrics, x, splits))


def loss_curves_spec(metrics: pd.DataFrame, x: str = "step",
                     splits: tuple[str, ...] = ("train", "val")) -> dict:
    """loss_curves' traces and layout as plain dicts (see `Redraw`)."""
    traces = []
    for norm, rows in _by_norm(metrics):
        for split in splits:
            traces.append({
                "type": "scatter", "x": rows[x], "y": rows[f"{split}_loss"],
                "mode": "lines", "legendgroup": norm,
                "name": f"{norm_label(norm)} ({'validation' if split == 'val' else 'train'})",
                "line": {"color": norm_color(norm), "width": 2.5 if split == "val" else 1.5,
                         "dash": "solid" if split == "val" else "dot"},
            })
    title = {"step": "Loss by step", "wall_time": "Loss by wall time"}.get(x, "Loss")
    return {"traces": traces, "layout": style.layout(
        title, AXIS_TITLES[x], "cross-entropy loss (nats)",
        margin={"b": 110}, height=420,
        yaxis={"rangemode": "tozero"})}  # a flat 2.3 looks flat


def _by_norm(frame: pd.DataFrame) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(norm, its rows as one array per column) in registry order: numpy masks, not one
    DataFrame filter per norm (a few hundred microseconds each, at every redraw)."""
    norms = style.norms_in(frame)
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    if len(norms) == 1:
        return [(norms[0], columns)]
    return [(norm, {name: values[columns["norm"] == norm] for name, values in columns.items()})
            for norm in norms]


def accuracy_curves(metrics: pd.DataFrame, x: str = "step") -> go.Figure:
    """Validation accuracy (%) per norm against `x`."""
    return style.figure(**accuracy_curves_spec(metrics, x))


def accuracy_curves_spec(metrics: pd.DataFrame, x: str = "step") -> dict:
    """accuracy_curves' traces and layout as plain dicts (see `Redraw`)."""
    traces = [{"type": "scatter", "x": rows[x], "y": 100 * rows["val_accuracy"], "mode": "lines",
               "name": norm_label(norm), "legendgroup": norm,
               "line": {"color": norm_color(norm), "width": 2.5}}
              for norm, rows in _by_norm(metrics)]
    return {"traces": traces, "layout": style.layout(
        "Validation accuracy", AXIS_TITLES[x],
        AXIS_TITLES["val_accuracy"], yaxis={"range": [0, 100]},
        margin={"b": 110}, height=420)}


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
    return style.figure(**percentile_bands_spec(layer_stats, norm, point, layers))


def percentile_bands_spec(layer_stats: pd.DataFrame, norm: str, point: str = "post_norm",
                          layers: list[int] | None = None) -> dict:
    """percentile_bands' traces and layout as plain dicts (see `Redraw`)."""
    at_point = layer_stats["point"].to_numpy() == point
    rows = {name: layer_stats[name].to_numpy()[at_point]
            for name in ("layer", "step", "p15", "p50", "p85")}
    if layers is None:
        layers = pick_layers(int(rows["layer"].max()) + 1 if len(rows["layer"]) else 1)
    color, traces = norm_color(norm), []
    title = f"Distribution of the {POINT_LABELS.get(point, point)} per layer ({norm_label(norm)})"
    layout = style.layout(title, "", AXIS_TITLES["value"], margin={"t": 80, "b": 100}, height=400)
    for i, (layer, domain) in enumerate(zip(layers, style.panels(len(layers)))):
        one = {name: values[rows["layer"] == layer] for name, values in rows.items()}
        suffix = "" if i == 0 else str(i + 1)
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        steps = one["step"]
        traces += [
            {"type": "scatter", "x": steps, "y": one["p85"], "mode": "lines",
             "line": {"width": 0, "color": color}, "hoverinfo": "skip", "showlegend": False,
             "legendgroup": "band", **axes},
            {"type": "scatter", "x": steps, "y": one["p15"], "mode": "lines",
             "line": {"width": 0, "color": color}, "fill": "tonexty",
             "fillcolor": style.rgba(color, 0.3), "name": "15th–85th percentile",
             "legendgroup": "band", "showlegend": i == 0, **axes},
            {"type": "scatter", "x": steps, "y": one["p50"], "mode": "lines",
             "line": {"color": color, "width": 2}, "name": "median", "legendgroup": "median",
             "showlegend": i == 0, **axes},
        ]
        style.panel_axes(layout, i, domain, AXIS_TITLES["step"], f"layer {layer}")
    return {"traces": traces, "layout": layout}


def _layer_step_grid(gradients: pd.DataFrame, value: str) -> tuple[list, list, np.ndarray]:
    """Steps, layers and the (layer, step) grid of `value`, NaN where a pair is missing: what
    DataFrame.pivot gives, with numpy (pivot costs ~0.5 ms, at every redraw)."""
    layers, layer_at = np.unique(gradients["layer"].to_numpy(), return_inverse=True)
    steps, step_at = np.unique(gradients["step"].to_numpy(), return_inverse=True)
    grid = np.full((len(layers), len(steps)), np.nan)  # (layers, steps)
    grid[layer_at, step_at] = gradients[value].to_numpy(dtype=float)
    return steps.tolist(), layers.tolist(), grid


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)


def gradient_heatmap(gradients: pd.DataFrame) -> go.Figure:
    """Weight-gradient norm per layer (rows) and step (columns), on a log colour scale."""
    return style.figure(**gradient_heatmap_spec(gradients))


def gradient_heatmap_spec(gradients: pd.DataFrame) -> dict:
    """gradient_heatmap's trace and layout as plain dicts (see `Redraw`)."""
    steps, layers, values = _layer_step_grid(gradients, "weight_grad_norm")
    trace = {"type": "heatmap", "x": steps, "y": layers, "z": _log10(values),
             "customdata": values, "colorscale": "Viridis",
             "colorbar": {"title": {"text": "log₁₀ ‖∇W‖"}},
             "hovertemplate": "step %{x}, layer %{y}<br>‖∇W‖ = %{customdata:.3g}<extra></extra>"}
    return {"traces": [trace], "layout": style.layout(
        "Gradient norm by layer (log scale)", AXIS_TITLES["step"],
        AXIS_TITLES["layer"])}


def update_ratio_heatmap(gradients: pd.DataFrame) -> go.Figure:
    """Size of each update relative to the weights, ‖ΔW‖/‖W‖, per layer and step.

    The colour scale is centred on 10⁻³, a common rule of thumb for a healthy learning rate:
    red layers change faster than that, blue ones slower.
    """
    return style.figure(**update_ratio_heatmap_spec(gradients))


def update_ratio_heatmap_spec(gradients: pd.DataFrame) -> dict:
    """update_ratio_heatmap's trace and layout as plain dicts (see `Redraw`)."""
    steps, layers, values = _layer_step_grid(gradients, "update_ratio")
    trace = {"type": "heatmap", "x": steps, "y": layers, "z": _log10(values),
             "customdata": values, "colorscale": BLUE_WHITE_RED, "zmid": -3,
             "colorbar": {"title": {"text": "log₁₀ ‖ΔW‖/‖W‖"}},
             "hovertemplate": "step %{x}, layer %{y}<br>‖ΔW‖/‖W‖ = %{customdata:.2g}"
                              "<extra></extra>"}
    return {"traces": [trace], "layout": style.layout(
        "Update:weight ratio by layer (log scale, white = 10⁻³)",
        AXIS_TITLES["step"], AXIS_TITLES["layer"])}


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
    ticks = {"tickvals": [len(layers) - 1 - rank for rank in range(len(layers))][::every],
             "ticktext": [f"layer {layer}" for layer in layers][::every], "showgrid": False}
    title = f"All layers at step {step}: {POINT_LABELS.get(point, point)} ({norm_label(norm)})"
    height = min(760, max(320, 40 * len(layers) + 120))
    return style.figure(traces, style.layout(
        title, AXIS_TITLES["value"], AXIS_TITLES["layer"],
        height=height, yaxis=ticks))
