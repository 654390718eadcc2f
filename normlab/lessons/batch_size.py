"""Batch size: is batch norm robust to it? (Wu & He 2018 Fig 1 says no.)"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from normlab.config import ConfigError, TrainConfig
from normlab.engine import evaluate, prepare
from normlab.lessons._common import (
    QUICK,
    Progress,
    ShouldStop,
    Sweep,
    fit,
    frame,
)
from normlab.seeds import train_seeds

# lr 0.02: at the default 0.05 (momentum 0.9) batches of 1 or 2 are too noisy for every norm,
# and the batch-size lesson should be about the norm, not about that.
BATCH_SIZE_QUICK = QUICK.replace(lr=0.02)


@torch.no_grad()
def train_mode_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int):
    """Accuracy with the model in training mode, fed in batches of `batch_size`.

    Batch norm then normalises with each batch's own statistics, as it did while training.
    Only full batches are used (a batch larger than the set becomes the whole set), so batch
    norm never meets a lone example. Note: batch norm's running statistics move as a side
    effect; evaluate in eval mode first.
    """
    was_training = model.training
    model.train()
    full = len(y) // batch_size * batch_size or len(y)
    correct = 0
    for x_batch, y_batch in zip(x[:full].split(batch_size), y[:full].split(batch_size)):
        correct += int((model(x_batch).argmax(1) == y_batch).sum())
    model.train(was_training)
    return correct / full


BATCH_SIZE_COLUMNS = ("norm", "batch_size", "seed", "steps", "examples", "val_accuracy",
                      "train_mode_val_accuracy", "final_train_loss", "status", "message",
                      "wall_time")


def batch_size_sweep(
    norms: Sequence[str] = ("batch", "layer"),
    batch_sizes: Sequence[int] = (2, 4, 8, 32),
    seeds: Sequence[int] = (0,),
    base: TrainConfig = BATCH_SIZE_QUICK,
    examples: int = 2048,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> pd.DataFrame:
    """Claim tested: "batch norm is robust to the batch size" (Wu & He 2018 Fig 1 says no).

    Trains every (norm, batch_size, seed) on the same number of training examples seen:
    steps = examples // batch_size (at least 1), so a small batch takes more, noisier steps.
    The learning rate stays `base.lr` for every batch size (no linear scaling rule): what
    changes is only the batch size, as a student moving one slider would see it.

    Returns one row per run: norm, batch_size, seed, steps, examples, val_accuracy (eval mode:
    batch norm uses its running statistics), train_mode_val_accuracy (the same validation set
    with the model in training mode, in batches of batch_size: batch norm uses each batch's
    statistics; the difference is batch norm's train/eval gap), final_train_loss (mean over
    the last tenth of the steps), status (finished, diverged, or refused: batch norm at batch
    size 1 cannot train, and `message` says why), message, wall_time (seconds of training).
    """
    grid = [(norm, batch_size, seed) for norm in norms for batch_size in batch_sizes
            for seed in seeds]
    sweep = Sweep(len(grid), progress, should_stop)
    rows = []
    for norm, batch_size, seed in grid:
        if sweep.stopped():
            break
        steps = max(1, examples // batch_size)
        row = dict(norm=norm, batch_size=batch_size, seed=seed, steps=steps,
                   examples=steps * batch_size, val_accuracy=math.nan,
                   train_mode_val_accuracy=math.nan, final_train_loss=math.nan, message="",
                   wall_time=0.0)
        try:
            cfg = base.replace(norm=norm, batch_size=batch_size, seed=seed, steps=steps)
        except ConfigError as error:
            rows.append({**row, "status": "refused", "message": str(error)})
            sweep.advance()
            continue
        trained = fit(cfg, should_stop)
        if trained.status == "stopped":
            break
        if trained.losses:
            tail = trained.losses[-max(1, len(trained.losses) // 10):]
            row["final_train_loss"] = sum(tail) / len(tail)
        if trained.status == "finished":
            _, row["val_accuracy"] = evaluate(trained.model, trained.data.x_val, trained.data.y_val)
            row["train_mode_val_accuracy"] = train_mode_accuracy(
                trained.model, trained.data.x_val, trained.data.y_val, batch_size)
        rows.append({**row, "status": trained.status, "message": trained.message,
                     "wall_time": trained.wall_time})
        sweep.advance()
    return frame(rows, BATCH_SIZE_COLUMNS)


# --- the claim's experiment: many seeds, fair controls, two budgets -----------------------------

BUDGETS = ("examples", "steps")  # same examples seen by every batch size; same steps
BUDGET_WORDS = {"examples": "same examples seen", "steps": "same steps"}
CONTROL_NORMS = ("layer", "rms", "none")  # no batch statistics: what batch size alone does
BATCH_SIZE_STUDY_COLUMNS = ("budget", *BATCH_SIZE_COLUMNS)


def budget_steps(budget: str, batch_size: int, examples: int, steps: int) -> int:
    """Steps a run at `batch_size` takes under `budget`."""
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {', '.join(BUDGETS)} (got {budget!r})")
    return max(1, examples // batch_size) if budget == "examples" else steps


@torch.no_grad()
def _stacked_train_mode_accuracy(runs, batch_size: int) -> dict[int, float]:
    """{seed: validation accuracy in training mode, in batches of `batch_size`} for a batched
    batch-norm run (each finished seed's own validation set, as train_mode_accuracy)."""
    finished = [int(s) for s, st in zip(runs.status["seed"], runs.status["status"])
                if st == "finished"]
    if runs.model is None or not finished:
        return {}
    data = [prepare(runs.config.replace(seed=s)).data for s in finished]  # each seed's split
    x_val = torch.stack([d.x_val for d in data])
    y_val = torch.stack([d.y_val for d in data])  # (S, V)
    dtype = next(runs.model.parameters()).dtype
    x_val = x_val.to(dtype).flatten(2)  # (S, V, D)
    full = y_val.shape[1] // batch_size * batch_size or y_val.shape[1]
    runs.model.train()
    correct = torch.zeros(len(finished))
    for x, y in zip(x_val[:, :full].split(batch_size, 1), y_val[:, :full].split(batch_size, 1)):
        correct += (runs.model(x).argmax(-1) == y).sum(1)  # (S,)
    return {s: float(c) / full for s, c in zip(finished, correct)}


def batch_size_study(
    norms: Sequence[str] = ("batch", *CONTROL_NORMS),
    batch_sizes: Sequence[int] = (2, 4, 8, 32),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    base: TrainConfig = BATCH_SIZE_QUICK,
    examples: int = 2048,
    steps: int = 256,
    budgets: Sequence[str] = BUDGETS,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> pd.DataFrame:
    """Claim tested: "batch norm is robust to the batch size", against fair controls.

    Every (budget, norm, batch_size) trains all `seeds` at once (normlab.seeds.train_seeds).
    Two budgets: "examples" (every run sees `examples` training examples: steps = examples //
    batch_size, so a small batch takes more, noisier steps) and "steps" (every run takes
    `steps` steps: a small batch sees fewer examples). The norms without batch statistics
    (layer, RMS, none) are the controls: they show what the budget alone does to accuracy.
    The learning rate is `base.lr` at every batch size. The Batch size page and the claim
    checker both call this function.

    Returns batch_size_sweep's rows (one per run, i.e. per seed) with a `budget` column first.
    """
    grid = [(budget, norm, batch_size) for budget in budgets for norm in norms
            for batch_size in batch_sizes]
    sweep = Sweep(len(grid), progress, should_stop)
    rows = []
    for budget, norm, batch_size in grid:
        if sweep.stopped():
            break
        run_steps = budget_steps(budget, batch_size, examples, steps)
        blank = dict(budget=budget, norm=norm, batch_size=batch_size, steps=run_steps,
                     examples=run_steps * batch_size, val_accuracy=math.nan,
                     train_mode_val_accuracy=math.nan, final_train_loss=math.nan, message="",
                     wall_time=0.0)
        try:
            cfg = base.replace(norm=norm, batch_size=batch_size, steps=run_steps,
                               eval_every=run_steps)
        except ConfigError as error:
            rows += [{**blank, "seed": seed, "status": "refused", "message": str(error)}
                     for seed in seeds]
            sweep.advance()
            continue
        runs = train_seeds(cfg, seeds)
        final = runs.final().set_index("seed")
        status = runs.status.set_index("seed")
        train_mode = _stacked_train_mode_accuracy(runs, batch_size) if norm == "batch" else {}
        for seed in seeds:
            finished = status.at[seed, "status"] == "finished"
            accuracy = float(final.at[seed, "val_accuracy"]) if finished else math.nan
            rows.append({**blank, "seed": seed, "val_accuracy": accuracy,
                         "train_mode_val_accuracy": train_mode.get(seed, accuracy),
                         "final_train_loss": float(final.at[seed, "train_loss"]),
                         "status": status.at[seed, "status"],
                         "message": status.at[seed, "message"] or "",
                         "wall_time": runs.wall_time / len(seeds)})
        sweep.advance()
    return frame(rows, BATCH_SIZE_STUDY_COLUMNS)
