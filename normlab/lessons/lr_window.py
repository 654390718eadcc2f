"""The learning-rate window: over which learning rates does each norm train at all?

Bjorck et al. (2018) argue that what batch norm primarily buys is the freedom to train with
larger learning rates: without it, a large rate diverges. Here every norm is trained over a
log-spaced grid of learning rates, several seeds per point (the seeds of one config as one
batched model, normlab.seeds.train_seeds), and each norm's stable window is read off: the
learning rates at which every seed trained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from normlab import stats
from normlab.config import TrainConfig
from normlab.data import load_dataset
from normlab.lessons._common import QUICK, Progress, ShouldStop, Sweep, frame
from normlab.seeds import train_seeds

LR_NORMS = ("none", "batch", "layer", "rms")
LR_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # half a decade apart
LR_SEEDS = (0, 1, 2, 3, 4)
# Deeper than QUICK, so that no norm has a window to lose; 150 steps: ~8 s for the grid.
LR_QUICK = QUICK.replace(depth=4, steps=150, eval_every=50)

RUN_COLUMNS = ("norm", "lr", "seed", "status", "diverged_at", "final_train_loss",
               "final_val_loss", "final_val_accuracy", "trained")
POINT_COLUMNS = ("norm", "lr", "seeds", "trained", "diverged", "mean_val_loss", "low", "high")
WINDOW_COLUMNS = ("norm", "low_lr", "high_lr", "decades", "points")


def trained_threshold(num_classes: int = 10) -> float:
    """A seed "trained" when its final validation loss is below half of chance's, ln(C) / 2."""
    return math.log(num_classes) / 2


def lr_sweep(
    norms: Sequence[str] = LR_NORMS,
    lrs: Sequence[float] = LR_GRID,
    seeds: Sequence[int] = LR_SEEDS,
    base: TrainConfig = LR_QUICK,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> pd.DataFrame:
    """Claim tested: "normalization lets you train with larger learning rates".

    Trains every (norm, lr) for `base.steps` steps, all `seeds` at once. A seed whose loss
    becomes NaN or infinite has diverged; a seed "trained" when it finished with a final
    validation loss below `trained_threshold` (half of guessing's).

    Returns one row per (norm, lr, seed): status (finished or diverged), diverged_at,
    final_train_loss, final_val_loss, final_val_accuracy (NaN when diverged), trained.
    """
    grid = [(n, lr) for n in norms for lr in sorted(lrs)]
    sweep = Sweep(len(grid), progress, should_stop)
    classes = load_dataset(base.dataset, base.seed, base.n_samples, base.noise,
                           base.val_fraction).num_classes
    threshold = trained_threshold(classes)
    rows = []
    for norm, lr in grid:
        if sweep.stopped():
            break
        runs = train_seeds(base.replace(norm=norm, lr=lr), seeds)
        final = runs.final().set_index("seed")
        for status in runs.status.itertuples():
            finished = status.status == "finished"
            loss = float(final.loc[status.seed, "val_loss"]) if finished else math.nan
            finite = finished and math.isfinite(loss)
            rows.append(dict(
                norm=norm, lr=lr, seed=int(status.seed), status=status.status,
                diverged_at=status.diverged_at,
                final_train_loss=float(final.loc[status.seed, "train_loss"]) if finished
                else math.nan,
                final_val_loss=loss if finite else math.nan,
                final_val_accuracy=float(final.loc[status.seed, "val_accuracy"]) if finished
                else math.nan,
                trained=bool(finite and loss < threshold)))
        sweep.advance()
    return frame(rows, RUN_COLUMNS)


def lr_points(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (norm, lr): seeds, how many trained and diverged, and the mean final validation
    loss of the seeds that finished with its 95% t interval (NaN when none finished)."""
    rows = []
    for (norm, lr), group in runs.groupby(["norm", "lr"], sort=False):
        losses = group["final_val_loss"].dropna().tolist()
        interval = stats.t_interval(losses) if losses else None
        rows.append(dict(norm=norm, lr=lr, seeds=len(group), trained=int(group["trained"].sum()),
                         diverged=int((group["status"] == "diverged").sum()),
                         mean_val_loss=interval.effect if interval else math.nan,
                         low=interval.low if interval else math.nan,
                         high=interval.high if interval else math.nan))
    return frame(rows, POINT_COLUMNS)


def stable_windows(runs: pd.DataFrame) -> pd.DataFrame:
    """Per norm, the widest run of neighbouring grid learning rates at which every seed
    trained: its lowest and highest rate, its width in decades, how many grid points."""
    rows = []
    for norm in dict.fromkeys(runs["norm"]):
        by_lr = runs[runs["norm"] == norm].groupby("lr")["trained"].all().sort_index()
        best, current = [], []
        for lr, ok in by_lr.items():
            current = [*current, lr] if ok else []
            if len(current) > len(best):
                best = current
        rows.append(dict(norm=norm, low_lr=best[0] if best else math.nan,
                         high_lr=best[-1] if best else math.nan,
                         decades=math.log10(best[-1] / best[0]) if best else math.nan,
                         points=len(best)))
    return frame(rows, WINDOW_COLUMNS)


def largest_trained_lr(runs: pd.DataFrame, norm: str) -> dict[int, float]:
    """{seed: log10 of the largest grid learning rate at which the seed trained}; a seed that
    trained nowhere gets half a grid step below the smallest rate."""
    rows = runs[runs["norm"] == norm]
    grid = np.log10(sorted(runs["lr"].unique()))
    step = float(np.diff(grid).mean()) if len(grid) > 1 else 1.0
    out = {}
    for seed, group in rows.groupby("seed"):
        ok = group.loc[group["trained"], "lr"]
        out[int(seed)] = math.log10(ok.max()) if len(ok) else float(grid[0]) - step / 2
    return out


def verdict_larger_lr(runs: pd.DataFrame, norm: str = "batch") -> stats.Decision:
    """"Normalization lets you train with larger learning rates", for one norm: per seed, the
    largest learning rate that trained with `norm` over the largest without a norm, in
    decades (paired by seed), above 0. Holds / does not hold / not settled (stats.decide)."""
    ours, base = largest_trained_lr(runs, norm), largest_trained_lr(runs, "none")
    if not ours or not base:
        raise ValueError(f"needs runs of both {norm!r} and 'none'")
    return stats.decide(stats.paired_differences(ours, base), threshold=0.0, direction="above")
