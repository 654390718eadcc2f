"""Why does batch norm help? Santurkar et al. 2018 against the internal-covariate-shift story.

Ioffe & Szegedy (2015) said batch norm helps because it keeps the distribution each layer sees
steady ("internal covariate shift"). Santurkar et al. (2018) tested that two ways, both rerun
here on an MLP:

1. **Noisy batch norm**: after every batch norm, shift and scale each unit by amounts drawn
   afresh at every step, so the next layer sees a distribution that moves all the time. If
   steadiness were the point, this should lose batch norm's gain. It does not (their VGG).
2. **Smoothness**: at sampled steps, walk from the weights along the gradient, at step sizes
   lr * [0.5, 1, 2, 4], and measure how much the loss and the gradient change on the way
   ("gradient predictiveness", "effective beta-smoothness"). Batch norm makes both smaller.

The conditions are "none", "batch" and "noisy_batch" (the engine's batch-norm network with a
`NoisyBatchNorm` around each of its batch norms). Every condition of one seed starts from the
same weights and batches (engine.prepare); the noise is drawn from a generator seeded by the
run's seed and the layer, so a run is reproducible.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from normlab import stats
from normlab.config import TrainConfig
from normlab.engine import evaluate, prepare, train_step
from normlab.lessons._common import QUICK, Progress, ShouldStop, Sweep, frame
from normlab.norms import BatchNorm1d

CONDITIONS = ("none", "batch", "noisy_batch")
CONDITION_LABELS = {"none": "No norm", "batch": "BatchNorm", "noisy_batch": "Noisy BatchNorm"}
# Deep enough that no norm trains visibly worse at this learning rate (at 0.1 it diverges in
# some seeds); ~0.3 s a run, ~5 s for the three conditions and five seeds.
WHY_BN_QUICK = QUICK.replace(depth=6, lr=0.05, steps=200, eval_every=50)
MULTIPLIERS = (0.5, 1.0, 2.0, 4.0)  # probe step sizes, in units of the learning rate

RUN_COLUMNS = ("condition", "seed", "status", "steps_run", "final_train_loss",
               "final_val_loss", "final_val_accuracy", "wall_time")
PROBE_COLUMNS = ("condition", "seed", "step", "multiplier", "distance", "loss_change",
                 "grad_change", "grad_norm")
SMOOTHNESS_COLUMNS = ("condition", "seed", "step", "loss_range", "grad_change", "beta")
SHIFT_COLUMNS = ("condition", "seed", "step", "quantile", "value")


def perturb(xhat: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """y = scale * xhat + shift, one scale and shift per unit: xhat (N, D), scale, shift (D,)."""
    return torch.addcmul(shift, xhat, scale)  # (N, D)


class NoisyBatchNorm(nn.Module):
    """A batch norm whose output is shifted and scaled per unit by noise drawn every step.

    In training, each forward draws per unit j a shift mu_j ~ U(-shift, shift) and a scale
    sigma_j ~ U(1, scale), and returns sigma_j * BN(x)_j + mu_j: the next layer sees a mean
    and spread that change at every step (non-zero mean, non-unit variance, as in Santurkar et
    al.'s "noisy BN"). `frozen` keeps the last draw (the smoothness probes measure one fixed
    function). In eval mode the noise is replaced by its expectation (scale (1 + scale) / 2,
    shift 0), as dropout evaluates with its expected mask.
    """

    def __init__(self, batch_norm: nn.Module, generator: torch.Generator, shift: float = 1.0,
                 scale: float = 3.0):
        super().__init__()
        self.batch_norm, self.generator = batch_norm, generator
        self.shift, self.scale = shift, scale
        self.frozen = False
        self.noise: tuple[Tensor, Tensor] | None = None  # the last (scale, shift), (D,) each

    def draw(self, features: int) -> tuple[Tensor, Tensor]:
        uniform = torch.rand(2, features, generator=self.generator)  # (2, D)
        return 1 + (self.scale - 1) * uniform[0], self.shift * (2 * uniform[1] - 1)

    def forward(self, x: Tensor) -> Tensor:
        xhat = self.batch_norm(x)  # (N, D)
        if not self.training:
            return xhat * ((1 + self.scale) / 2)
        if self.noise is None or not self.frozen:
            self.noise = self.draw(x.shape[1])
        scale, shift = (t.to(x.device, x.dtype) for t in self.noise)
        return perturb(xhat, scale, shift)

    def extra_repr(self) -> str:
        return f"shift=U(-{self.shift:g}, {self.shift:g}), scale=U(1, {self.scale:g})"


def build(cfg: TrainConfig, condition: str, shift: float = 1.0, scale: float = 3.0):
    """engine.prepare's setup for the condition: noisy_batch wraps each batch norm of the
    batch-norm network in a NoisyBatchNorm seeded by (cfg.seed, layer)."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; one of {', '.join(CONDITIONS)}")
    setup = prepare(cfg.replace(norm="none" if condition == "none" else "batch"))
    if condition == "noisy_batch":
        for layer, block in enumerate(setup.model.blocks):
            assert isinstance(block.norm, BatchNorm1d)
            generator = torch.Generator().manual_seed(1_000_003 * cfg.seed + layer)
            block.norm = NoisyBatchNorm(block.norm, generator, shift, scale)
    return setup


def _noisy_layers(model: nn.Module) -> list[NoisyBatchNorm]:
    return [m for m in model.modules() if isinstance(m, NoisyBatchNorm)]


def _loss_and_grad(model: nn.Module, x: Tensor, y: Tensor) -> tuple[float, list[Tensor]]:
    params = [p for p in model.parameters() if p.requires_grad]
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params)
    return float(loss.detach()), [g.detach() for g in grads]


def probe(model: nn.Module, x: Tensor, y: Tensor, lr: float,
          multipliers: Sequence[float] = MULTIPLIERS) -> list[dict]:
    """Walk from the weights along minus the gradient of the batch (x, y), by lr * multiplier,
    and measure the loss and gradient there; the model is left exactly as it was.

    Rows: multiplier, distance (the length of the move), loss_change (loss there minus loss
    here), grad_change (norm of the gradient there minus the gradient here), grad_norm (here).
    Batch norm layers use batch statistics (training mode) and their running statistics are
    put back; noisy layers keep one draw of noise for the whole walk.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    buffers = [b.clone() for b in model.buffers()]
    start = [p.detach().clone() for p in params]
    loss0, grad0 = _loss_and_grad(model, x, y)  # a noisy layer draws its noise here, once
    grad_norm = math.sqrt(sum(float(g.square().sum()) for g in grad0))
    noisy = _noisy_layers(model)
    was_frozen = [layer.frozen for layer in noisy]
    for layer in noisy:
        layer.frozen = True
    rows = []
    try:
        for multiplier in multipliers:
            with torch.no_grad():
                for p, p0, g in zip(params, start, grad0):
                    p.copy_(p0 - multiplier * lr * g)
            loss, grad = _loss_and_grad(model, x, y)
            change = math.sqrt(sum(float((g - g0).square().sum()) for g, g0 in zip(grad, grad0)))
            rows.append(dict(multiplier=multiplier, distance=multiplier * lr * grad_norm,
                             loss_change=loss - loss0, grad_change=change, grad_norm=grad_norm))
    finally:
        with torch.no_grad():
            for p, p0 in zip(params, start):
                p.copy_(p0)
            for b, b0 in zip(model.buffers(), buffers):
                b.copy_(b0)
        for layer, frozen in zip(noisy, was_frozen):
            layer.frozen = frozen
    return rows


class WhyBN(NamedTuple):
    runs: pd.DataFrame  # one row per (condition, seed): RUN_COLUMNS
    probes: pd.DataFrame  # one row per (condition, seed, probed step, multiplier)
    shift: pd.DataFrame  # the 15/50/85th percentiles of one unit after the norm, by step


def why_bn(
    conditions: Sequence[str] = CONDITIONS,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    base: TrainConfig = WHY_BN_QUICK,
    probe_every: int = 20,
    multipliers: Sequence[float] = MULTIPLIERS,
    noise_shift: float = 1.0,
    noise_scale: float = 3.0,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> WhyBN:
    """Claims tested: batch norm still helps when the distribution after it shifts every step
    (so steadiness is not why it helps); batch norm makes the loss smoother along the gradient.

    Trains every (condition, seed) for `base.steps` steps with engine.train_step. Every
    `probe_every` steps, before the update, `probe` walks along that batch's gradient, and the
    15th/50th/85th percentiles over the batch of unit 0 of the middle layer's norm output
    (noise included; the linear output without a norm), the distribution its activation and
    the next layer receive, are kept. Probing leaves training unchanged.
    """
    grid = [(c, s) for c in conditions for s in seeds]
    sweep = Sweep(len(grid), progress, should_stop)
    runs, probes, shifts = [], [], []
    for condition, seed in grid:
        if sweep.stopped():
            break
        run, walks, seen = train_probed(base.replace(seed=seed), condition, probe_every,
                                        multipliers, noise_shift, noise_scale)
        key = dict(condition=condition, seed=seed)
        runs.append({**key, **run})
        probes += [{**key, **row} for row in walks]
        shifts += [{**key, **row} for row in seen]
        sweep.advance()
    return WhyBN(frame(runs, RUN_COLUMNS), frame(probes, PROBE_COLUMNS),
                 frame(shifts, SHIFT_COLUMNS))


def train_probed(cfg: TrainConfig, condition: str, probe_every: int = 20,
                 multipliers: Sequence[float] = MULTIPLIERS, noise_shift: float = 1.0,
                 noise_scale: float = 3.0) -> tuple[dict, list[dict], list[dict]]:
    """One run of `why_bn`: its summary, its probe rows and its watched-unit percentiles."""
    cfg, data, model, optimizer, batches = build(cfg, condition, noise_shift, noise_scale)
    watched = model.blocks[len(model.blocks) // 2].norm  # identity without a norm
    noisy = _noisy_layers(model)
    seen: list[Tensor] = []  # unit 0 of the watched norm's output (B,), while probing
    walks, percentiles, losses = [], [], []
    status, steps_run = "finished", cfg.steps
    start = time.perf_counter()
    for step in range(cfg.steps):
        index = batches.next()
        x, y = data.x_train[index], data.y_train[index]
        if step % probe_every == 0:
            seen.clear()
            hook = watched.register_forward_hook(
                lambda module, inputs, output: seen.append(output[:, 0].detach()))
            walks += [dict(step=step, **row) for row in probe(model, x, y, cfg.lr, multipliers)]
            hook.remove()
            percentiles += [dict(step=step, quantile=q, value=float(seen[0].quantile(q)))
                            for q in (0.15, 0.5, 0.85)]  # seen[0]: the unmoved weights
            for layer in noisy:
                layer.frozen = True  # the update uses the noise the probe saw
        _, loss, finite = train_step(model, optimizer, x, y)
        for layer in noisy:
            layer.frozen = False
        if not finite:
            status, steps_run = "diverged", step
            break
        losses.append(float(loss.detach()))
    wall_time = time.perf_counter() - start
    val_loss, val_accuracy = (evaluate(model, data.x_val, data.y_val)
                              if status == "finished" else (math.nan, math.nan))
    tail = losses[-10:]
    run = dict(status=status, steps_run=steps_run,
               final_train_loss=sum(tail) / len(tail) if tail else math.nan,
               final_val_loss=val_loss, final_val_accuracy=val_accuracy, wall_time=wall_time)
    return run, walks, percentiles


def smoothness(probes: pd.DataFrame) -> pd.DataFrame:
    """Per (condition, seed, step): loss_range (max minus min loss along the walk, the start
    included), grad_change (the largest gradient change: low = predictive gradient) and beta
    (the largest gradient change per unit distance: "effective beta-smoothness")."""
    rows = []
    for (condition, seed, step), walk in probes.groupby(["condition", "seed", "step"],
                                                         sort=False):
        losses = [0.0, *walk["loss_change"]]
        ratio = walk["grad_change"] / walk["distance"].where(walk["distance"] > 0)
        rows.append(dict(condition=condition, seed=seed, step=step,
                         loss_range=max(losses) - min(losses),
                         grad_change=float(walk["grad_change"].max()),
                         beta=float(ratio.max())))
    return frame(rows, SMOOTHNESS_COLUMNS)


def distribution_shift(shift: pd.DataFrame) -> pd.DataFrame:
    """Per condition, how far the watched unit's distribution moves between probed steps: the
    mean absolute change of its median over its mean 15th-85th spread (median over seeds),
    a crude measure of internal covariate shift (0: a steady distribution)."""
    wide = shift.pivot_table(index=["condition", "seed", "step"], columns="quantile",
                             values="value").reset_index()
    rows = []
    for (condition, seed), run in wide.groupby(["condition", "seed"], sort=False):
        spread = float((run[0.85] - run[0.15]).mean())
        jump = float(run[0.5].diff().abs().mean())
        rows.append(dict(condition=condition, seed=seed,
                         shift=jump / spread if spread > 0 else float("nan")))
    per_seed = frame(rows, ("condition", "seed", "shift"))
    return per_seed.groupby("condition", sort=False)["shift"].median().reset_index()


def accuracy_intervals(runs: pd.DataFrame) -> pd.DataFrame:
    """Per condition: mean final validation accuracy of the finished seeds and its 95% t
    interval (a diverged seed is counted as chance: it did not train)."""
    rows = []
    for condition in [c for c in CONDITIONS if c in set(runs["condition"])]:
        accuracy = runs.loc[runs["condition"] == condition, "final_val_accuracy"]
        values = accuracy.fillna(0.1).tolist()  # digits' chance level for a diverged seed
        interval = stats.t_interval(values)
        rows.append(dict(condition=condition, mean=interval.effect, low=interval.low,
                         high=interval.high, n=interval.n,
                         diverged=int(accuracy.isna().sum())))
    return frame(rows, ("condition", "mean", "low", "high", "n", "diverged"))


def _per_seed(runs: pd.DataFrame, condition: str) -> dict[int, float]:
    rows = runs[runs["condition"] == condition]
    return {int(s): float(a) if not math.isnan(a) else 0.1
            for s, a in zip(rows["seed"], rows["final_val_accuracy"])}


def verdict_noise_keeps_the_gain(runs: pd.DataFrame, margin: float = 0.0) -> stats.Decision:
    """"Batch norm helps even when the distribution after it shifts every step": noisy batch
    norm's final validation accuracy minus no norm's, seed by seed, above `margin`."""
    differences = stats.paired_differences(_per_seed(runs, "noisy_batch"), _per_seed(runs, "none"))
    return stats.decide(differences, threshold=margin, direction="above")


def verdict_bn_smoother(probes: pd.DataFrame, condition: str = "batch") -> stats.Decision:
    """"Batch norm makes the loss smoother": per seed, log10 of the median effective beta of
    `condition` over no norm's (same seed, same probed steps), below 0."""
    smooth = smoothness(probes)
    median = smooth.groupby(["condition", "seed"])["beta"].median()
    ours, base = median.get(condition), median.get("none")
    if ours is None or base is None:
        raise ValueError(f"needs probes of both {condition!r} and 'none'")
    ratios = {s: math.log10(ours[s] / base[s]) for s in ours.index if s in base.index}
    return stats.decide(list(ratios.values()), threshold=0.0, direction="below")
