"""Invariances: which rescalings and shifts each norm ignores (Ba et al. 2016 Table 1)."""

from __future__ import annotations

import math

import pandas as pd
import torch
from torch import nn

from normlab.lessons._common import (
    frame,
)
from normlab.norms import BatchNorm1d, LayerNorm, RMSNorm

TRANSFORMATIONS = (
    "weight matrix rescaling",
    "weight matrix re-centring",
    "weight vector rescaling",
    "dataset rescaling",
    "dataset re-centring",
    "single example rescaling",
)
RESCALINGS = tuple(t for t in TRANSFORMATIONS if t.endswith("rescaling"))
RESCALED = {"weight matrix rescaling": "the whole weight matrix",
            "weight vector rescaling": "one unit's weight vector",
            "dataset rescaling": "the whole dataset",
            "single example rescaling": "one example"}

# What the papers say: True = the norm's output does not change under the transformation.
PAPER_TABLE: dict[str, dict[str, bool]] = {
    "batch": dict(zip(TRANSFORMATIONS, (True, False, True, True, True, False))),
    "layer": dict(zip(TRANSFORMATIONS, (True, True, False, True, False, True))),
    "rms": dict(zip(TRANSFORMATIONS, (True, False, False, True, False, True))),
}


def _transform(name: str, weight: torch.Tensor, x: torch.Tensor, generator: torch.Generator,
               scale: float, shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, x) after one of TRANSFORMATIONS; weight (D_out, D_in), x (N, D_in)."""
    weight, x = weight.clone(), x.clone()
    if name == "weight matrix rescaling":
        weight *= scale
    elif name == "weight matrix re-centring":
        # The same vector added to every row: for a given example, every unit's
        # pre-activation moves by the same amount, vector . x (Ba et al. Sec 5.1).
        vector = shift * torch.randn(weight.shape[1], generator=generator, dtype=weight.dtype)
        weight += vector  # (D_out, D_in) + (D_in,)
    elif name == "weight vector rescaling":
        weight[0] *= scale  # unit 0's incoming weights
    elif name == "dataset rescaling":
        x *= scale
    elif name == "dataset re-centring":
        # The same vector added to every example: each unit moves by a constant over the data.
        x += shift * torch.randn(x.shape[1], generator=generator, dtype=x.dtype)
    elif name == "single example rescaling":
        x[0] *= scale
    else:
        raise ValueError(f"unknown transformation {name!r}; one of {', '.join(TRANSFORMATIONS)}")
    return weight, x


def invariance_table(
    seed: int = 0,
    examples: int = 32,
    in_features: int = 8,
    out_features: int = 16,
    scale: float = 3.0,
    shift: float = 1.0,
    affine: bool = False,
    tolerance: float = 1e-3,
    random_affine: bool = False,
) -> pd.DataFrame:
    """Claim tested: Ba et al. Table 1 (and Zhang & Sennrich's RMSNorm row), computed.

    A Linear (no bias, as a = Wx in the papers) followed by each norm, in training mode and in
    float64, sees a batch ("the dataset") of random inputs. Each transformation is applied to
    the weight matrix or the data, and the block's output is compared with the untransformed
    one. Rescaling multiplies by `scale`; re-centring adds a random vector of scale `shift`:
    to every row of W (every unit's pre-activation moves by the same amount for a given
    example), or to every example of the dataset (each unit moves by a constant). The norm's
    affine parameters are off, or at their initial values with `affine=True` (same numbers),
    or random (as training might leave them) with `random_affine=True`: y = γ·x̂ + β depends
    on the input only through x̂, so γ and β, whatever their values, keep every invariance.

    Returns one row per (norm, transformation): max_change (the largest absolute change of
    any output value), invariant (max_change < tolerance: eps keeps rescalings from being
    exact), paper_invariant (PAPER_TABLE), matches_paper.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(examples, in_features, generator=generator, dtype=torch.float64)
    weight = torch.randn(out_features, in_features, generator=generator, dtype=torch.float64)
    weight /= math.sqrt(in_features)  # pre-activations of order 1
    rows = []
    for norm in PAPER_TABLE:
        layer = _plain_norm(norm, out_features, affine or random_affine).double().train()
        if random_affine:
            with torch.no_grad():
                for parameter in layer.parameters():  # γ (and β): like trained values
                    parameter.copy_(torch.randn(parameter.shape, generator=generator,
                                                dtype=parameter.dtype))
        with torch.no_grad():
            reference = layer(x @ weight.T)  # (N, D_out)
            for name in TRANSFORMATIONS:
                new_weight, new_x = _transform(name, weight, x, generator, scale, shift)
                change = float((layer(new_x @ new_weight.T) - reference).abs().max())
                invariant = change < tolerance
                paper = PAPER_TABLE[norm][name]
                rows.append(dict(norm=norm, transformation=name, max_change=change,
                                 invariant=invariant, paper_invariant=paper,
                                 matches_paper=invariant == paper))
    return frame(rows, ("norm", "transformation", "max_change", "invariant", "paper_invariant",
                        "matches_paper"))


def _plain_norm(norm: str, features: int, affine: bool) -> nn.Module:
    """The norm layer, with or without its (initial, identity) affine parameters."""
    if norm == "batch":
        return BatchNorm1d(features, affine=affine)
    if norm == "layer":
        return LayerNorm(features, elementwise_affine=affine)
    return RMSNorm(features, elementwise_affine=affine)


def paper_table() -> pd.DataFrame:
    """PAPER_TABLE as a tidy frame: norm, transformation, paper_invariant."""
    return frame([dict(norm=n, transformation=t, paper_invariant=v)
                  for n, row in PAPER_TABLE.items() for t, v in row.items()],
                 ("norm", "transformation", "paper_invariant"))
