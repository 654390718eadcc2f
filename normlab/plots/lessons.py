"""Plot builders for the lessons: the frames of normlab.lessons in, plotly Figures out.

The same conventions as plots.style: a title, axis titles with units, one colour per norm
(`norm_color`), and only a few hundred numbers per trace. Colours for what is not a norm (BN
momentum, implementation) are fixed here, so a momentum looks the same in every chart.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from normlab.plots import style
from normlab.plots.style import (
    AXIS_TITLES,
    norm_color,
    norm_label,
)

# A viridis ramp (light to dark) for BN momentums; None, a cumulative average, stands apart.
MOMENTUM_COLORS = {"0.001": "#b5de2b", "0.01": "#35b779", "0.1": "#26828e", "0.5": "#3e4989",
                   "1": "#440154", "None (cumulative)": "#CC3399"}
IMPLEMENTATION_DASH = {"normlab": "solid", "torch": "dash", "naive": "dot",
                       "torch.compile": "dashdot"}
IMPLEMENTATION_PATTERN = {"normlab": "", "torch": "/", "naive": ".", "torch.compile": "x"}
IMPLEMENTATION_SYMBOL = {"normlab": "circle", "torch": "square", "naive": "diamond",
                         "torch.compile": "triangle-up"}
TRUTH_COLOR = "#999999"  # the true value a running statistic should track
WIDE = {"margin": {"b": 110}, "height": 420}  # room for a horizontal legend under the x title


def momentum_color(label: str) -> str:
    return MOMENTUM_COLORS.get(label, "#555555")


def _log_batch_axis(batch_sizes) -> dict:
    """A log x axis with a tick at every batch size tried."""
    ticks = sorted({int(b) for b in batch_sizes})
    return {"type": "log", "tickvals": ticks, "ticktext": [str(t) for t in ticks]}


def _seed_spread(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Mean, min and max of `value` over seeds, per `keys` (NaN rows dropped)."""
    rows = frame.dropna(subset=[value])
    return rows.groupby(keys)[value].agg(["mean", "min", "max", "count"]).reset_index()


# --- 1. batch size ----------------------------------------------------------------------------

BUDGET_TITLES = {"examples": "same examples seen", "steps": "same steps"}


def batch_size_curves(frame: pd.DataFrame, metric: str = "val_accuracy",
                      budget: str = "examples") -> go.Figure:
    """Validation accuracy (or error, metric="val_error") in % against batch size, per norm.

    frame: batch_size_sweep rows (a val_error column for the error), or batch_size_study rows,
    of which those of `budget` are drawn. Points are means over seeds; error bars span the
    seeds' min to max. Refused and diverged runs are left out.
    """
    if "budget" in frame.columns:
        frame = frame[frame["budget"] == budget]
    finished = frame[frame["status"] == "finished"]
    stats = _seed_spread(finished, ["norm", "batch_size"], metric)
    traces = []
    for norm in style.norms_in(stats):
        rows = stats[stats["norm"] == norm].sort_values("batch_size")
        mean = 100 * rows["mean"].to_numpy()
        traces.append({
            "type": "scatter", "x": rows["batch_size"].to_numpy(), "y": mean,
            "mode": "lines+markers", "name": norm_label(norm), "legendgroup": norm,
            "line": {"color": norm_color(norm), "width": 2.5}, "marker": {"size": 8},
            "error_y": {"type": "data", "symmetric": False,
                        "visible": bool(rows["count"].max() > 1),
                        "array": 100 * rows["max"].to_numpy() - mean,
                        "arrayminus": mean - 100 * rows["min"].to_numpy(),
                        "color": norm_color(norm)},
        })
    error = metric == "val_error"
    title = ("Validation error by batch size" if error else
             "Validation accuracy by batch size") + f" ({BUDGET_TITLES.get(budget, budget)})"
    y = "validation error (%)" if error else AXIS_TITLES["val_accuracy"]
    return style.figure(traces, style.layout(
        title, "batch size (examples per step, log scale)", y,
        xaxis=_log_batch_axis(frame["batch_size"]), **WIDE))


def train_eval_gap(frame: pd.DataFrame) -> go.Figure:
    """Train-mode minus eval-mode validation accuracy (percentage points) against batch size.

    Batch norm evaluates with its running statistics, every other norm the same way in both
    modes: a gap away from 0 is batch norm's train/eval mismatch.
    """
    finished = frame[frame["status"] == "finished"].assign(
        gap=lambda f: 100 * (f["train_mode_val_accuracy"] - f["val_accuracy"]))
    stats = _seed_spread(finished, ["norm", "batch_size"], "gap")
    traces = [{"type": "scatter", "x": rows["batch_size"].to_numpy(), "y": rows["mean"].to_numpy(),
               "mode": "lines+markers", "name": norm_label(norm), "legendgroup": norm,
               "line": {"color": norm_color(norm), "width": 2.5}, "marker": {"size": 8}}
              for norm in style.norms_in(stats)
              for rows in [stats[stats["norm"] == norm].sort_values("batch_size")]]
    return style.figure(traces, style.layout(
        "Train mode minus eval mode: validation accuracy gap",
        "batch size (examples per step, log scale)", "accuracy gap (percentage points)",
        xaxis=_log_batch_axis(frame["batch_size"]), yaxis={"zeroline": True}, **WIDE))


# --- 2. batch dependence ----------------------------------------------------------------------

def batch_dependence_boxes(outputs: pd.DataFrame) -> go.Figure:
    """One panel per norm: per unit, a box of the fixed example's output over the trials."""
    norms = style.norms_in(outputs)
    trials = outputs["trial"].nunique() if len(outputs) else 0
    layout = style.layout(f"One example's output in {trials} different batches", "", "output value "
                          "(unitless)", height=400, margin={"t": 80, "b": 60}, showlegend=False)
    traces = []
    for i, (norm, domain) in enumerate(zip(norms, style.panels(len(norms), gap=0.02))):
        rows = outputs[outputs["norm"] == norm]
        suffix = "" if i == 0 else str(i + 1)
        traces.append({"type": "box", "x": rows["unit"].to_numpy(), "y": rows["value"].to_numpy(),
                       "name": norm_label(norm), "marker": {"color": norm_color(norm), "size": 3},
                       "line": {"color": norm_color(norm), "width": 1.5},
                       "fillcolor": style.rgba(norm_color(norm), 0.25), "boxpoints": "all",
                       "jitter": 0.4, "pointpos": 0, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
        style.panel_axes(layout, i, domain, "unit (index)", norm_label(norm),
                         x={"showticklabels": False}, label_font={"color": norm_color(norm)})
    return style.figure(traces, layout)


def batch_dependence_spread(summary: pd.DataFrame) -> go.Figure:
    """Per norm, the largest std of one output unit across the batches (0: no dependence)."""
    norms = style.norms_in(summary)
    spread = summary.set_index("norm")["max_std"]
    trace = {"type": "bar", "x": [norm_label(n) for n in norms], "y": [spread[n] for n in norms],
             "marker": {"color": [norm_color(n) for n in norms]},
             "text": [f"{spread[n]:.2g}" for n in norms], "textposition": "outside",
             "showlegend": False}
    return style.figure([trace], style.layout(
        "How far the batch mates move the example's output",
        "norm", "largest std of one unit across batches (unitless)",
        height=360, showlegend=False))


# --- 3. batch norm in training vs eval mode ---------------------------------------------------

def running_stat_traces(trace: pd.DataFrame, statistic: str = "mean") -> go.Figure:
    """BN's running mean (or var) per momentum over the steps, against the true value.

    trace: running_stats_trace rows. The batch estimates (the same batches for every momentum)
    are drawn once as faint dots.
    """
    rows = trace[trace["statistic"] == statistic]
    first = rows[rows["momentum"] == rows["momentum"].iloc[0]] if len(rows) else rows
    traces = [{"type": "scatter", "x": first["step"].to_numpy(), "y": first["batch"].to_numpy(),
               "mode": "markers", "name": "one batch's estimate", "legendrank": 1,
               "marker": {"color": style.rgba(TRUTH_COLOR, 0.35), "size": 4}}]
    labels = list(rows["momentum"].unique())
    # The jumpiest (largest momentum) underneath, so the smooth ones stay visible on top.
    for label in sorted(labels, key=lambda m: -float(m) if m[0].isdigit() else math.inf):
        one = rows[rows["momentum"] == label]
        traces.append({"type": "scatter", "x": one["step"].to_numpy(),
                       "y": one["running"].to_numpy(), "mode": "lines",
                       "name": f"momentum {label}", "legendgroup": label,
                       "legendrank": 10 + labels.index(label),
                       "line": {"color": momentum_color(label), "width": 2.5}})
    traces.append({"type": "scatter", "x": first["step"].to_numpy(),
                   "y": first["true"].to_numpy(), "mode": "lines", "name": "true value",
                   "legendrank": 2, "line": {"color": "#444444", "width": 2, "dash": "dash"}})
    word = {"mean": "mean", "var": "variance"}[statistic]
    return style.figure(traces, style.layout(
        f"running_{statistic} vs the true {word}",
        "step (batches seen)", f"{word} (unitless)", **WIDE))


def variance_bias(frame: pd.DataFrame) -> go.Figure:
    """Average biased and unbiased batch variance / true variance by batch size, with theory."""
    traces = []
    styles = {"biased": ("#D55E00", "normalises the batch (biased, ÷n)"),
              "unbiased": ("#0072B2", "stored in running_var (unbiased, ÷(n−1))")}
    for estimator, (color, name) in styles.items():
        rows = frame[frame["estimator"] == estimator].sort_values("batch_size")
        traces += [
            {"type": "scatter", "x": rows["batch_size"].to_numpy(), "y": rows["theory"].to_numpy(),
             "mode": "lines", "name": f"theory: {'(n−1)/n' if estimator == 'biased' else '1'}",
             "line": {"color": color, "width": 1.5, "dash": "dash"}, "legendgroup": estimator},
            {"type": "scatter", "x": rows["batch_size"].to_numpy(), "y": rows["ratio"].to_numpy(),
             "mode": "markers", "name": name, "legendgroup": estimator,
             "marker": {"color": color, "size": 10}},
        ]
    return style.figure(traces, style.layout(
        "Batch variance / true variance, averaged over many batches",
        "batch size n (examples, log scale)",
        "average estimate / true variance (ratio)",
        xaxis=_log_batch_axis(frame["batch_size"]), **WIDE))


def eval_vs_train_mode(frame: pd.DataFrame) -> go.Figure:
    """Validation accuracy (%) in eval and in train mode per BN momentum: grouped bars.

    frame: batch_size_sweep rows of batch norm with a `momentum` label column.
    """
    labels = list(dict.fromkeys(frame["momentum"]))
    rows = frame.set_index("momentum")
    bars = [("val_accuracy", "eval mode (running statistics)", 1.0),
            ("train_mode_val_accuracy", "train mode (each batch's statistics)", 0.45)]
    traces = [{"type": "bar", "name": name, "x": [f"momentum {m}" for m in labels],
               "y": [100 * rows.loc[m, column] for m in labels],
               "marker": {"color": [style.rgba(momentum_color(m), alpha) for m in labels],
                          "line": {"color": [momentum_color(m) for m in labels], "width": 1.5}},
               "text": [f"{100 * rows.loc[m, column]:.0f}%" for m in labels],
               "textposition": "outside"}
              for column, name, alpha in bars]
    return style.figure(traces, style.layout(
        "Batch norm: the same validation set in eval and train mode",
        "BN momentum (weight of each new batch)",
        AXIS_TITLES["val_accuracy"], barmode="group",
        yaxis={"range": [0, 105]}, **WIDE))


# --- 4. depth ---------------------------------------------------------------------------------

def _gain_panels(frame: pd.DataFrame, x: str, y: str, title: str, x_title: str, y_title: str,
                 log_y: bool = False, failed: pd.Series | None = None, panel: str = "gain",
                 panel_label: str = "init gain {:g}", x_axis: dict | None = None) -> go.Figure:
    """One panel per init gain (or `panel`), one line per norm; `failed` rows drawn as crosses
    at the top."""
    gains = sorted(frame[panel].unique())
    layout = style.layout(title, "", y_title, margin={"t": 80, "b": 110}, height=420)
    if log_y:
        layout["yaxis"] = {**layout["yaxis"], "type": "log", "exponentformat": "power"}
    shown = frame[y] if failed is None else frame.loc[~failed, y]  # a diverged loss may be 1e27
    finite = shown[np.isfinite(shown)]
    top = (finite.max() * (3 if log_y else 1.1)) if len(finite) else 1.0
    traces, shown = [], set()
    for i, (gain, domain) in enumerate(zip(gains, style.panels(len(gains)))):
        suffix = "" if i == 0 else str(i + 1)
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        for norm in style.norms_in(frame):
            rows = frame[(frame[panel] == gain) & (frame["norm"] == norm)].sort_values(x)
            ok = rows if failed is None else rows[~failed.loc[rows.index]]
            traces.append({"type": "scatter", "x": ok[x].to_numpy(), "y": ok[y].to_numpy(),
                           "mode": "lines+markers", "name": norm_label(norm), "legendgroup": norm,
                           "showlegend": norm not in shown, "marker": {"size": 7},
                           "line": {"color": norm_color(norm), "width": 2.5}, **axes})
            shown.add(norm)
            bad = rows.iloc[0:0] if failed is None else rows[failed.loc[rows.index]]
            if len(bad):
                traces.append({"type": "scatter", "x": bad[x].to_numpy(),
                               "y": np.full(len(bad), top), "mode": "markers",
                               "name": "diverged (drawn at the top)", "legendgroup": "diverged",
                               "showlegend": "diverged" not in shown, **axes,
                               "marker": {"symbol": "x", "size": 12, "color": norm_color(norm)}})
                shown.add("diverged")
        style.panel_axes(layout, i, domain, x_title, panel_label.format(gain),
                         x=x_axis, y={"type": "log"} if log_y else None)
    return style.figure(traces, layout)


def depth_final_loss(summary: pd.DataFrame) -> go.Figure:
    """Final training loss against depth, one panel per init gain; diverged runs as crosses."""
    summary = summary[summary["status"] != "refused"].reset_index(drop=True)
    failed = summary["status"] != "finished"
    return _gain_panels(summary, "depth", "final_train_loss", "Final training loss by depth",
                        "depth (hidden layers)", "final train cross-entropy loss (nats)",
                        failed=failed)


def depth_lr_grid(study: pd.DataFrame) -> go.Figure:
    """depth_lr_study: mean final training loss over seeds against the learning rate, one
    panel per depth, one line per norm: the grid each norm's best lr is picked from."""
    means = study.groupby(["norm", "depth", "lr"])["final_train_loss"].mean().reset_index()
    lrs = sorted(means["lr"].unique())
    return _gain_panels(means, "lr", "final_train_loss",
                        "Final training loss by learning rate (mean over seeds)",
                        "learning rate (log scale)", "final train cross-entropy loss (nats)",
                        panel="depth", panel_label="{:g} hidden layers",
                        x_axis={"type": "log", "tickvals": lrs,
                                "ticktext": [f"{lr:g}" for lr in lrs]})


def depth_first_gradient(summary: pd.DataFrame) -> go.Figure:
    """The first hidden layer's weight-gradient norm at step 0 against depth (log y)."""
    summary = summary.dropna(subset=["first_layer_grad_norm"])
    return _gain_panels(summary, "depth", "first_layer_grad_norm",
                        "First layer's gradient at step 0, by depth (log scale)",
                        "depth (hidden layers)", "‖∇W‖ of the first layer (log scale)",
                        log_y=True)


def activation_std_by_layer(layers: pd.DataFrame, depth: int) -> go.Figure:
    """Std of each layer's linear output at initialisation (log y), for one depth."""
    rows = layers[layers["depth"] == depth]
    return _gain_panels(rows, "layer", "pre_norm_std",
                        f"Std of each layer's output at initialisation ({depth} layers, log scale)",
                        AXIS_TITLES["layer"], "std of the linear output (log scale)", log_y=True)


# --- 5. invariances ---------------------------------------------------------------------------

def invariance_heatmap(table: pd.DataFrame) -> go.Figure:
    """log₁₀ of the largest output change per transformation (rows) and norm (columns), laid
    out like the tables beside it; three columns leave the row names room on a phone."""
    norms = list(dict.fromkeys(table["norm"]))
    transformations = list(dict.fromkeys(table["transformation"]))
    grid = table.pivot(index="transformation", columns="norm", values="max_change")
    grid = grid.reindex(index=transformations, columns=norms)
    values = grid.to_numpy(dtype=float)
    z = np.log10(np.maximum(values, 1e-17))
    text = [[f"{'✓' if v < 1e-3 else '✗'} {v:.1g}" for v in row] for row in values]
    trace = {"type": "heatmap", "x": [norm_label(n) for n in norms], "y": transformations,
             "z": z, "text": text, "texttemplate": "%{text}", "zmin": -16, "zmax": 1,
             "colorscale": [[0, "#1a9850"], [0.75, "#fee08b"], [1, "#d73027"]],
             "colorbar": {"title": {"text": "log₁₀<br>change"}, "thickness": 12},
             "hovertemplate": "%{x}, %{y}<br>largest change %{text}<extra></extra>"}
    return style.figure([trace], style.layout(
        "Largest change of any output value (✓ under 10⁻³)",
        "norm", "transformation", height=360,
        yaxis={"autorange": "reversed", "automargin": True}, showlegend=False))


# --- 6. speed ---------------------------------------------------------------------------------

def speed_times(times: pd.DataFrame) -> go.Figure:
    """Median forward+backward time against input size (log-log): colour = norm, dash and
    marker = implementation."""
    ok = times[times["status"] == "ok"].assign(elements=lambda f: f["rows"] * f["features"])
    traces = []
    for implementation in dict.fromkeys(ok["implementation"]):
        for norm in style.norms_in(ok):
            rows = ok[(ok["implementation"] == implementation) & (ok["norm"] == norm)]
            rows = rows.sort_values("elements")
            traces.append({
                "type": "scatter", "x": rows["elements"].to_numpy(),
                "y": rows["median_ms"].to_numpy(), "text": rows["size"].to_numpy(),
                "mode": "lines+markers", "name": f"{norm_label(norm)} · {implementation}",
                "legendgroup": implementation,
                "line": {"color": norm_color(norm), "width": 2,
                         "dash": IMPLEMENTATION_DASH.get(implementation, "solid")},
                "marker": {"size": 9, "symbol": IMPLEMENTATION_SYMBOL.get(implementation)},
                "hovertemplate": "%{text}: %{y:.3g} ms<extra>%{fullData.name}</extra>"})
    sizes = ok.drop_duplicates("elements").sort_values("elements")
    xaxis = {"type": "log", "tickvals": sizes["elements"].to_numpy(),
             "ticktext": [f"{s}<br>{e:,}" for s, e in zip(sizes["size"], sizes["elements"])]}
    return style.figure(traces, style.layout(
        "Forward + backward time by input size",
        "input size (rows × features, and elements; log scale)",
        "median time (ms, log scale)", xaxis=xaxis,
        yaxis={"type": "log", "dtick": 1}, margin={"b": 170},
        legend={"y": -0.42},  # under the two-line size labels and the axis title
        height=510))


VERDICT_WORDS = {"holds": "cheaper", "does not hold": "not cheaper", "not settled": "not settled"}


def speed_ratio(ratios: pd.DataFrame, threshold: float | None = None) -> go.Figure:
    """RMS norm's time over layer norm's per implementation and size; below 1: RMS is cheaper.

    Every bar is RMS norm's colour, as everywhere; the implementation is the bar's hatching
    (as it is the line style in speed_times). Each bar's ratio is written under it, on the
    axis (size, then implementation: a two-level axis), where no hatching, whisker or line
    crosses it. Given speed.paired_ratios (columns low, high, n, verdict), each bar has its
    95% interval as an error bar and its verdict in that label; `threshold` draws the rule
    (e.g. 0.95×) dotted.
    """
    traces, color = [], norm_color("rms")
    with_interval = {"low", "high", "n", "verdict"} <= set(ratios.columns)
    for implementation in dict.fromkeys(ratios["implementation"]):
        rows = ratios[ratios["implementation"] == implementation]
        labels = [f"{implementation}<br>{r:.2f}×" for r in rows["ratio"]]
        if with_interval:
            labels = [f"{label}<br>{VERDICT_WORDS.get(v, v)}"
                      for label, v in zip(labels, rows["verdict"])]
        trace = {"type": "bar", "x": [rows["size"].tolist(), labels],
                 "y": rows["ratio"].to_numpy(), "name": implementation,
                 "marker": {"color": style.rgba(color, 0.55), "line": {"color": color,
                                                                        "width": 1.5},
                            "pattern": {"shape": IMPLEMENTATION_PATTERN.get(implementation, ""),
                                        "fgcolor": color, "solidity": 0.3}},
                 "hovertemplate": "%{x}: %{y:.2f}×<extra></extra>"}
        if with_interval:
            finite = np.isfinite(rows["high"].to_numpy())  # one round: no interval to draw
            trace["error_y"] = {
                "type": "data", "symmetric": False, "color": "#000000", "thickness": 1.5,
                "array": np.where(finite, rows["high"] - rows["ratio"], 0.0),
                "arrayminus": np.where(finite, rows["ratio"] - rows["low"], 0.0)}
            trace["customdata"] = [
                f"{r:.2f}× [{lo:.2f}, {hi:.2f}], n = {n} rounds: {v}"
                for r, lo, hi, n, v in zip(rows["ratio"], rows["low"], rows["high"], rows["n"],
                                           rows["verdict"])]
            trace["hovertemplate"] = "%{customdata}<extra>%{fullData.name}</extra>"
        traces.append(trace)
    # a log axis: 0.5x and 2x sit as far from 1 as they are (the interval is symmetric there),
    # and one wide whisker does not flatten every other bar
    ends = np.concatenate([ratios[c].to_numpy(float) for c in
                           (("low", "high", "ratio") if with_interval else ("ratio",))] + [[1.0]])
    ends = ends[np.isfinite(ends) & (ends > 0)]
    if threshold is not None:
        ends = np.append(ends, threshold)
    low, high = float(ends.min()) / 1.25, float(ends.max()) * 1.25
    ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
             if low <= t <= high]
    yaxis = {"type": "log", "range": [math.log10(low), math.log10(high)], "tickvals": ticks,
             "ticktext": [f"{t:g}×" for t in ticks]}
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1,
               "layer": "below", "line": {"color": TRUTH_COLOR, "width": 2, "dash": "dash"}}]
    if threshold is not None:
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": threshold,
                       "y1": threshold, "layer": "below",
                       "line": {"color": TRUTH_COLOR, "width": 1.5, "dash": "dot"}})
    title = "RMS norm time ÷ layer norm time<br>(below 1×: RMS is cheaper)"  # fits a phone
    return style.figure(traces, style.layout(
        title, "input size (rows × features), implementation",
        "RMS ÷ layer time (log scale)",  # short: the caption says what the whiskers are
        barmode="overlay", bargap=0.15, yaxis=yaxis, shapes=shapes,
        xaxis={"type": "multicategory", "tickfont": {"size": 11}},
        **{**WIDE, "margin": {**WIDE["margin"], "t": 75}}))


# --- claims and presets -----------------------------------------------------------------------

def convergence_by_lr(curves: pd.DataFrame) -> go.Figure:
    """Validation accuracy (%) against step, one panel per learning rate, one line per norm."""
    lrs = sorted(curves["lr"].unique())
    layout = style.layout("Validation accuracy by step, per learning rate", "",
                          AXIS_TITLES["val_accuracy"], margin={"t": 80, "b": 110}, height=400,
                          yaxis={"range": [0, 100]})
    traces, shown = [], set()
    for i, (lr, domain) in enumerate(zip(lrs, style.panels(len(lrs)))):
        suffix = "" if i == 0 else str(i + 1)
        for norm in style.norms_in(curves):
            rows = curves[(curves["lr"] == lr) & (curves["norm"] == norm)]
            mean = rows.groupby("step")["val_accuracy"].mean()
            traces.append({"type": "scatter", "x": mean.index.to_numpy(),
                           "y": 100 * mean.to_numpy(), "mode": "lines", "name": norm_label(norm),
                           "legendgroup": norm, "showlegend": norm not in shown,
                           "line": {"color": norm_color(norm), "width": 2.5},
                           "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
            shown.add(norm)
        style.panel_axes(layout, i, domain, AXIS_TITLES["step"], f"learning rate {lr:g}")
    return style.figure(traces, layout)


def percentile_bands_by_norm(percentiles: pd.DataFrame) -> go.Figure:
    """Ioffe & Szegedy Fig 1b,c: the 15th/50th/85th percentiles over training, one panel per
    norm (percentiles: norm, step, quantile, value)."""
    norms = style.norms_in(percentiles)
    layout = style.layout("Last hidden layer's sigmoid input: 15th, 50th, 85th percentiles", "",
                          "sigmoid input (unitless)", margin={"t": 80, "b": 110}, height=400)
    traces = []
    for i, (norm, domain) in enumerate(zip(norms, style.panels(len(norms), gap=0.05))):
        suffix = "" if i == 0 else str(i + 1)
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        wide = percentiles[percentiles["norm"] == norm].pivot(index="step", columns="quantile",
                                                              values="value")
        steps, color = wide.index.to_numpy(), norm_color(norm)
        traces += [
            {"type": "scatter", "x": steps, "y": wide[0.85].to_numpy(), "mode": "lines",
             "line": {"color": color, "width": 1}, "name": f"{norm_label(norm)}: 15th–85th",
             "legendgroup": norm, "showlegend": False, **axes},
            {"type": "scatter", "x": steps, "y": wide[0.15].to_numpy(), "mode": "lines",
             "line": {"color": color, "width": 1}, "fill": "tonexty",
             "fillcolor": style.rgba(color, 0.3),
             "name": f"{norm_label(norm)}: 15th–85th percentile", "legendgroup": norm, **axes},
            {"type": "scatter", "x": steps, "y": wide[0.5].to_numpy(), "mode": "lines",
             "line": {"color": color, "width": 2.5}, "name": f"{norm_label(norm)}: median",
             "legendgroup": norm, **axes},
        ]
        style.panel_axes(layout, i, domain, AXIS_TITLES["step"], norm_label(norm),
                         y={"showticklabels": True})
    return style.figure(traces, layout)


def curves_by_batch_size(metrics: pd.DataFrame, metric: str = "val_accuracy",
                         x: str = "step") -> go.Figure:
    """Validation accuracy (%) or loss against `x` (step, or examples seen, which puts batch
    sizes on one footing): colour = norm, dash = batch size."""
    sizes = sorted(metrics["batch_size"].unique(), reverse=True)
    dashes = ["solid", "dot", "dash", "dashdot"]
    traces = []
    for norm in style.norms_in(metrics):
        for size, dash in zip(sizes, dashes * len(sizes)):
            rows = metrics[(metrics["norm"] == norm) & (metrics["batch_size"] == size)]
            scale = 100 if metric == "val_accuracy" else 1
            traces.append({"type": "scatter", "x": rows[x].to_numpy(),
                           "y": scale * rows[metric].to_numpy(), "mode": "lines",
                           "name": f"{norm_label(norm)}, batch {size}", "legendgroup": norm,
                           "line": {"color": norm_color(norm), "width": 2.5, "dash": dash}})
    title = {"val_accuracy": "Validation accuracy", "val_loss": "Validation loss"}[metric]
    return style.figure(traces, style.layout(
        f"{title} by {'step' if x == 'step' else 'examples seen'}, per batch size",
        AXIS_TITLES[x], AXIS_TITLES[metric], **WIDE))


# --- concepts ------------------------------------------------------------------------------

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
    layout = style.layout(
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
    return style.figure(traces, layout)
