"""The live lab's run: a Job on the server's Scheduler held in st.session_state, the buttons'
callbacks (Train, Pause, Step, Reset, Stop, Pin), the runs drawn faded under it, and the five
live charts laid out small (`charts`).

Training happens on the scheduler's thread, never in a script run, so the page's fragment can
redraw while it trains and a button click never waits on a step. What the page draws is
`look()`: the latest snapshot as a detached copy, saved under LIVE_RUN_KEY for the inspector.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from appkit.live_chart import Slot
from appkit.runs import LIVE_RUN_KEY, run_store
from appkit.runs import scheduler as _scheduler  # the server's one Scheduler
from appkit.scheduler import Full
from appkit.show import tagged
from appkit.url import URL_FIELDS
from normlab import plots
from normlab.config import ConfigError, TrainConfig
from normlab.engine import Run

JOB_KEY = "live_job"
PREVIOUS_KEY = "live_previous"  # the run shown before the current one started
PINNED_KEY = "live_pinned"  # a run the student pinned: drawn until unpinned
NOTICE_KEY = "live_notice"  # why a Train did not start (the server is full)
ERROR_KEY = "live_error"  # why these settings cannot train (a ConfigError's message)
ACTIVE = ("waiting", "training")
EMPTY_METRICS = pd.DataFrame(columns=["step", "train_loss", "val_loss", "val_accuracy"])


def job():
    return st.session_state.get(JOB_KEY)


def error() -> str | None:
    """Why the last Train could not start or train (a ConfigError's message), or None."""
    current = job()
    return current.error if current is not None and current.error else \
        st.session_state.get(ERROR_KEY)


def state() -> str:
    """"idle" (no job), or the job's state: waiting, training, paused, done."""
    current = job()
    return "idle" if current is None else current.state


def look() -> Run | None:
    """The run to draw: the job's latest snapshot (also the scheduler's heartbeat), or the
    session's last run when no job is running."""
    current = job()
    if current is None:
        return st.session_state.get(LIVE_RUN_KEY)
    run = _scheduler().look(current)  # None: reset, or queued, before its first snapshot
    if run is not None:
        st.session_state[LIVE_RUN_KEY] = run
    return run


def start(cfg: TrainConfig, snapshots: int | None = None) -> None:
    """A new run of `cfg` (replayed at once if the server has it and it is to run to the end);
    the run on screen becomes the faded "previous" one."""
    scheduler, current = _scheduler(), job()
    if current is not None and current.state != "done":
        scheduler.cancel(current)
    shown = st.session_state.get(LIVE_RUN_KEY)
    if shown is not None and len(shown.metrics) > 1:
        st.session_state[PREVIOUS_KEY] = shown
    st.session_state.pop(NOTICE_KEY, None)
    st.session_state.pop(ERROR_KEY, None)
    st.session_state["live_replayed"] = False
    if snapshots is None and (run := run_store().get(cfg)) is not None:
        st.session_state[JOB_KEY] = None
        st.session_state[LIVE_RUN_KEY] = run
        st.session_state["live_replayed"] = True
        return
    try:
        st.session_state[JOB_KEY] = scheduler.submit(cfg, record=True, snapshots=snapshots)
    except Full as full:
        st.session_state[JOB_KEY] = None
        st.session_state[NOTICE_KEY] = str(full)
    except ConfigError as error:  # e.g. batch norm with batch size 1: refused in words
        st.session_state[JOB_KEY] = None
        st.session_state[ERROR_KEY] = str(error)


def train(cfg: TrainConfig) -> None:
    """Train: resume a paused run of these settings, else start one."""
    current = job()
    if current is not None and current.state == "paused" and current.config == cfg:
        _scheduler().play(current)
    else:
        start(cfg)


def pause() -> None:
    if (current := job()) is not None and current.state in ACTIVE:
        _scheduler().pause(current)


def step(cfg: TrainConfig) -> None:
    """One snapshot more of a paused run, or the first snapshot of a new one."""
    current = job()
    if current is not None and current.state == "paused" and current.config == cfg:
        _scheduler().play(current, 1)
    else:
        start(cfg, snapshots=1)


def reset(cfg: TrainConfig) -> None:
    """Back to step 0, paused: the same seed gives the same initial weights."""
    start(cfg, snapshots=0)


def stop() -> None:
    """End the run within a layer's time; what it trained stays on screen ("stopped")."""
    if (current := job()) is not None and current.state != "done":
        _scheduler().cancel(current)


def toggle_pin() -> None:
    if st.session_state.get(PINNED_KEY) is not None:
        st.session_state[PINNED_KEY] = None
    elif (run := st.session_state.get(LIVE_RUN_KEY)) is not None:
        st.session_state[PINNED_KEY] = run


def label(run: Run, now: TrainConfig, prefix: str) -> str:
    """'previous: No norm, depth 20': the norm and what differs from the run on screen."""
    changed = [f"{field} {getattr(run.config, field)}" for field in URL_FIELDS
               if field != "norm" and getattr(run.config, field) != getattr(now, field)]
    return ", ".join([f"{prefix}: {plots.norm_label(run.config.norm)}", *changed[:2]])


def earlier(now: Run) -> tuple[tuple[str, pd.DataFrame], ...]:
    """The pinned and the previous run, for the faded lines (not the run on screen itself)."""
    drawn = []
    for key, prefix in ((PINNED_KEY, "pinned"), (PREVIOUS_KEY, "previous")):
        run = st.session_state.get(key)
        if run is not None and run is not now and all(run is not r for _, r, _ in drawn):
            drawn.append((label(run, now.config, prefix), run, key))
    return tuple((name, run.metrics.assign(norm=run.config.norm)) for name, run, _ in drawn)


# --- the charts -------------------------------------------------------------------------------
# automargin: a tick label wider than the margin (a diverging run's 2×10³⁴) widens the margin
# instead of running into the axis title; ordinary ticks fit in 50 px, so nothing moves
COMPACT = {"margin": {"l": 50, "r": 10, "t": 36, "b": 48}, "title": {"font": {"size": 14}},
           "xaxis": {"title": {"text": "step"}}, "yaxis": {"automargin": True}}


def compact(fig, legend: dict | None = None):
    """A live chart laid out small: short margins and title, the legend inside the plot."""
    fig.update_layout(**COMPACT, legend=legend or {"orientation": "h", "x": 1, "xanchor": "right",
                                                   "y": 1.0, "yanchor": "bottom",
                                                   "font": {"size": 10}})
    return fig


HEATMAP_LEGEND = {"x": 1.0, "xanchor": "left", "y": 0.0, "yanchor": "bottom",
                  "font": {"size": 10}}  # the exact-zero entry, under the shortened colour bar


def charts(run: Run | None, cfg: TrainConfig, layers_view: str) -> dict[str, Slot]:
    """The five live plots: loss and accuracy over one row, every layer and its gradients
    below (before the first snapshot, empty loss and accuracy axes for `cfg`'s norm)."""
    metrics = tagged(run.metrics if run is not None else EMPTY_METRICS,
                     run.config.norm if run is not None else cfg.norm)
    earlier_runs = earlier(run) if run is not None else ()
    inside = {"x": 0.99, "xanchor": "right", "bgcolor": "rgba(255,255,255,0.6)",
              "font": {"size": 10}}
    slots = {
        # "loss (nats)": the full "cross-entropy loss (nats)" is taller than a 180 px plot
        "loss": Slot(compact(plots.loss_curves(metrics, earlier=earlier_runs),
                             {**inside, "y": 0.98, "yanchor": "top"}).update_layout(
                                 yaxis_title_text="loss (nats)"), "50%", 180, 0.42),
        "accuracy": Slot(compact(plots.accuracy_curves(metrics, earlier=earlier_runs),
                                 {**inside, "y": 0.02, "yanchor": "bottom"}).update_layout(
                                     yaxis_title_text="accuracy (%)"), "50%", 180, 0.42),
    }
    if run is None or run.layer_stats.empty:
        return slots
    if layers_view == "bands":
        layer_fig = plots.percentile_bands(run.layer_stats, run.config.norm)
    else:
        layer_fig = plots.layer_spread_heatmap(run.layer_stats, run.config.norm)
    norm = plots.norm_label(run.config.norm)
    heatmaps = {"layers": (layer_fig, f"Spread per layer ({norm})" if layers_view != "bands"
                           else f"15th–85th percentile, 4 layers ({norm})"),
                "gradients": (plots.gradient_heatmap(run.gradients), "Gradient ‖∇W‖ by layer"),
                "update_ratio": (plots.update_ratio_heatmap(run.gradients),
                                 "Update ratio ‖ΔW‖/‖W‖ (white = 10⁻³)")}
    for name, (fig, short_title) in heatmaps.items():
        legend = HEATMAP_LEGEND if name != "layers" or layers_view != "bands" else None
        fig = compact(fig, legend).update_layout(title_text=short_title)
        fig.update_traces(colorbar={"len": 0.8, "y": 1.0, "yanchor": "top"},
                          selector={"type": "heatmap"})
        slots[name] = Slot(fig, "33.4%" if name == "update_ratio" else "33.3%", 220, 0.58)
    return slots
