"""Per-layer instrumentation: a removable hook object that keeps statistics, never raw values."""

from __future__ import annotations

from functools import partial

import pandas as pd
import torch
from torch import nn

from normlab.models import Block

POINTS = ("pre_norm", "post_norm", "activation")  # where each block is measured
QUANTILES = (0.15, 0.5, 0.85)  # Ioffe & Szegedy Fig 1 plots these three
SATURATION = 0.97  # |tanh| above this (sigmoid within 0.03 of 0 or 1) counts as saturated


class Table:
    """Columns of equal length, appended row by row; a DataFrame on demand."""

    def __init__(self, columns: tuple[str, ...]):
        self.data: dict[str, list] = {c: [] for c in columns}
        self._frame: pd.DataFrame | None = None

    def append(self, **row) -> None:
        for column, values in self.data.items():
            values.append(row[column])
        self._frame = None

    def extend(self, **columns) -> None:
        """Append several rows at once; a scalar value is repeated down its column."""
        n = max(len(v) for v in columns.values() if isinstance(v, list))
        for column, values in self.data.items():
            value = columns[column]
            values.extend(value if isinstance(value, list) else [value] * n)
        self._frame = None

    def __len__(self) -> int:
        return len(next(iter(self.data.values())))

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = pd.DataFrame(self.data)
        return self._frame

    def __getstate__(self):
        return {"data": self.data, "_frame": None}


STAT_COLUMNS = ("step", "layer", "point", "mean", "std", "p15", "p50", "p85",
                "saturated", "dead", "out_of_range", "nonfinite")
HIST_COLUMNS = ("step", "layer", "point", "bin_left", "bin_right", "count")
GRAD_COLUMNS = ("step", "layer", "weight_grad_norm", "output_grad_norm", "update_ratio",
                "weight_norm")


class Recorder:
    """Forward hooks on every Block: its norm's input and output, and its activation's output.

    Only while `active` (one training step per snapshot) does a hook do any work: it reduces the
    tensor to a few statistics and a histogram and lets the tensor go. Each (layer, point) gets
    its histogram range at its first snapshot, widened by a quarter on each side and then fixed,
    so snapshots of one layer are comparable; values outside land in the edge bins and are
    counted in `out_of_range`. `remove()` takes every hook off: the model is left as it was.
    """

    def __init__(self, model: nn.Module, bins: int = 40, activation: str = "relu"):
        self.blocks = [m for m in model.modules() if isinstance(m, Block)]
        self.bins, self.activation = bins, activation
        self.active, self.step = False, 0
        self.ranges: dict[tuple[int, str], tuple[float, float]] = {}
        self.stats, self.histograms = Table(STAT_COLUMNS), Table(HIST_COLUMNS)
        self.gradients = Table(GRAD_COLUMNS)
        self._output_grad: dict[int, float] = {}
        self._weights_before: list[torch.Tensor] = []
        self.handles = []
        for layer, block in enumerate(self.blocks):
            self.handles += [
                block.norm.register_forward_hook(partial(self._on_norm, layer)),
                block.activation.register_forward_hook(partial(self._on_activation, layer)),
                block.register_forward_hook(partial(self._on_block, layer)),
            ]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    # --- hooks -------------------------------------------------------------------------------
    def _on_norm(self, layer: int, module, inputs, output) -> None:
        if self.active:
            self._measure(layer, "pre_norm", inputs[0])
            self._measure(layer, "post_norm", output)

    def _on_activation(self, layer: int, module, inputs, output) -> None:
        if self.active:
            self._measure(layer, "activation", output)

    def _on_block(self, layer: int, module, inputs, output: torch.Tensor) -> None:
        if self.active and output.requires_grad:
            output.register_hook(partial(self._on_output_grad, layer))

    def _on_output_grad(self, layer: int, grad: torch.Tensor) -> None:
        self._output_grad[layer] = float(grad.norm())

    # --- measurements ------------------------------------------------------------------------
    @torch.no_grad()
    def _measure(self, layer: int, point: str, tensor: torch.Tensor) -> None:
        values = tensor.detach().double().flatten()  # float32 extremes overflow when widened
        finite = values[torch.isfinite(values)]
        nonfinite = 1.0 - finite.numel() / max(values.numel(), 1)
        key = (layer, point)
        if finite.numel() == 0:
            self.stats.append(step=self.step, layer=layer, point=point, mean=float("nan"),
                              std=float("nan"), p15=float("nan"), p50=float("nan"),
                              p85=float("nan"), saturated=float("nan"), dead=float("nan"),
                              out_of_range=float("nan"), nonfinite=nonfinite)
            return
        if key not in self.ranges:
            self.ranges[key] = _histogram_range(finite)
        lo, hi = self.ranges[key]
        q = torch.quantile(finite[:1_000_000], finite.new_tensor(QUANTILES))
        saturated = dead = float("nan")
        if point == "activation":
            saturated, dead = self._saturated(tensor), self._dead(tensor)
        std = float(finite.std()) if finite.numel() > 1 else 0.0
        self.stats.append(step=self.step, layer=layer, point=point, mean=float(finite.mean()),
                          std=std, p15=float(q[0]), p50=float(q[1]), p85=float(q[2]),
                          saturated=saturated, dead=dead,
                          out_of_range=float(((finite < lo) | (finite > hi)).float().mean()),
                          nonfinite=nonfinite)
        counts = torch.histc(finite.clamp(lo, hi), bins=self.bins, min=lo, max=hi).tolist()
        edges = torch.linspace(lo, hi, self.bins + 1, dtype=torch.float64).tolist()
        self.histograms.extend(step=self.step, layer=layer, point=point, bin_left=edges[:-1],
                               bin_right=edges[1:], count=[int(c) for c in counts])

    def _saturated(self, output: torch.Tensor) -> float:
        if self.activation == "tanh":
            return float((output.abs() > SATURATION).float().mean())
        if self.activation == "sigmoid":
            return float(((output < 1 - SATURATION) | (output > SATURATION)).float().mean())
        return float("nan")

    def _dead(self, output: torch.Tensor) -> float:
        """Fraction of units (channels for images) that output zero for every example."""
        if self.activation != "relu":
            return float("nan")
        alive = output.detach() > 0  # (N, D) or (N, C, H, W)
        per_unit = alive.transpose(0, 1).flatten(1).any(dim=1)  # (D,) or (C,)
        return float(1.0 - per_unit.float().mean())

    # --- gradients and updates (called by the training loop around the optimizer step) --------
    def before_update(self) -> None:
        self._weights_before = [b.linear.weight.detach().clone() for b in self.blocks]

    @torch.no_grad()
    def after_update(self) -> None:
        for layer, (block, before) in enumerate(zip(self.blocks, self._weights_before)):
            weight = block.linear.weight
            grad = weight.grad
            before_norm = float(before.norm())
            self.gradients.append(
                step=self.step, layer=layer,
                weight_grad_norm=float(grad.norm()) if grad is not None else float("nan"),
                output_grad_norm=self._output_grad.get(layer, float("nan")),
                update_ratio=float((weight - before).norm()) / max(before_norm, 1e-12),
                weight_norm=before_norm,
            )
        self._output_grad.clear()
        self._weights_before = []


def _histogram_range(finite: torch.Tensor) -> tuple[float, float]:
    """A range that holds nearly all of `finite` with room to move; starts at 0 for >= 0 data."""
    sample = finite[:1_000_000]
    lo, hi = (float(v) for v in torch.quantile(sample, sample.new_tensor([0.001, 0.999])))
    span = max(hi - lo, 1e-3 * max(abs(lo), abs(hi), 1.0))
    lo, hi = lo - 0.25 * span, hi + 0.25 * span
    if float(finite.min()) >= 0:
        lo = max(lo, 0.0)
    return lo, hi


def frames(recorder: Recorder) -> dict[str, pd.DataFrame]:
    return {
        "layer_stats": recorder.stats.frame,
        "histograms": recorder.histograms.frame,
        "gradients": recorder.gradients.frame,
    }


