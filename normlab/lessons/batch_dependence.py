"""Batch dependence: does an example's output move with its batch mates?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd
import torch

from normlab.lessons._common import (
    frame,
)
from normlab.registry import build_norm


class BatchDependence(NamedTuple):
    outputs: pd.DataFrame  # norm, trial, unit, value
    summary: pd.DataFrame  # norm, max_std


def batch_dependence(
    norms: Sequence[str] = ("batch", "layer", "rms", "group", "dyt"),
    batch_size: int = 8,
    trials: int = 20,
    seed: int = 0,
    features: int = 16,
) -> BatchDependence:
    """Claim tested: "layer norm's output for an example does not depend on its batch mates".

    One fixed example goes through a fresh norm layer in training mode inside `trials`
    different random batches (it is always row 0; its `batch_size - 1` mates are redrawn).
    Batch norm's output for it moves with the mates; layer, RMS and group norm (statistics
    per example) and DyT (no statistics) give the same output every time.

    Returns (outputs, summary): outputs has one row per (norm, trial, unit) with the example's
    output `value`; summary has, per norm, `max_std`: the largest standard deviation of one
    unit's output across the trials (0 means the batch mates made no difference).
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2 so the example has mates (got "
                         f"{batch_size})")
    generator = torch.Generator().manual_seed(seed)
    example = torch.randn(1, features, generator=generator)  # (1, D)
    mates = torch.randn(trials, batch_size - 1, features, generator=generator)  # (T, B-1, D)
    rows, summary = [], []
    with torch.no_grad():
        for norm in norms:
            outputs = torch.stack([
                build_norm(norm, features).train()(torch.cat([example, mates[trial]]))[0]
                for trial in range(trials)
            ])  # (T, D): the example's output in each batch
            for trial in range(trials):
                rows += [dict(norm=norm, trial=trial, unit=unit, value=float(outputs[trial, unit]))
                         for unit in range(features)]
            spread = outputs.std(dim=0) if trials > 1 else torch.zeros(features)
            summary.append(dict(norm=norm, max_std=float(spread.max())))
    return BatchDependence(frame(rows, ("norm", "trial", "unit", "value")),
                           frame(summary, ("norm", "max_std")))
