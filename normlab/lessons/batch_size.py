"""Batch size: is batch norm robust to it? (Wu & He 2018 Fig 1 says no.)"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from normlab.config import ConfigError, TrainConfig
from normlab.engine import evaluate
from normlab.lessons._common import (
    QUICK,
    Progress,
    ShouldStop,
    Sweep,
    fit,
    frame,
)

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
