"""Showing a run: a chart with its caption, CSV and HTML downloads (each CSV row carries the
page's settings; the page's HTML holds every chart it drew), how a run ended in words, what
changed between two configs, and a frame tagged with its norm for the multi-norm plots.
"""

from __future__ import annotations

import contextlib
import html
import json

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from appkit.sidebar import page_settings
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
    keep_for_export(fig, key, caption)


def keep_for_export(fig, key: str | None = None, caption: str | None = None) -> None:
    """Add `fig` to this script run's charts, which the sidebar's "charts.html" download holds
    (the button appears with the first chart; a redraw under the same key replaces it)."""
    export = st.session_state.get("_export")
    if export is None:
        return  # a page that did not call page_setup (a test's bare script)
    if not export.get("button"):  # (not from inside a fragment: it may not write there)
        with contextlib.suppress(StreamlitAPIException):
            export["slot"].download_button(
                "This page's charts (HTML)", data=lambda export=export:
                page_html(export["figures"].values(), export["settings"]), file_name=f"normlab-"
                f"{(st.session_state.get('_page') or 'page').removesuffix('.py')}-charts.html",
                mime="text/html", on_click="ignore", key="_export_html",
                icon=":material/download:", help="Every chart on this page, interactive and "
                "offline, with the settings that made them.")
            export["button"] = True
    export["settings"] = page_settings()
    export["figures"][key or f"chart-{len(export['figures'])}"] = (fig, caption)


def page_html(figures, settings: dict) -> str:
    """One standalone HTML file: the page's settings, then each chart (plotly.js once) with its
    caption."""
    parts = []
    for i, (fig, caption) in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=i == 0))
        if caption:
            parts.append(f"<p>{html.escape(caption)}</p>")
    title = html.escape(f"normlab: {settings.get('page')}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1><pre>{html.escape(json.dumps(settings, indent=1))}</pre>"
            + "".join(parts) + "</body></html>")


def csv_download(where, label: str, frame, file_name: str, key: str) -> None:
    """A CSV download of `frame` (or of what a callable returns, made on click) with the page's
    settings in a column."""
    make = frame if callable(frame) else (lambda: frame)
    settings = json.dumps(page_settings(), default=str)
    where.download_button(label, data=lambda: make().assign(settings=settings).to_csv(
        index=False), file_name=file_name, mime="text/csv", on_click="ignore", key=key,
        icon=":material/download:", help="Each row's last column holds the settings that "
        "made it, as JSON.")


def downloads(run: Run, fig=None, name: str = "normlab") -> None:
    """CSV downloads of the run's frames and, if given, the main figure as standalone HTML."""
    frames = {"metrics": lambda: run.metrics, "layer_stats": lambda: run.layer_stats,
              "histograms": lambda: run.histograms, "gradients": lambda: run.gradients}
    columns = st.columns(len(frames) + (fig is not None))
    for column, (table, frame) in zip(columns, frames.items()):
        csv_download(column, f"{table}.csv", frame, f"{name}-{table}.csv",
                     key=f"download_{name}_{table}")
    if fig is not None:
        columns[-1].download_button(
            "figure.html", data=lambda: fig.to_html(include_plotlyjs=True, full_html=True),
            file_name=f"{name}-figure.html", mime="text/html", on_click="ignore",
            key=f"download_{name}_html", icon=":material/download:",
            help="The main chart, interactive, offline.")


def tagged(frame: pd.DataFrame, norm: str) -> pd.DataFrame:
    """`frame` with a `norm` column, as the multi-norm plot builders expect."""
    return frame.assign(norm=norm)

