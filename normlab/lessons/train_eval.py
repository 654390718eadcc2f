"""Train vs eval: batch norm's running statistics against the truth, biased vs unbiased."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch

from normlab.lessons._common import (
    frame,
)
from normlab.norms import BatchNorm1d


def momentum_label(momentum: float | None) -> str:
    """How a BN momentum is shown: '0.1', or 'None (cumulative)'."""
    return "None (cumulative)" if momentum is None else f"{momentum:g}"


def running_stats_trace(
    momentums: Sequence[float | None] = (0.01, 0.1, 0.5, None),
    steps: int = 300,
    batch_size: int = 32,
    seed: int = 0,
    shift: float = 0.0,
    drift: bool = False,
    true_mean: float = 2.0,
    true_std: float = 3.0,
) -> pd.DataFrame:
    """Claim tested: running_mean/running_var estimate the data's true mean and variance.

    A BatchNorm1d layer with one feature sees batches from a normal distribution with a known
    mean and variance; every momentum sees the same batches. With `shift`, the true mean jumps
    by that much at the halfway step (or, with `drift`, moves there linearly over the second
    half), so one sees how fast each momentum follows: a large momentum follows quickly but
    jitters, a small one is smooth but lags, None (a cumulative average) converges to the
    truth when nothing moves and never forgets when something does.

    Returns one row per (momentum, step, statistic): momentum (label, see `momentum_label`),
    step (0 is the initial buffer), statistic ("mean" or "var"), running (the buffer after
    that step), true (the distribution's value at that step), batch (that step's batch mean,
    or unbiased batch variance; NaN at step 0).
    """
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(steps, batch_size, 1, generator=generator)  # (S, B, 1)
    half = steps // 2
    ramp = torch.clamp((torch.arange(steps) - half + 1) / max(steps - half, 1), 0, 1)
    after = ramp if drift else (torch.arange(steps) >= half).float()
    means = true_mean + shift * after  # (S,)
    batches = means[:, None, None] + true_std * noise  # (S, B, 1)
    true_var = true_std**2
    rows = []
    with torch.no_grad():
        for momentum in momentums:
            label = momentum_label(momentum)
            layer = BatchNorm1d(1, momentum=momentum, affine=False).train()
            rows += [dict(momentum=label, step=0, statistic="mean", running=0.0,
                          true=float(means[0]), batch=math.nan),
                     dict(momentum=label, step=0, statistic="var", running=1.0,
                          true=true_var, batch=math.nan)]
            for step in range(steps):
                layer(batches[step])
                rows += [
                    dict(momentum=label, step=step + 1, statistic="mean",
                         running=float(layer.running_mean[0]), true=float(means[step]),
                         batch=float(batches[step].mean())),
                    dict(momentum=label, step=step + 1, statistic="var",
                         running=float(layer.running_var[0]), true=true_var,
                         batch=float(batches[step].var())),  # unbiased, as stored
                ]
    return frame(rows, ("momentum", "step", "statistic", "running", "true", "batch"))


def biased_vs_unbiased(
    batch_sizes: Sequence[int] = (2, 4, 8, 16, 32, 64),
    batches: int = 4000,
    seed: int = 0,
    true_var: float = 1.0,
) -> pd.DataFrame:
    """Claim tested: BN normalises with the biased batch variance but stores the unbiased one.

    For each batch size, `batches` independent batches go through one BatchNorm1d layer with
    momentum 1 (each column of its input is a separate batch, so running_var holds exactly
    that batch's stored estimate). The biased variance averages (n-1)/n of the truth; the
    unbiased one in running_var averages the truth.

    Returns one row per (batch_size, estimator): estimator ("biased": used to normalise the
    batch; "unbiased": stored in running_var; "true"), expected_var (mean over the batches),
    ratio (expected_var / true_var), theory ((n-1)/n for biased, 1 otherwise).
    """
    generator = torch.Generator().manual_seed(seed)
    rows = []
    with torch.no_grad():
        for n in batch_sizes:
            if n < 2:
                raise ValueError(f"a variance needs at least 2 values (got batch size {n})")
            x = math.sqrt(true_var) * torch.randn(n, batches, generator=generator,
                                                  dtype=torch.float64)  # (n, batches)
            layer = BatchNorm1d(batches, momentum=1.0, affine=False).double().train()
            layer(x)
            estimates = {
                "biased": float(x.var(dim=0, correction=0).mean()),
                "unbiased": float(layer.running_var.mean()),
                "true": true_var,
            }
            theory = {"biased": (n - 1) / n, "unbiased": 1.0, "true": 1.0}
            rows += [dict(batch_size=n, estimator=name, expected_var=value,
                          ratio=value / true_var, theory=theory[name])
                     for name, value in estimates.items()]
    return frame(rows, ("batch_size", "estimator", "expected_var", "ratio", "theory"))
