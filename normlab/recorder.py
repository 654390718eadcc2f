"""Per-layer instrumentation: a removable hook object that keeps statistics, never raw values."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd
import torch
from torch import nn

from normlab.models import Block, TransformerBlock

POINTS = ("pre_norm", "post_norm", "activation")  # where each block is measured
QUANTILES = (0.15, 0.5, 0.85)  # Ioffe & Szegedy Fig 1 plots these three
SATURATION = 0.97  # |tanh| above this (sigmoid within 0.03 of 0 or 1) counts as saturated
# Bounds on the recorder's working memory (~25 bytes per value of a group, so ~50 MB at most):
MEASURED_VALUES = 2**20  # values per (layer, point) measured, a random sample above: the largest
# MLP layer (batch 1024 x width 1024) is measured whole; a CNN is sampled above 16,384 =
# batch x width (e.g. 128 x 256), since each channel holds 64 pixels per example.
GROUP_VALUES = 2**21  # values measured together in one batch of tensor operations


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

    def copy(self) -> Table:
        """A copy that later appends to this table do not reach (safe to read in another
        thread while this one grows)."""
        twin = Table(tuple(self.data))
        twin.data = {column: list(values) for column, values in self.data.items()}
        return twin

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
    """Hooks on every Block for one training step at a time: its norm's input and output, its
    activation's output, and the gradient arriving at the block's output.

    `begin(step)` attaches the hooks before a snapshot step's forward pass; `end()`, after the
    optimizer step, reduces what they saw to statistics, histograms and gradient norms, drops
    the tensors and takes the hooks off again, so between snapshots the model runs untouched.
    The (layer, point) tensors of a snapshot that have one size (all of them in an MLP or CNN;
    a transformer's feed-forward activations are 4x wider) are measured together in
    a few batched operations, a group of up to GROUP_VALUES values at a time (a group is
    measured as soon as it is full, during the forward pass of a large model). A tensor of more
    than MEASURED_VALUES values is measured from a random sample of that many (its key is then
    in `sampled`); its saturated and dead fractions still count every value. Each (layer,
    point) gets its histogram range at its first snapshot, widened by a quarter on each side
    and then fixed, so snapshots of one layer are comparable; values outside land in the edge
    bins and are counted in `out_of_range`.
    """

    def __init__(self, model: nn.Module, bins: int = 40, activation: str = "relu"):
        self.blocks = [m for m in model.modules() if isinstance(m, (Block, TransformerBlock))]
        self.bins, self.activation = bins, activation
        self.step = 0
        self.ranges: dict[tuple[int, str], tuple[float, float]] = {}
        self.stats, self.histograms = Table(STAT_COLUMNS), Table(HIST_COLUMNS)
        self.gradients = Table(GRAD_COLUMNS)
        self.handles: list = []
        self._seen: list[tuple[int, str, torch.Tensor]] = []
        self._output_grad: dict[int, torch.Tensor] = {}
        self._weights_before: list[torch.Tensor] = []
        self.sampled: set[tuple[int, str]] = set()  # (layer, point)s measured from a sample

    def begin(self, step: int) -> None:
        """Watch the next forward and backward pass as snapshot `step`."""
        self.remove()
        self.step = step
        self._weights_before = [b.linear.weight.detach().clone() for b in self.blocks]
        for layer, block in enumerate(self.blocks):
            self.handles += [
                block.norm.register_forward_hook(partial(self._on_norm, layer)),
                block.activation.register_forward_hook(partial(self._on_activation, layer)),
                block.register_forward_hook(partial(self._on_block, layer)),
            ]

    def end(self) -> None:
        """Measure the snapshot (call after the optimizer step) and take the hooks off."""
        self.remove()
        if self._seen:
            self._measure_activations()
        if self._weights_before:
            self._measure_gradients()
        self.clear()

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def clear(self) -> None:
        self._seen, self._output_grad, self._weights_before = [], {}, []

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
        self.clear()

    # --- hooks: keep references until a group of them is measured ---------------------------
    def _on_norm(self, layer: int, module, inputs, output) -> None:
        self._keep(layer, "pre_norm", inputs[0])
        self._keep(layer, "post_norm", output)

    def _on_activation(self, layer: int, module, inputs, output) -> None:
        if output.dim() == 3:  # (B, T, units) in a transformer: each position is an example
            output = output.flatten(0, 1)  # (B * T, units)
        self._keep(layer, "activation", output)

    def _on_block(self, layer: int, module, inputs, output: torch.Tensor) -> None:
        if output.requires_grad:
            output.register_hook(partial(self._on_output_grad, layer))

    def _on_output_grad(self, layer: int, grad: torch.Tensor) -> None:
        self._output_grad[layer] = torch.linalg.vector_norm(grad.detach())

    def _keep(self, layer: int, point: str, tensor: torch.Tensor) -> None:
        """Hold a tensor until `end()`, or measure its group at once when the group is full:
        a large model's activations are then not held through the backward pass."""
        self._seen.append((layer, point, tensor.detach()))
        if len(self._seen) >= rows_per_group(tensor.numel()):
            self._measure_activations()

    # --- measurements ------------------------------------------------------------------------
    @torch.no_grad()
    def _measure_activations(self) -> None:
        """Measure the held tensors, a group of rows at a time, and let go of them."""
        by_size: dict[int, list] = {}  # one size in an MLP or CNN; a transformer's feed-forward
        for layer, point, tensor in self._seen:  # activation is 4x its norm's width
            by_size.setdefault(tensor.numel(), []).append(((layer, point), tensor))
        self._seen = []
        for size, held in by_size.items():
            keys, tensors = [key for key, _ in held], [tensor for _, tensor in held]
            if size > MEASURED_VALUES:
                self.sampled.update(keys)
            per_group = rows_per_group(size)
            for start in range(0, len(keys), per_group):
                group = slice(start, start + per_group)
                self._measure_rows(keys[group], tensors[group])

    def _measure_rows(self, keys: list[tuple[int, str]], tensors: list[torch.Tensor]) -> None:
        """Statistics and histograms of a few (layer, point)s, one row each, appended to the
        tables. Every value is measured, or a fixed-size sample of a tensor above
        MEASURED_VALUES; the working memory is a few copies of the rows in float32/float64."""
        values = torch.stack([self._measured(t) for t in tensors]).float()  # (K, n)
        # float64 from here: widening a float32 extreme (~3e38) by a quarter would overflow.
        work = values.double()  # (K, n), reused in place for every pass below
        sums = work.sum(1)  # (K,)
        # A float64 sum of float32 values cannot overflow, so it is finite exactly when every
        # value is: then no masks are needed (the usual case; a diverging run takes the other).
        finite = None if bool(torch.isfinite(sums).all()) else torch.isfinite(values)
        if finite is None:
            count = torch.full((len(keys),), values.shape[1])  # (K,)
            ordered = _sorted_rows(values)
        else:
            count = finite.sum(1)
            ordered = _sorted_rows(values.masked_fill(~finite, math.nan))  # NaN last
            sums = work.masked_fill_(~finite, 0.0).sum(1)
        new = [i for i, key in enumerate(keys) if key not in self.ranges]
        if new:
            edges = _quantiles(ordered[new], count[new], (0.001, 0.999)).tolist()
            minimum = ordered[new, 0].tolist()
            for i, (lo, hi), low in zip(new, edges, minimum):
                self.ranges[keys[i]] = _histogram_range(lo, hi, low)
        ranges = work.new_tensor([self.ranges[key] for key in keys])  # (K, 2)
        lo, hi = ranges[:, :1], ranges[:, 1:]  # (K, 1)
        n = count.clamp(min=1)
        mean = sums / n
        outside = (work < lo) | (work > hi)  # (K, n)
        if finite is not None:
            outside &= finite
        outside = outside.sum(1)
        centred = work.sub_(mean[:, None])
        if finite is not None:
            centred.masked_fill_(~finite, 0.0)
        std = (centred.square_().sum(1) / (count - 1).clamp(min=1)).sqrt()
        quantiles = _quantiles(ordered, count, QUANTILES)  # (K, 3)
        # Histograms of every row at once: bin index per value, then one bincount.
        clean = work.copy_(values)
        if finite is not None:
            clean.masked_fill_(~finite, 0.0)
        position = clean.clamp_(lo, hi).sub_(lo).div_(hi - lo).mul_(self.bins).int()  # (K, n)
        offsets = torch.arange(0, len(keys) * self.bins, self.bins, dtype=torch.int32)  # (K,)
        position.clamp_(max=self.bins - 1).add_(offsets.to(position.device)[:, None])
        if finite is not None:
            position.masked_fill_(~finite, len(keys) * self.bins)  # a last bin, dropped
        counts = torch.bincount(position.view(-1), minlength=len(keys) * self.bins + 1)
        saturated, dead = self._saturated_and_dead(keys, tensors)
        columns = {
            "mean": mean, "std": std, "p15": quantiles[:, 0], "p50": quantiles[:, 1],
            "p85": quantiles[:, 2], "out_of_range": outside / n,
            "nonfinite": 1.0 - count / values.shape[1],
        }
        columns = {name: column.tolist() for name, column in columns.items()}
        empty = (count == 0).tolist()
        for name in ("mean", "std", "p15", "p50", "p85", "out_of_range"):
            columns[name] = [math.nan if e else v for v, e in zip(columns[name], empty)]
        self.stats.extend(step=self.step, layer=[k[0] for k in keys], point=[k[1] for k in keys],
                          saturated=saturated, dead=dead, **columns)
        steps = torch.arange(self.bins + 1, dtype=torch.float64) / self.bins  # (bins + 1,)
        edges = lo + (hi - lo) * steps  # (K, bins + 1)
        self.histograms.extend(
            step=self.step,
            layer=[layer for layer, _ in keys for _ in range(self.bins)],
            point=[point for _, point in keys for _ in range(self.bins)],
            bin_left=edges[:, :-1].reshape(-1).tolist(),
            bin_right=edges[:, 1:].reshape(-1).tolist(),
            count=counts[:-1].tolist(),
        )

    def _measured(self, tensor: torch.Tensor) -> torch.Tensor:
        """The tensor's values as one row: all of them, or MEASURED_VALUES drawn at random
        (the same positions for every tensor of the snapshot) when there are more."""
        flat = tensor.reshape(-1)
        if len(flat) <= MEASURED_VALUES:
            return flat
        generator = torch.Generator().manual_seed(self.step)
        index = torch.randint(len(flat), (MEASURED_VALUES,), generator=generator)
        return flat[index.to(flat.device)]

    def _saturated_and_dead(self, keys, tensors) -> tuple[list[float], list[float]]:
        """Saturated fraction (tanh, sigmoid) and dead-unit fraction (relu) of activation
        outputs; NaN for other points and activations. A unit (a channel, for images) is dead
        when it outputs zero for every example of the batch. Every value counts, a slice of
        the batch at a time."""
        nan = [math.nan] * len(keys)
        rows = [i for i, (_, point) in enumerate(keys) if point == "activation"]
        if not rows or self.activation not in ("tanh", "sigmoid", "relu"):
            return nan, nan
        outputs = [tensors[i] for i in rows]
        examples = max(1, GROUP_VALUES // (len(rows) * outputs[0][0].numel()))
        hits, alive = 0, False
        for start in range(0, len(outputs[0]), examples):
            # (L, b, D) or (L, b, C, H, W): the whole batch in one slice at moderate sizes
            chunk = torch.stack([output[start:start + examples] for output in outputs])
            if self.activation == "tanh":
                hits = hits + (chunk.abs() > SATURATION).flatten(1).sum(1)
            elif self.activation == "sigmoid":
                flat = chunk.flatten(1)
                hits = hits + ((flat < 1 - SATURATION) | (flat > SATURATION)).sum(1)
            else:
                alive = alive | (chunk > 0).transpose(1, 2).flatten(2).any(dim=2)  # (L, units)
        saturated, dead = list(nan), list(nan)
        if self.activation == "relu":
            for i, value in zip(rows, (1.0 - alive.float().mean(1)).tolist()):
                dead[i] = value
        else:
            # As (mask).float().mean(1): a float32 count (exact below 2**24) over the total.
            fraction = hits.float().div_(outputs[0].numel())
            for i, value in zip(rows, fraction.tolist()):
                saturated[i] = value
        return saturated, dead

    @torch.no_grad()
    def _measure_gradients(self) -> None:
        weights = [b.linear.weight for b in self.blocks]
        nan = torch.tensor(math.nan)
        grad_norms = torch.stack([torch.linalg.vector_norm(w.grad) if w.grad is not None
                                  else nan for w in weights]).tolist()
        before = torch.stack([torch.linalg.vector_norm(w) for w in self._weights_before])
        moved = torch.stack([torch.linalg.vector_norm(w - b)
                             for w, b in zip(weights, self._weights_before)])
        output = [float(self._output_grad[i]) if i in self._output_grad else math.nan
                  for i in range(len(weights))]
        self.gradients.extend(step=self.step, layer=list(range(len(weights))),
                              weight_grad_norm=grad_norms, output_grad_norm=output,
                              update_ratio=(moved / before.clamp(min=1e-12)).tolist(),
                              weight_norm=before.tolist())


def rows_per_group(size: int) -> int:
    """How many (layer, point)s of `size` values each are measured together."""
    return max(1, GROUP_VALUES // min(size, MEASURED_VALUES))


def _sorted_rows(values: torch.Tensor) -> torch.Tensor:
    """Each row sorted ascending, NaN last. On the CPU numpy's vectorised sort is ~8x faster
    than torch's (measured on 18 x 4096 float32: 0.8 ms against 6 ms)."""
    if values.device.type == "cpu":
        return torch.from_numpy(np.sort(values.numpy(), axis=1))
    return values.sort(dim=1).values


def _quantiles(ordered: torch.Tensor, count: torch.Tensor, qs) -> torch.Tensor:
    """Linear-interpolated quantiles (as torch.quantile) of each row's first `count` values,
    in float64 whatever the rows' dtype: only the few order statistics needed are widened.

    ordered: (K, n) sorted rows; count: (K,) how many leading values are real. Returns (K, Q).
    """
    q = torch.tensor(qs, dtype=torch.float64, device=ordered.device)  # (Q,)
    last = (count.clamp(min=1) - 1).double()[:, None]  # (K, 1)
    position = q[None, :] * last  # (K, Q)
    below = position.floor().long()
    above = position.ceil().long()
    frac = position - below
    low, high = ordered.gather(1, below).double(), ordered.gather(1, above).double()
    return low + (high - low) * frac


def _histogram_range(lo: float, hi: float, minimum: float) -> tuple[float, float]:
    """A range around the 0.1-99.9% quantiles [lo, hi] with room to move; starts at 0 for data
    that is never negative."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return -1.0, 1.0
    span = max(hi - lo, 1e-3 * max(abs(lo), abs(hi), 1.0))
    lo, hi = lo - 0.25 * span, hi + 0.25 * span
    if minimum >= 0:
        lo = max(lo, 0.0)
    return lo, hi

