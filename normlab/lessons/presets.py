"""Paper presets: a scaled-down run of one figure, with what the paper says about it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from normlab.config import TrainConfig
from normlab.engine import METRIC_COLUMNS
from normlab.lessons._common import (
    Progress,
    ShouldStop,
    Sweep,
    frame,
    train_until_stopped,
)
from normlab.lessons.batch_size import BATCH_SIZE_QUICK, batch_size_sweep
from normlab.registry import norm_label


@dataclass(frozen=True)
class Preset:
    """One paper figure, scaled down to run in under ~20 s on 2 CPU cores."""

    name: str
    paper: str
    figure: str
    paper_says: str
    we_run: str  # how our version differs from the paper's
    runner: Callable[..., dict[str, pd.DataFrame]]
    configs: tuple[TrainConfig, ...] = ()  # what it trains (a sweep's base, for a sweep)

    def run(self, progress: Progress = None,
            should_stop: ShouldStop = None) -> dict[str, pd.DataFrame]:
        """The preset's frames by name; a stopped run returns what it finished."""
        return self.runner(self.configs, progress=progress, should_stop=should_stop)


def _train_configs(configs, progress, should_stop):
    """Each config trained in turn (recorded), as [(config, run)], stopping when asked."""
    sweep = Sweep(len(configs), progress, should_stop)
    runs = []
    for cfg in configs:
        if sweep.stopped():
            break
        run = train_until_stopped(cfg, should_stop)
        if run.status == "stopped":
            break
        runs.append((cfg, run))
        sweep.advance()
    return runs


def _labelled_metrics(runs, fields: Sequence[str]) -> pd.DataFrame:
    frames = [run.metrics.assign(**{f: getattr(cfg, f) for f in fields}, status=run.status)
              for cfg, run in runs]
    columns = [*fields, *METRIC_COLUMNS, "status"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else frame([], columns)


def _ioffe_fig1(configs, progress=None, should_stop=None) -> dict[str, pd.DataFrame]:
    runs = _train_configs(configs, progress, should_stop)
    percentiles = []
    for cfg, run in runs:
        stats = run.layer_stats
        last = stats[(stats["layer"] == cfg.depth - 1) & (stats["point"] == "post_norm")]
        for column, quantile in (("p15", 0.15), ("p50", 0.5), ("p85", 0.85)):
            percentiles += [dict(norm=cfg.norm, step=int(step), quantile=quantile,
                                 value=float(value))
                            for step, value in zip(last["step"], last[column])]
    return {"metrics": _labelled_metrics(runs, ("norm",)),
            "percentiles": frame(percentiles, ("norm", "step", "quantile", "value"))}


def _ba_fig6(configs, progress=None, should_stop=None) -> dict[str, pd.DataFrame]:
    runs = _train_configs(configs, progress, should_stop)
    return {"metrics": _labelled_metrics(runs, ("norm", "batch_size"))}


def _wu_he_fig1(configs, progress=None, should_stop=None) -> dict[str, pd.DataFrame]:
    errors = batch_size_sweep(norms=("batch", "layer", "group"), batch_sizes=(2, 4, 8, 16, 32),
                              base=configs[0], examples=2048, progress=progress,
                              should_stop=should_stop)
    return {"errors": errors.assign(val_error=1 - errors["val_accuracy"])}


_IOFFE = TrainConfig(dataset="digits", depth=3, width=100, activation="sigmoid", init="xavier",
                     batch_size=60, optimizer="sgd", lr=0.5, steps=2000, eval_every=50,
                     record_every=50)
_BA = TrainConfig(dataset="digits", depth=2, width=256, optimizer="adam", lr=1e-3, steps=600,
                  eval_every=50, record_every=600)

PRESETS: dict[str, Preset] = {
    "ioffe_szegedy_fig1": Preset(
        name="ioffe_szegedy_fig1",
        paper="Ioffe & Szegedy 2015, Batch Normalization (arXiv 1502.03167)",
        figure="Figure 1",
        paper_says=(
            "On MNIST, a network of 3 fully connected hidden layers of 100 sigmoid units "
            "(batch 60) reaches a higher test accuracy faster with batch norm (1a). Without it, "
            "the 15th, 50th and 85th percentiles of a last-hidden-layer sigmoid input drift over "
            "training; with it they stay steady (1b, 1c)."
        ),
        we_run=(
            "The same network on the 8x8 digits, plain SGD (lr 0.5), 2000 steps instead of "
            "50k. The percentiles pool every unit of the last hidden layer (the paper follows "
            "one unit); they are its sigmoid input, the recorder's 'post_norm' point."
        ),
        runner=_ioffe_fig1,
        configs=(_IOFFE.replace(norm="none"), _IOFFE.replace(norm="batch")),
    ),
    "ba_fig6": Preset(
        name="ba_fig6",
        paper="Ba, Kiros & Hinton 2016, Layer Normalization (arXiv 1607.06450)",
        figure="Figure 6",
        paper_says=(
            "On permutation-invariant MNIST (784-1000-1000-10, Adam), layer norm is robust to "
            "the batch size: it trains as well with batches of 4 as of 128, while batch norm "
            "does worse with batches of 4."
        ),
        we_run=(
            "The 8x8 digits with 2 hidden layers of 256 units, Adam (lr 1e-3), 600 steps at "
            "each batch size; the curves are validation loss and accuracy in eval mode."
        ),
        runner=_ba_fig6,
        configs=tuple(_BA.replace(norm=norm, batch_size=batch_size)
                      for batch_size in (128, 4) for norm in ("batch", "layer")),
    ),
    "wu_he_fig1": Preset(
        name="wu_he_fig1",
        paper="Wu & He 2018, Group Normalization (arXiv 1803.08494)",
        figure="Figure 1",
        paper_says=(
            "ResNet-50 on ImageNet: as the batch per GPU shrinks from 32 to 2, batch norm's "
            "error rises from 23.6% to 34.7%, while group norm's stays about 24.1%."
        ),
        we_run=(
            "batch_size_sweep on the 8x8 digits (a 3x64 MLP; group norm in groups of 8 units), "
            "batch, layer and group norm at batch sizes 2 to 32, each trained on the same 2048 "
            "examples at the same learning rate; error = 1 - validation accuracy (eval mode)."
        ),
        runner=_wu_he_fig1,
        configs=(BATCH_SIZE_QUICK,),
    ),
}


def run_preset(name: str, progress: Progress = None,
               should_stop: ShouldStop = None) -> dict[str, pd.DataFrame]:
    """Run the named preset: its frames by name (see PRESETS[name].we_run)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; one of {', '.join(PRESETS)}")
    return PRESETS[name].run(progress=progress, should_stop=should_stop)


# --- what a preset's run shows, in a sentence computed from its frames ---------------------------

def first_step(metrics: pd.DataFrame, target: float) -> str:
    """'step 150', the first evaluation at or above `target` validation accuracy, or 'never'."""
    reached = metrics.loc[metrics["val_accuracy"] >= target, "step"]
    return f"step {int(reached.min())}" if len(reached) else "never"


def ioffe_says(frames: dict) -> str:
    """What our Ioffe & Szegedy run shows: accuracy, speed, and the drift of the percentiles."""
    metrics, percentiles = frames["metrics"], frames["percentiles"]
    parts = []
    for norm, name in (("none", "Without batch norm"), ("batch", "with batch norm")):
        rows = metrics[metrics["norm"] == norm]
        if len(rows):
            parts.append(f"{name} the validation accuracy ended at "
                         f"{rows['val_accuracy'].iloc[-1]:.1%} and reached 80% at "
                         f"{first_step(rows, 0.8)}")
    drift = []
    for norm, name in (("none", "without"), ("batch", "with")):
        median = percentiles[(percentiles["norm"] == norm) & (percentiles["quantile"] == 0.5)]
        if len(median):
            drift.append(f"{median['value'].max() - median['value'].min():.2f} {name} it")
    text = "; ".join(parts) + "."
    if drift:
        text += (" Over training, the median sigmoid input of the last hidden layer moved by "
                 + " and ".join(drift) + ".")
    return text


def ba_says(frames: dict) -> str:
    """Final accuracy of batch and layer norm at each batch size, and what each lost."""
    final = frames["metrics"].groupby(["norm", "batch_size"])["val_accuracy"].last()
    parts = [f"batch {size}: " + ", ".join(f"{norm_label(n)} {final[(n, size)]:.1%}"
                                           for n in ("batch", "layer") if (n, size) in final)
             for size in sorted({s for _, s in final.index}, reverse=True)]
    text = "Final validation accuracy at " + "; at ".join(parts) + "."
    sizes = sorted({s for _, s in final.index})
    lost = [f"{norm_label(n)} {100 * (final[(n, sizes[-1])] - final[(n, sizes[0])]):.1f}"
            for n in ("batch", "layer") if (n, sizes[0]) in final and (n, sizes[-1]) in final]
    if len(sizes) > 1 and lost:
        text += (f" Going from batch {sizes[-1]} to batch {sizes[0]} cost "
                 + " and ".join(lost) + " points (negative: a gain).")
    return text


def wu_he_says(frames: dict) -> str:
    """Each norm's error at the largest and the smallest batch size."""
    errors = frames["errors"].dropna(subset=["val_error"])
    parts = []
    for norm in dict.fromkeys(errors["norm"]):
        rows = errors[errors["norm"] == norm].sort_values("batch_size")
        if len(rows) > 1:
            parts.append(f"{norm_label(norm)} {rows['val_error'].iloc[-1]:.1%} at batch "
                         f"{rows['batch_size'].iloc[-1]} → {rows['val_error'].iloc[0]:.1%} at "
                         f"batch {rows['batch_size'].iloc[0]}")
    return "Validation error: " + "; ".join(parts) + "."


RUN_SHOWS = {"ioffe_szegedy_fig1": ioffe_says, "ba_fig6": ba_says, "wu_he_fig1": wu_he_says}


def what_the_run_shows(name: str, frames: dict[str, pd.DataFrame]) -> str:
    """The sentence for preset `name`'s frames (from run_preset), computed from the numbers."""
    return RUN_SHOWS[name](frames)
