"""The textbook formula of each norm, differentiated by autograd: the reference to check against.

normlab.functional writes each backward pass by hand; here every norm is the formula from its
paper in a few lines of eager torch, and autograd does the backward. The speed lesson times it
(as "naive", and compiled as "torch.compile"), and a twin test can compare either path with it.
"""

from __future__ import annotations

import torch
from torch import nn


def batch_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
               eps: float = 1e-5) -> torch.Tensor:
    """y = γ (x − μ_B) / √(σ²_B + ε) + β, statistics over the batch (dim 0), biased variance."""
    mean = x.mean(0, keepdim=True)  # (1, D)
    var = (x - mean).pow(2).mean(0, keepdim=True)  # (1, D)
    return (x - mean) * torch.rsqrt(var + eps) * weight + bias


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
               eps: float = 1e-5) -> torch.Tensor:
    """y = γ (x − μ) / √(σ² + ε) + β, statistics over each example's features (last dim)."""
    mean = x.mean(-1, keepdim=True)  # (N, 1)
    var = (x - mean).pow(2).mean(-1, keepdim=True)  # (N, 1)
    return (x - mean) * torch.rsqrt(var + eps) * weight + bias


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float | None = None) -> torch.Tensor:
    """y = γ x / √(mean(x²) + ε), over each example's features; eps None: the dtype's eps."""
    eps = torch.finfo(x.dtype).eps if eps is None else eps
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight  # (N, 1) scale


class ReferenceNorm(nn.Module):
    """One of the formulas above as a layer (training-mode statistics only, no running ones).

    Args:
        norm: "batch", "layer" or "rms".
        features: D, the size of the last dimension.
        eps: added to the variance (or mean square); None for rms means the dtype's eps.

    Shape: (N, D) in, (N, D) out.
    """

    def __init__(self, norm: str, features: int, eps: float | None):
        super().__init__()
        if norm not in ("batch", "layer", "rms"):
            raise ValueError(f"unknown norm {norm!r}; one of batch, layer, rms")
        self.norm, self.eps = norm, eps
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features)) if norm != "rms" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm == "rms":
            return rms_norm(x, self.weight, self.eps)
        formula = batch_norm if self.norm == "batch" else layer_norm
        return formula(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.norm}, {self.weight.shape[0]}, eps={self.eps}"
