"""Concepts: a small batch put through each norm by hand, to read the formulas off the numbers."""

from __future__ import annotations

import math

import pandas as pd
import torch

from normlab import norms


class BatchTooSmallError(ValueError):
    """The worked example cannot be computed: no features, or fewer than 2 examples (batch
    norm in training mode needs two values per feature for a variance)."""


def example_batch(seed: int, examples: int = 4, features: int = 3) -> pd.DataFrame:
    """A small batch with features on different scales, as raw layer outputs tend to be."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(examples, features, generator=generator)  # (N, D)
    x = x * torch.tensor([1.0, 3.0, 0.5])[:features] + torch.tensor([2.0, -1.0, 0.0])[:features]
    return pd.DataFrame(x.numpy().round(2), columns=[f"x{j}" for j in range(features)],
                        index=[f"example {i}" for i in range(examples)])


def worked_example(batch: pd.DataFrame, gain: float, shift: float,
                   batches_seen: int) -> dict[str, pd.DataFrame]:
    """Each norm's output for `batch`, computed with normlab.norms, gain and shift applied.

    "BatchNorm (eval)" uses running statistics after `batches_seen` training passes over this
    same batch, so it shows the unbiased-variance gap between training and eval mode.

    Raises:
        BatchTooSmallError: the batch has fewer than 2 examples or no features.
    """
    examples, features = batch.shape
    if examples < 2 or features == 0:
        raise BatchTooSmallError(
            f"The batch has {examples} example{'' if examples == 1 else 's'} of {features} "
            f"feature{'' if features == 1 else 's'}: batch norm needs at least 2 examples to "
            "compute a variance, and every norm needs a feature. Add rows, or draw a new batch.")
    x = torch.tensor(batch.to_numpy(dtype="float32"))  # (N, D)
    layers = {"BatchNorm (train)": norms.BatchNorm1d(features),
              "LayerNorm": norms.LayerNorm(features), "RMSNorm": norms.RMSNorm(features)}
    order = ["BatchNorm (train)", "BatchNorm (eval)", "LayerNorm", "RMSNorm"]
    with torch.no_grad():
        for layer in layers.values():
            layer.weight.fill_(gain)
            if getattr(layer, "bias", None) is not None:
                layer.bias.fill_(shift)
        out = {name: layer(x) for name, layer in layers.items()}
        bn = layers["BatchNorm (train)"]
        for _ in range(max(0, batches_seen - 1)):  # the call above already counted one batch
            bn(x)
        bn.eval()
        out["BatchNorm (eval)"] = bn(x)
    return {name: pd.DataFrame(out[name].numpy(), columns=batch.columns, index=batch.index)
            for name in order}


def with_margins(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus each row's mean, std and root mean square, and each column's mean and std
    (biased std, as the norms use)."""
    table = frame.copy()
    table["row mean"], table["row std"] = frame.mean(axis=1), frame.std(axis=1, ddof=0)
    table["row rms"] = (frame**2).mean(axis=1) ** 0.5
    table.loc["column mean"] = list(frame.mean(axis=0)) + [math.nan] * 3
    table.loc["column std"] = list(frame.std(axis=0, ddof=0)) + [math.nan] * 3
    return table
