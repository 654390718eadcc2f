"""The transformer lesson's figures (normlab.lessons.transformer): warm-up curves and final
losses with intervals, gradients per block at initialisation, the norms' race."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from normlab.plots.style import AXIS_TITLES, figure, layout, norm_color, norm_label

SETTING_COLORS = {("before", False): "#0072B2", ("before", True): "#56B4E9",
                  ("after", False): "#D55E00", ("after", True): "#E69F00"}


def _setting(position: str, warmup_steps: int) -> str:
    from normlab.lessons.transformer import setting_label  # the lesson names its settings

    return setting_label(position, int(warmup_steps))


def warmup_curves(curves: pd.DataFrame, so_far: str = "") -> go.Figure:
    """Training loss (10-step means, averaged over seeds) by step, one line per setting;
    `so_far` ("1 of 3 seeds so far") goes under the title while the sweep trains."""
    traces = []
    for (position, warmup), rows in curves.groupby(["position", "warmup_steps"], sort=False):
        mean = rows.groupby("step")["train_loss"].mean()
        traces.append({"type": "scatter", "mode": "lines", "name": _setting(position, warmup),
                       "x": mean.index.tolist(), "y": mean.tolist(),
                       "line": {"color": SETTING_COLORS.get((position, bool(warmup)))}})
    return figure(traces, layout(_titled("Training loss: pre-LN vs post-LN, ± warm-up",
                                         so_far or "mean over seeds"),
                                 AXIS_TITLES["step"], AXIS_TITLES["train_loss"],
                                 margin={"t": 70}))


def _titled(title: str, line: str) -> str:
    """A title short enough for a phone, and a smaller second line under it."""
    return f"{title}<br><sup>{line}</sup>"


def _bars(rows: pd.DataFrame, names: list[str], colors: list[str | None]) -> dict:
    return {"type": "bar", "x": names, "y": rows["mean"].tolist(), "marker": {"color": colors},
            "error_y": {"type": "data", "symmetric": False,
                        "array": (rows["high"] - rows["mean"]).tolist(),
                        "arrayminus": (rows["mean"] - rows["low"]).tolist()},
            "showlegend": False}


def warmup_final_loss(intervals: pd.DataFrame) -> go.Figure:
    """Final validation loss per setting: mean over seeds and its 95% t interval."""
    rows = intervals[intervals["metric"] == "val_loss"]
    names = [_setting(p, w) for p, w in zip(rows["position"], rows["warmup_steps"])]
    colors = [SETTING_COLORS.get((p, bool(w))) for p, w in zip(rows["position"],
                                                               rows["warmup_steps"])]
    return figure([_bars(rows, names, colors)],
                  layout("Final validation loss (mean over seeds, 95% interval)", "setting",
                         "validation cross-entropy (nats per digit)"))


def gradient_by_block(gradients: pd.DataFrame) -> go.Figure:
    """Weight-gradient norm per block at initialisation: a line per (position, matrix)."""
    traces = []
    for (position, matrix), rows in gradients.groupby(["position", "matrix"], sort=False):
        main = "W²" in matrix
        traces.append({"type": "scatter", "mode": "lines+markers",
                       "name": f"{_setting(position, 0).split(',')[0]}: {matrix}",
                       "x": rows["layer"].tolist(), "y": rows["grad_norm"].tolist(),
                       "line": {"color": SETTING_COLORS[(position, False)],
                                "width": 3 if main else 1, "dash": None if main else "dot"}})
    return figure(traces, layout("Gradient norm per block at initialisation (one batch)",
                                 "block (0 = nearest the input)", "‖∇W‖ (Frobenius norm)"))


def race_final_loss(intervals: pd.DataFrame, so_far: str = "") -> go.Figure:
    """Final validation loss per norm at equal steps and at equal time, with intervals;
    `so_far` ("5 of 18 runs so far") goes under the title while the race trains."""
    traces = []
    for budget, rows in intervals[intervals["metric"] == "val_loss"].groupby("budget",
                                                                             sort=False):
        bars = _bars(rows, [norm_label(n) for n in rows["norm"]],
                     [norm_color(n) for n in rows["norm"]])
        traces.append({**bars, "name": budget, "showlegend": True,
                       "marker": {"color": [norm_color(n) for n in rows["norm"]],
                                  "pattern": {"shape": "" if budget == "equal steps" else "/"}}})
    return figure(traces, layout(_titled("Validation loss: equal steps, equal time",
                                         so_far or "mean over seeds, 95% interval"), "norm",
                                 "validation cross-entropy (nats per digit)", barmode="group",
                                 margin={"t": 70}))
