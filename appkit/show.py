"""Showing a run: a chart with its caption, CSV and HTML downloads, how a run ended in words,
what changed between two configs, and a frame tagged with its norm for the multi-norm plots.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from appkit.url import URL_FIELDS
from normlab.config import TrainConfig
from normlab.engine import Run


def describe_change(old: TrainConfig, new: TrainConfig) -> str:
    """'norm batch → none, depth 6 → 20' for the fields that differ."""
    return ", ".join(f"{f} {getattr(old, f)} → {getattr(new, f)}" for f in URL_FIELDS
                     if getattr(old, f) != getattr(new, f))


def show_outcome(run: Run, where=None) -> None:
    """How the run ended, in words: diverged (with the engine's hint), stopped or finished."""
    where = where if where is not None else st
    if run.status == "diverged":
        where.error(f"**Diverged at step {run.diverged_at}.** {run.message}",
                    icon=":material/error:")
    elif run.status == "stopped":
        where.info(f"{run.message} Press Train to start again.", icon=":material/stop_circle:")
    elif run.status == "running":
        where.info("Stopping the previous run: it stops at its next snapshot.",
                   icon=":material/hourglass_top:")
    elif run.status == "finished" and run.at_chance():
        final = run.final
        where.warning(f"**Finished {run.step} steps, but it learned nothing:** validation "
                      f"accuracy {100 * final['val_accuracy']:.1f}% and loss "
                      f"{final['val_loss']:.2f} nats are what guessing gives. "
                      f"{next_to_try(run.config)}", icon=":material/warning:")
    elif run.status == "finished":
        final = run.final
        where.success(f"Finished {run.step} steps in {run.wall_time:.1f} s: validation accuracy "
                      f"{100 * final.get('val_accuracy', float('nan')):.1f}%, validation loss "
                      f"{final.get('val_loss', float('nan')):.3f} nats.",
                      icon=":material/check_circle:")


def next_to_try(cfg: TrainConfig) -> str:
    """The one change most likely to get a run that ended at chance level learning."""
    if cfg.norm == "none":
        return ("Next: set **Norm** to BatchNorm and press Train again; this run stays on the "
                "charts, faded, to compare.")
    if cfg.activation == "sigmoid" and cfg.depth > 8:
        return "Next: try ReLU, or fewer layers: a deep sigmoid stack is the hardest case."
    if cfg.lr < 0.05 and cfg.optimizer == "sgd":
        return f"Next: raise the learning rate (now {cfg.lr:g}) or pick Adam."
    return "Next: try more steps, a larger learning rate, or fewer layers."


def chart(where, fig, key: str | None = None, caption: str | None = None) -> None:
    """A full-width plotly chart and its one-line caption of what to look for, in `where`
    (an st.empty is replaced whole); `key` keeps repeated draws in one script run apart."""
    box = where.container() if caption else where
    box.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})
    if caption:
        box.caption(caption)


def downloads(run: Run, fig=None, name: str = "normlab") -> None:
    """CSV downloads of the run's frames and, if given, the main figure as standalone HTML."""
    frames = {"metrics": lambda: run.metrics, "layer_stats": lambda: run.layer_stats,
              "histograms": lambda: run.histograms, "gradients": lambda: run.gradients}
    columns = st.columns(len(frames) + (fig is not None))
    for column, (table, frame) in zip(columns, frames.items()):
        column.download_button(f"{table}.csv", data=lambda f=frame: f().to_csv(index=False),
                               file_name=f"{name}-{table}.csv", mime="text/csv",
                               on_click="ignore", key=f"download_{name}_{table}",
                               icon=":material/download:")
    if fig is not None:
        columns[-1].download_button(
            "figure.html", data=lambda: fig.to_html(include_plotlyjs=True, full_html=True),
            file_name=f"{name}-figure.html", mime="text/html", on_click="ignore",
            key=f"download_{name}_html", icon=":material/download:",
            help="The main chart, interactive, offline.")


def tagged(frame: pd.DataFrame, norm: str) -> pd.DataFrame:
    """`frame` with a `norm` column, as the multi-norm plot builders expect."""
    return frame.assign(norm=norm)

