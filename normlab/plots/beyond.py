"""Plot builders for the lessons beyond the three norms: why batch norm helps, the learning-rate
window, the data and what the network learned. Frames of normlab.lessons in, Figures out, with
plots.style's conventions (one colour per norm; noisy batch norm is batch norm's colour, dotted).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from normlab.plots import style
from normlab.plots.style import AXIS_TITLES, norm_color, norm_label

CONDITION_LABELS = {"none": "No norm", "batch": "BatchNorm", "noisy_batch": "Noisy BatchNorm"}
CONDITION_NORM = {"none": "none", "batch": "batch", "noisy_batch": "batch"}
CONDITION_DASH = {"noisy_batch": "dot"}
CONDITION_SYMBOL = {"none": "circle", "batch": "square", "noisy_batch": "diamond"}
# Okabe & Ito again, for classes (not norms): up to 10 digits.
CLASS_COLORS = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
                "#999999", "#882255", "#44AA99"]
LOSS_CAP = 10.0  # nats: a final loss above this (or a diverged point) is drawn at the cap


def condition_label(condition: str) -> str:
    return CONDITION_LABELS.get(condition, norm_label(condition))


def condition_color(condition: str) -> str:
    return norm_color(CONDITION_NORM.get(condition, condition))


def _conditions_in(frame: pd.DataFrame) -> list[str]:
    present = set(frame["condition"])
    return [c for c in CONDITION_LABELS if c in present] + sorted(present - set(CONDITION_LABELS))


# --- why does batch norm help? ---------------------------------------------------------------

def accuracy_by_condition(intervals: pd.DataFrame) -> go.Figure:
    """Final validation accuracy (%) per condition: mean over seeds, 95% t interval as bars
    (intervals: why_bn.accuracy_intervals)."""
    traces = []
    for row in intervals.itertuples():
        low = max(row.low, 0.0) if math.isfinite(row.low) else 0.0
        high = min(row.high, 1.0) if math.isfinite(row.high) else 1.0
        note = f" ({row.diverged} diverged, counted as chance)" if row.diverged else ""
        traces.append({
            "type": "scatter", "x": [condition_label(row.condition)], "y": [100 * row.mean],
            "mode": "markers", "name": condition_label(row.condition),
            "marker": {"color": condition_color(row.condition), "size": 14,
                       "symbol": CONDITION_SYMBOL.get(row.condition, "circle")},
            "error_y": {"type": "data", "symmetric": False, "array": [100 * (high - row.mean)],
                        "arrayminus": [100 * (row.mean - low)],
                        "color": condition_color(row.condition), "thickness": 2.5},
            "hovertemplate": f"%{{y:.1f}}% over {row.n} seeds, 95% interval "
                             f"[{100 * low:.1f}, {100 * high:.1f}]{note}<extra></extra>"})
    return style.figure(traces, style.layout(
        "Final validation accuracy, with 95% intervals over seeds", "",
        AXIS_TITLES["val_accuracy"], showlegend=False))


SMOOTHNESS_TITLES = {
    "loss_range": ("Loss variation along the gradient", "max − min loss on the walk (nats, log)"),
    "grad_change": ("Gradient change along the gradient (low = predictive)",
                    "largest ‖∇L(w − cη∇L) − ∇L(w)‖ (log)"),
    "beta": ("Effective β-smoothness (gradient change per unit moved)",
             "largest ‖Δ∇L‖ / ‖Δw‖ (log)"),
}


def smoothness_by_step(smooth: pd.DataFrame, metric: str = "beta") -> go.Figure:
    """A smoothness measure (why_bn.smoothness) against step: median over seeds per
    condition, the seeds' range as a band. Log scale: lower is smoother."""
    title, y_title = SMOOTHNESS_TITLES[metric]
    traces = []
    for condition in _conditions_in(smooth):
        rows = smooth[smooth["condition"] == condition]
        rows = rows[np.isfinite(rows[metric]) & (rows[metric] > 0)]
        by_step = rows.groupby("step")[metric].agg(["median", "min", "max"])
        steps, color = by_step.index.to_numpy(), condition_color(condition)
        traces += [
            {"type": "scatter", "x": steps, "y": by_step["max"].to_numpy(), "mode": "lines",
             "line": {"width": 0}, "legendgroup": condition, "showlegend": False,
             "hoverinfo": "skip"},
            {"type": "scatter", "x": steps, "y": by_step["min"].to_numpy(), "mode": "lines",
             "line": {"width": 0}, "fill": "tonexty", "fillcolor": style.rgba(color, 0.15),
             "legendgroup": condition, "showlegend": False, "hoverinfo": "skip"},
            {"type": "scatter", "x": steps, "y": by_step["median"].to_numpy(),
             "mode": "lines+markers", "name": condition_label(condition),
             "legendgroup": condition,
             "line": {"color": color, "width": 2.5,
                      "dash": CONDITION_DASH.get(condition, "solid")},
             "marker": {"symbol": CONDITION_SYMBOL.get(condition, "circle"), "size": 7}}]
    return style.figure(traces, style.layout(title, AXIS_TITLES["step"], y_title,
                                             yaxis={"type": "log"}))


def unit_distribution(shift: pd.DataFrame, seed: int = 0) -> go.Figure:
    """What the next layer is fed: the 15th/50th/85th percentiles over the batch of one unit
    of the middle layer's norm output (before the activation), by step, one panel per
    condition (one seed)."""
    shift = shift[shift["seed"] == seed]
    conditions = _conditions_in(shift)
    layout = style.layout(f"One unit after the norm: 15th, 50th, 85th percentiles "
                          f"(seed {seed})", "", "unit's value before the activation (unitless)",
                          margin={"t": 80, "b": 110}, height=400)
    traces = []
    for i, (condition, domain) in enumerate(zip(conditions, style.panels(len(conditions), 0.05))):
        suffix = "" if i == 0 else str(i + 1)
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        wide = shift[shift["condition"] == condition].pivot(index="step", columns="quantile",
                                                            values="value")
        steps, color = wide.index.to_numpy(), condition_color(condition)
        label = condition_label(condition)
        traces += [
            {"type": "scatter", "x": steps, "y": wide[0.85].to_numpy(), "mode": "lines",
             "line": {"color": color, "width": 1}, "legendgroup": condition,
             "showlegend": False, **axes},
            {"type": "scatter", "x": steps, "y": wide[0.15].to_numpy(), "mode": "lines",
             "line": {"color": color, "width": 1}, "fill": "tonexty",
             "fillcolor": style.rgba(color, 0.3), "name": f"{label}: 15th–85th percentile",
             "legendgroup": condition, **axes},
            {"type": "scatter", "x": steps, "y": wide[0.5].to_numpy(), "mode": "lines",
             "line": {"color": color, "width": 2.5,
                      "dash": CONDITION_DASH.get(condition, "solid")},
             "name": f"{label}: median", "legendgroup": condition, **axes}]
        style.panel_axes(layout, i, domain, AXIS_TITLES["step"], label,
                         y={"showticklabels": True, "matches": None})
    return style.figure(traces, layout)


# --- the learning-rate window ----------------------------------------------------------------

def lr_window_chart(points: pd.DataFrame) -> go.Figure:
    """Final validation loss against learning rate (log-log), per norm: mean over the seeds
    that finished, 95% t interval as bars; a point where any seed diverged or failed to train
    is hollow, one where no seed finished is an × at the cap (lr_window.lr_points)."""
    traces = []
    for norm in style.norms_in(points):
        rows = points[points["norm"] == norm].sort_values("lr")
        mean = rows["mean_val_loss"].to_numpy(float)
        shown = np.where(np.isfinite(mean), np.minimum(mean, LOSS_CAP), LOSS_CAP)
        low = np.clip(np.nan_to_num(rows["low"].to_numpy(float), nan=shown, neginf=1e-3),
                      1e-3, None)
        high = np.clip(np.nan_to_num(rows["high"].to_numpy(float), nan=shown, posinf=LOSS_CAP),
                       None, LOSS_CAP)
        all_good = (rows["trained"] == rows["seeds"]).to_numpy()
        symbols = np.where(~np.isfinite(mean), "x", np.where(all_good, "circle", "circle-open"))
        text = [f"lr {lr:g}: {t}/{s} trained, {d} diverged" for lr, t, s, d in
                zip(rows["lr"], rows["trained"], rows["seeds"], rows["diverged"])]
        traces.append({
            "type": "scatter", "x": rows["lr"].to_numpy(), "y": shown, "text": text,
            "mode": "lines+markers", "name": norm_label(norm), "legendgroup": norm,
            "line": {"color": norm_color(norm), "width": 2.5},
            "marker": {"size": 10, "symbol": list(symbols), "line": {"width": 2}},
            "error_y": {"type": "data", "symmetric": False,
                        "array": np.maximum(high - shown, 0), "arrayminus":
                        np.maximum(shown - low, 0), "color": norm_color(norm)},
            "hovertemplate": "%{text}<br>mean final loss %{y:.3g} nats<extra></extra>"})
    lrs = sorted(points["lr"].unique()) if len(points) else []
    return style.figure(traces, style.layout(
        "Final validation loss by learning rate (× = no seed finished)",
        "learning rate (log scale)", "final validation loss (nats, log scale)",
        xaxis={"type": "log", "tickvals": lrs, "ticktext": [f"{lr:g}" for lr in lrs]},
        yaxis={"type": "log", "range": [math.log10(0.05), math.log10(LOSS_CAP * 1.5)]},
        margin={"b": 110}, height=440))


def windows_chart(windows: pd.DataFrame, lrs) -> go.Figure:
    """Each norm's stable window as a bar over the learning-rate axis (log scale), labelled
    with its width in decades (lr_window.stable_windows)."""
    traces = []
    for norm in style.norms_in(windows):
        row = windows[windows["norm"] == norm].iloc[0]
        if not math.isfinite(row["low_lr"]):
            continue
        traces.append({
            "type": "scatter", "x": [row["low_lr"], row["high_lr"]],
            "y": [norm_label(norm)] * 2, "mode": "lines+markers+text",
            "name": norm_label(norm), "line": {"color": norm_color(norm), "width": 14},
            "marker": {"size": 14, "color": norm_color(norm)},
            "text": ["", f"  {row['decades']:.1f} decades"], "textposition": "middle right",
            "hovertemplate": f"{row['low_lr']:g} to {row['high_lr']:g}<extra></extra>"})
    lrs = sorted(lrs)
    return style.figure(traces, style.layout(
        "Stable window: learning rates at which every seed trained",
        "learning rate (log scale)", "", height=300, showlegend=False,
        xaxis={"type": "log", "tickvals": lrs, "ticktext": [f"{lr:g}" for lr in lrs],
               "range": [math.log10(min(lrs)) - 0.3, math.log10(max(lrs)) + 0.8] if lrs
               else None},
        yaxis={"autorange": "reversed"}))


# --- see the data ------------------------------------------------------------------------------

def _class_scale(classes: int, alpha: float = 0.35) -> list:
    """A stepped colour scale with one light band per class, for z = class index."""
    scale = []
    for k in range(classes):
        color = style.rgba(CLASS_COLORS[k % len(CLASS_COLORS)], alpha)
        scale += [[k / classes, color], [(k + 1) / classes, color]]
    return scale


def decision_regions_grid(points: pd.DataFrame, regions: pd.DataFrame,
                          accuracy: pd.DataFrame, max_points: int = 300) -> go.Figure:
    """Rows = norms, columns = snapshot steps: the predicted class over the plane (light) with
    the training points on top (their true class, dark), each panel titled with its
    validation accuracy (data_view.decision_regions)."""
    norms = style.norms_in(regions)
    steps = sorted(regions["step"].unique())
    return _region_panels(points, regions, accuracy, [[(norm, step) for step in steps]
                                                      for norm in norms],
                          "Decision regions during training, per norm", 260, max_points)


def decision_regions_now(points: pd.DataFrame, regions: pd.DataFrame, accuracy: pd.DataFrame,
                         max_points: int = 300, height: int = 420) -> go.Figure:
    """The norms side by side, each at its latest step in `regions`: the live view of
    data_view.decision_regions (one frame of its progress, or the whole result's last)."""
    norms = style.norms_in(regions)
    latest = regions.groupby("norm", observed=True)["step"].max()
    return _region_panels(points, regions, accuracy,
                          [[(norm, int(latest[norm])) for norm in norms]],
                          "Decision regions as the networks train", height - 80, max_points)


def _region_panels(points: pd.DataFrame, regions: pd.DataFrame, accuracy: pd.DataFrame,
                   cells: list[list[tuple[str, int]]], title: str, row_height: int,
                   max_points: int) -> go.Figure:
    """A grid of (norm, step) panels: each the predicted class over the plane (light) with
    the training points on top (their true class, dark), titled with its validation accuracy."""
    rows, columns = len(cells), max((len(row) for row in cells), default=0)
    classes = int(max(points["label"].max(), regions["predicted"].max())) + 1 if len(points) else 1
    train = points[points["split"] == "train"]
    train = train.iloc[:: max(1, len(train) // max_points)]
    dots = {"type": "scatter", "x": train["x"].to_numpy(), "y": train["y"].to_numpy(),
            "mode": "markers", "hoverinfo": "skip",
            "marker": {"size": 4, "color": [CLASS_COLORS[k % len(CLASS_COLORS)]
                                            for k in train["label"]],
                       "line": {"width": 0.5, "color": "#333333"}}}
    gap, rows_gap = 0.02, 0.08
    width = (1 - gap * (columns - 1)) / max(columns, 1)
    height = (1 - rows_gap * (rows - 1)) / max(rows, 1)
    layout = style.layout(title, "", "", height=row_height * rows + 80, showlegend=False,
                          margin={"t": 70, "b": 30, "l": 30, "r": 10})
    layout.pop("xaxis"), layout.pop("yaxis")
    traces, annotations = [], []
    accuracy = accuracy.set_index(["norm", "step"])["val_accuracy"]
    for r, row in enumerate(cells):
        for c, (norm, step) in enumerate(row):
            n = r * columns + c + 1
            suffix = "" if n == 1 else str(n)
            cell = regions[(regions["norm"] == norm) & (regions["step"] == step)]
            xs, ys = np.unique(cell["x"].to_numpy()), np.unique(cell["y"].to_numpy())
            # float: plotly.js reads no int64 typed arrays, and the regions came out garbled
            z = cell.pivot(index="y", columns="x", values="predicted").to_numpy(float)
            axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
            traces.append({"type": "heatmap", "x": xs, "y": ys, "z": z, "zmin": -0.5,
                           "zmax": classes - 0.5, "colorscale": _class_scale(classes),
                           "showscale": False, "hoverinfo": "skip", **axes})
            traces.append({**dots, **axes})
            x0 = c * (width + gap)
            y1 = 1 - r * (height + rows_gap)
            layout[f"xaxis{suffix}"] = {"domain": [x0, min(x0 + width, 1)],
                                        "anchor": f"y{suffix}", "showticklabels": False,
                                        "ticks": "", "showgrid": False, "zeroline": False,
                                        "range": [xs[0], xs[-1]]}
            layout[f"yaxis{suffix}"] = {"domain": [max(y1 - height, 0), y1],
                                        "anchor": f"x{suffix}", "showticklabels": False,
                                        "ticks": "", "showgrid": False, "zeroline": False,
                                        "range": [ys[0], ys[-1]],
                                        "scaleanchor": f"x{suffix}"}
            score = accuracy.get((norm, step), math.nan)
            annotations.append({"text": f"{norm_label(norm)}, step {step}: "
                                        f"{100 * score:.0f}% val.",
                                "showarrow": False, "xref": f"x{suffix} domain",
                                "yref": f"y{suffix} domain", "x": 0.5, "y": 1.0,
                                "yanchor": "bottom",
                                "font": {"color": norm_color(norm), "size": 12}})
    layout["annotations"] = annotations
    return style.figure(traces, layout)


def misclassified_digits_chart(digits: pd.DataFrame, per_row: int = 8) -> go.Figure:
    """Rows = norms: the validation digits each network got wrong, as small images titled
    "true → predicted (confidence)" (data_view.misclassified_digits)."""
    norms = style.norms_in(digits)
    traces, annotations = [], []
    layout = style.layout("Misclassified validation digits, per norm", "", "",
                          height=150 * max(len(norms), 1) + 60, showlegend=False,
                          margin={"t": 60, "b": 20, "l": 90, "r": 10})
    layout.pop("xaxis"), layout.pop("yaxis")
    gap, rows_gap = 0.015, 0.18
    width = (1 - gap * (per_row - 1)) / per_row
    height = (1 - rows_gap * (len(norms) - 1)) / max(len(norms), 1)
    n = 0
    for r, norm in enumerate(norms):
        examples = list(dict.fromkeys(digits.loc[digits["norm"] == norm, "example"]))[:per_row]
        y1 = 1 - r * (height + rows_gap)
        annotations.append({"text": norm_label(norm), "showarrow": False, "xref": "paper",
                            "yref": "paper", "x": -0.01, "y": y1 - height / 2,
                            "xanchor": "right", "font": {"color": norm_color(norm)}})
        for c, example in enumerate(examples):
            n += 1
            suffix = "" if n == 1 else str(n)
            pixels = digits[(digits["norm"] == norm) & (digits["example"] == example)]
            first = pixels.iloc[0]
            image = pixels.pivot(index="row", columns="col", values="ink").to_numpy()
            traces.append({"type": "heatmap", "z": image, "zmin": 0, "zmax": 1,
                           "colorscale": "Greys", "reversescale": True, "showscale": False,
                           "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
                           "hovertemplate": f"true {first['true']}, predicted "
                                            f"{first['predicted']}<extra></extra>"})
            x0 = c * (width + gap)
            layout[f"xaxis{suffix}"] = {"domain": [x0, min(x0 + width, 1)],
                                        "anchor": f"y{suffix}", "visible": False}
            layout[f"yaxis{suffix}"] = {"domain": [max(y1 - height, 0), y1],
                                        "anchor": f"x{suffix}", "visible": False,
                                        "autorange": "reversed",
                                        "scaleanchor": f"x{suffix}"}
            annotations.append({"text": f"{first['true']} → {first['predicted']} "
                                        f"({100 * first['confidence']:.0f}%)",
                                "showarrow": False, "xref": f"x{suffix} domain",
                                "yref": f"y{suffix} domain", "x": 0.5, "y": 1.0,
                                "yanchor": "bottom", "font": {"size": 11}})
    layout["annotations"] = annotations
    return style.figure(traces, layout)
