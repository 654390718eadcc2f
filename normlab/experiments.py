"""The experiments behind the lessons: each one tests a claim about a norm and returns tidy frames.

Every function is deterministic by seed, runs in a few seconds with its defaults on a 2-core
CPU, and returns long-form pandas frames that a plot builder or a CSV export takes as they are.
Sweeps that train many networks accept `progress(fraction_done)` and `should_stop()` callbacks;
a stopped sweep returns the rows finished so far.

Lessons, in order: batch size (`batch_size_sweep`), batch dependence (`batch_dependence`),
train vs eval (`running_stats_trace`, `biased_vs_unbiased`), depth (`depth_sweep`),
invariances (`invariance_table`, `PAPER_TABLE`), speed (`time_norms`), convergence
(`convergence_sweep`); then the claim checker (`CLAIMS`, `check_claim`) and the paper presets
(`PRESETS`, `run_preset`).
"""

from __future__ import annotations

import inspect
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from normlab.config import ConfigError, TrainConfig
from normlab.data import Dataset
from normlab.engine import (
    METRIC_COLUMNS,
    Run,
    evaluate,
    prepare,
    set_threads,
    stream,
)
from normlab.norms import BatchNorm1d, LayerNorm, RMSNorm
from normlab.registry import build_norm

Progress = Callable[[float], None] | None
ShouldStop = Callable[[], bool] | None

# A small network that learns digits in a few hundred steps: the base of the training sweeps.
QUICK = TrainConfig(depth=3, width=64, steps=200, eval_every=50, record_every=50)
# lr 0.02: at the default 0.05 (momentum 0.9) batches of 1 or 2 are too noisy for every norm,
# and the batch-size lesson should be about the norm, not about that.
BATCH_SIZE_QUICK = QUICK.replace(lr=0.02)

# Lesson page names, so a claim can say where its lesson lives in the app.
LESSONS = {
    "batch_size": "Batch size",
    "batch_dependence": "Batch dependence",
    "train_vs_eval": "Train vs eval",
    "depth": "Depth",
    "invariances": "Invariances",
    "speed": "Speed",
    "convergence": "Convergence",
}


class _Sweep:
    """Progress and stop bookkeeping shared by every sweep."""

    def __init__(self, total: int, progress: Progress, should_stop: ShouldStop):
        self.total, self.done = max(total, 1), 0
        self.progress, self.should_stop = progress, should_stop

    def stopped(self) -> bool:
        return self.should_stop is not None and bool(self.should_stop())

    def advance(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(min(self.done / self.total, 1.0))


def _frame(rows: list[dict], columns: Sequence[str]) -> pd.DataFrame:
    """A frame with these columns in this order, even when there are no rows."""
    return pd.DataFrame(rows, columns=list(columns))


def _train(cfg: TrainConfig, should_stop: ShouldStop = None, record: bool = True) -> Run:
    """engine.stream run out, closed early (status "stopped") when `should_stop()` says so."""
    runs = stream(cfg, record=record)
    run = None
    for run in runs:
        if should_stop is not None and should_stop() and run.status == "running":
            runs.close()
            break
    return run


# ---------------------------------------------------------------------------------------------
# 1. Batch size
# ---------------------------------------------------------------------------------------------


@dataclass
class _Fit:
    """A trained model with its data: what engine.train does not hand back."""

    model: nn.Module
    data: Dataset
    status: str  # finished, diverged or stopped
    losses: list[float]
    wall_time: float
    message: str = ""


def _fit(cfg: TrainConfig, should_stop: ShouldStop = None) -> _Fit:
    """Train `cfg` with the engine's pieces (data, model, optimizer, batches), keep the model.

    The same updates as engine.stream without the recorder or the periodic validation, so the
    model can be evaluated afterwards in both modes.
    """
    cfg, data, model, optimizer, batches = prepare(cfg)
    losses: list[torch.Tensor] = []
    status, message = "finished", ""
    start = time.perf_counter()
    for step in range(cfg.steps):
        if should_stop is not None and step % 50 == 0 and should_stop():
            status = "stopped"
            break
        index = batches.next()
        loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
        if not torch.isfinite(loss):
            status, message = "diverged", f"the loss became {loss.item()} at step {step}"
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    wall_time = time.perf_counter() - start
    return _Fit(model, data, status, [float(v) for v in losses], wall_time, message)


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
    sweep = _Sweep(len(grid), progress, should_stop)
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
        fit = _fit(cfg, should_stop)
        if fit.status == "stopped":
            break
        if fit.losses:
            tail = fit.losses[-max(1, len(fit.losses) // 10):]
            row["final_train_loss"] = sum(tail) / len(tail)
        if fit.status == "finished":
            _, row["val_accuracy"] = evaluate(fit.model, fit.data.x_val, fit.data.y_val)
            row["train_mode_val_accuracy"] = train_mode_accuracy(
                fit.model, fit.data.x_val, fit.data.y_val, batch_size)
        rows.append({**row, "status": fit.status, "message": fit.message,
                     "wall_time": fit.wall_time})
        sweep.advance()
    return _frame(rows, BATCH_SIZE_COLUMNS)


# ---------------------------------------------------------------------------------------------
# 2. Batch dependence
# ---------------------------------------------------------------------------------------------


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
    return BatchDependence(_frame(rows, ("norm", "trial", "unit", "value")),
                           _frame(summary, ("norm", "max_std")))


# ---------------------------------------------------------------------------------------------
# 3. Batch norm in training vs eval mode: running statistics
# ---------------------------------------------------------------------------------------------


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
    return _frame(rows, ("momentum", "step", "statistic", "running", "true", "batch"))


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
    return _frame(rows, ("batch_size", "estimator", "expected_var", "ratio", "theory"))


# ---------------------------------------------------------------------------------------------
# 4. Depth
# ---------------------------------------------------------------------------------------------


class DepthSweep(NamedTuple):
    summary: pd.DataFrame  # one row per run
    layers: pd.DataFrame  # one row per (run, layer) at step 0


# Short runs: step 0 shows vanishing/exploding; the final loss is the mean of the last 10 steps.
DEPTH_QUICK = TrainConfig(width=32, steps=40, eval_every=10, record_every=40)
# Long enough for a 16-layer network to get somewhere (at 30 steps every norm is at chance).
DEPTH_CLAIM = DEPTH_QUICK.replace(steps=100)

DEPTH_SUMMARY_COLUMNS = ("norm", "depth", "gain", "seed", "status", "steps_run",
                         "final_train_loss", "final_val_accuracy", "first_layer_grad_norm",
                         "last_layer_grad_norm", "message", "wall_time")
DEPTH_LAYER_COLUMNS = ("norm", "depth", "gain", "seed", "layer", "pre_norm_std",
                       "weight_grad_norm")


def depth_sweep(
    norms: Sequence[str] = ("none", "batch", "layer", "rms"),
    depths: Sequence[int] = (2, 8, 16),
    gains: Sequence[float] = (0.5, 1.0, 2.0),
    base: TrainConfig = DEPTH_QUICK,
    seeds: Sequence[int] = (0,),
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> DepthSweep:
    """Claims tested: a norm keeps a deep network trainable whatever the initial scale; "layer
    norm stabilises very deep networks less well than batch norm".

    Short runs (`base.steps`) of every (norm, depth, init gain, seed). A gain below 1 shrinks
    the signal at every layer (vanishing), above 1 grows it (exploding); with no norm that
    compounds with depth.

    Returns (summary, layers). summary: norm, depth, gain, seed, status, steps_run,
    final_train_loss, final_val_accuracy, first_layer_grad_norm and last_layer_grad_norm (the
    weight-gradient norm of the first and last hidden layer at step 0, from Run.gradients),
    message, wall_time. layers: norm, depth, gain, seed, layer, pre_norm_std (std of that
    layer's linear output at step 0, from Run.layer_stats point 'pre_norm'), weight_grad_norm
    at step 0.
    """
    grid = [(n, d, g, s) for n in norms for d in depths for g in gains for s in seeds]
    sweep = _Sweep(len(grid), progress, should_stop)
    summary, layers = [], []
    for norm, depth, gain, seed in grid:
        if sweep.stopped():
            break
        key = dict(norm=norm, depth=depth, gain=gain, seed=seed)
        try:
            cfg = base.replace(norm=norm, depth=depth, init_gain=gain, seed=seed)
        except ConfigError as error:
            summary.append({**key, "status": "refused", "steps_run": 0,
                            "final_train_loss": math.nan, "final_val_accuracy": math.nan,
                            "first_layer_grad_norm": math.nan, "last_layer_grad_norm": math.nan,
                            "message": str(error), "wall_time": 0.0})
            sweep.advance()
            continue
        run = _train(cfg, should_stop)
        if run.status == "stopped":
            break
        stats = run.layer_stats
        stats = stats[(stats["step"] == 0) & (stats["point"] == "pre_norm")]
        grads = run.gradients
        grads = grads[grads["step"] == 0].set_index("layer")["weight_grad_norm"]
        for layer, std in zip(stats["layer"], stats["std"]):
            layers.append({**key, "layer": int(layer), "pre_norm_std": float(std),
                           "weight_grad_norm": float(grads.get(layer, math.nan))})
        done = run.summary()
        summary.append({**key, "status": run.status, "steps_run": run.step,
                        "final_train_loss": _number(done["final_train_loss"]),
                        "final_val_accuracy": _number(done["final_val_accuracy"]),
                        "first_layer_grad_norm": float(grads.get(0, math.nan)),
                        "last_layer_grad_norm": float(grads.get(depth - 1, math.nan)),
                        "message": run.message, "wall_time": run.wall_time})
        sweep.advance()
    return DepthSweep(_frame(summary, DEPTH_SUMMARY_COLUMNS), _frame(layers, DEPTH_LAYER_COLUMNS))


def _number(value) -> float:
    return math.nan if value is None else float(value)


# ---------------------------------------------------------------------------------------------
# 5. Invariances (Ba et al. 2016 Table 1; Zhang & Sennrich 2019 Table 1 adds RMSNorm)
# ---------------------------------------------------------------------------------------------

TRANSFORMATIONS = (
    "weight matrix rescaling",
    "weight matrix re-centring",
    "weight vector rescaling",
    "dataset rescaling",
    "dataset re-centring",
    "single example rescaling",
)
RESCALINGS = tuple(t for t in TRANSFORMATIONS if t.endswith("rescaling"))
_RESCALED = {"weight matrix rescaling": "the whole weight matrix",
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
) -> pd.DataFrame:
    """Claim tested: Ba et al. Table 1 (and Zhang & Sennrich's RMSNorm row), computed.

    A Linear (no bias, as a = Wx in the papers) followed by each norm, in training mode and in
    float64, sees a batch ("the dataset") of random inputs. Each transformation is applied to
    the weight matrix or the data, and the block's output is compared with the untransformed
    one. Rescaling multiplies by `scale`; re-centring adds a random vector of scale `shift`:
    to every row of W (every unit's pre-activation moves by the same amount for a given
    example), or to every example of the dataset (each unit moves by a constant). The norm's
    affine parameters are off, or at their initial values with `affine=True` (same numbers).

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
        layer = _plain_norm(norm, out_features, affine).double().train()
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
    return _frame(rows, ("norm", "transformation", "max_change", "invariant", "paper_invariant",
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
    return _frame([dict(norm=n, transformation=t, paper_invariant=v)
                   for n, row in PAPER_TABLE.items() for t, v in row.items()],
                  ("norm", "transformation", "paper_invariant"))


# ---------------------------------------------------------------------------------------------
# 6. Speed
# ---------------------------------------------------------------------------------------------

# normlab: the from-scratch layers; torch: torch.nn's native kernels; naive: the formula in
# eager torch, differentiated by autograd; torch.compile: that formula compiled (slow to
# compile on CPU, so opt-in).
IMPLEMENTATIONS = ("normlab", "torch", "naive", "torch.compile")
SPEED_NORMS = ("batch", "layer", "rms")  # the three torch.nn has native kernels for


class _NaiveNorm(nn.Module):
    """The textbook formula with autograd doing the backward: what torch.compile gets."""

    def __init__(self, norm: str, features: int, eps: float | None):
        super().__init__()
        self.norm, self.eps = norm, eps
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features)) if norm != "rms" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm == "rms":
            eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * self.weight
        dim = 0 if self.norm == "batch" else -1
        mean = x.mean(dim, keepdim=True)  # (1, D) for batch, (N, 1) for layer
        var = (x - mean).pow(2).mean(dim, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def _speed_layer(implementation: str, norm: str, features: int) -> nn.Module:
    if implementation == "normlab":
        return build_norm(norm, features)
    if implementation == "torch":
        return {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm, "rms": nn.RMSNorm}[norm](features)
    naive = _NaiveNorm(norm, features, None if norm == "rms" else 1e-5)
    return naive if implementation == "naive" else torch.compile(naive, dynamic=False)


class Timings(NamedTuple):
    times: pd.DataFrame  # one row per (implementation, norm, size)
    rms_over_layer: pd.DataFrame  # one row per (implementation, size)


TIME_COLUMNS = ("implementation", "norm", "rows", "features", "size", "device", "dtype",
                "median_ms", "min_ms", "repeats", "status")
RATIO_COLUMNS = ("implementation", "rows", "features", "size", "rms_ms", "layer_ms", "ratio")


def time_norms(
    sizes: Sequence[tuple[int, int]] = ((256, 256), (2048, 1024)),
    norms: Sequence[str] = ("batch", "layer", "rms"),
    implementations: Sequence[str] = ("normlab", "torch", "naive"),
    device: str = "cpu",
    repeats: int = 7,
    dtype: torch.dtype | str = torch.float32,
    warmup: int = 2,
    threads: int = 1,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> Timings:
    """Claim tested: "RMS norm is cheaper than layer norm" (Zhang & Sennrich: 7%-64% faster).

    Forward + backward time of one layer on an input of (rows, features), for every
    (implementation, norm, size). Each case is warmed up `warmup` times, then the repeats are
    interleaved (one of every case per round, each timed call after an untimed one) so a slow
    moment of the machine hits them all; the median is reported. On cuda every timing is
    bracketed by synchronize. CPU timings run on `threads` torch threads (0: torch's
    setting): with 1, a core busy elsewhere slows a kernel a little instead of stalling both
    threads of it (measured: medians 10x the minimum on a shared 2-core machine with 2
    threads). "torch.compile" is not in the defaults: compiling takes tens of seconds on a
    CPU; where it fails the rows say "unavailable: why".

    Returns (times, rms_over_layer). times: implementation, norm, rows, features, size
    ("2048x1024"), device, dtype, median_ms, min_ms, repeats, status ("ok" or
    "unavailable: ..."). rms_over_layer: implementation, rows, features, size, rms_ms,
    layer_ms, ratio (rms_ms / layer_ms; below 1 means RMS norm is cheaper there).
    """
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for, but torch sees no GPU here: use cpu")
    for name, given, known in (("implementation", implementations, IMPLEMENTATIONS),
                               ("norm", norms, SPEED_NORMS)):
        unknown = [g for g in given if g not in known]
        if unknown:
            raise ValueError(f"unknown {name} {unknown[0]!r}; one of {', '.join(known)}")
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    generator = torch.Generator().manual_seed(0)
    inputs = {}
    for rows_, features in sizes:
        x = torch.randn(rows_, features, generator=generator).to(device, dtype)
        grad = torch.randn(rows_, features, generator=generator).to(device, dtype)
        inputs[(rows_, features)] = (x.requires_grad_(), grad)  # (rows, features) each
    cases = [(i, n, size) for size in inputs for n in norms for i in implementations]
    sweep = _Sweep(len(cases) + repeats, progress, should_stop)
    threads_before = torch.get_num_threads()
    set_threads(threads)
    try:
        status, seconds = _benchmark(cases, inputs, device, dtype, warmup, repeats, sweep)
    finally:
        torch.set_num_threads(threads_before)
    rows = []
    for case in cases:
        if case not in status:
            continue  # stopped before this case was built
        implementation, norm, (rows_, features) = case
        measured = [t * 1e3 for t in seconds[case]]
        ok = status[case] == "ok" and bool(measured)
        rows.append(dict(implementation=implementation, norm=norm, rows=rows_,
                         features=features, size=f"{rows_}x{features}", device=device,
                         dtype=str(dtype).removeprefix("torch."),
                         median_ms=statistics.median(measured) if ok else math.nan,
                         min_ms=min(measured) if ok else math.nan, repeats=len(measured),
                         status=status[case]))
    times = _frame(rows, TIME_COLUMNS)
    return Timings(times, rms_over_layer(times))


def _benchmark(cases, inputs, device, dtype, warmup, repeats, sweep):
    """({case: "ok" or "unavailable: ..."}, {case: [seconds per round]}), rounds interleaved."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def seconds(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> float:
        sync()
        start = time.perf_counter()
        torch.autograd.grad(layer(x), [x, *layer.parameters()], grad)  # forward + backward
        sync()
        return time.perf_counter() - start

    layers, status = {}, {}
    for case in cases:
        if sweep.stopped():
            break
        implementation, norm, size = case
        try:
            layer = _speed_layer(implementation, norm, size[1]).to(device, dtype).train()
            for _ in range(warmup):
                seconds(layer, *inputs[size])
            layers[case], status[case] = layer, "ok"
        except Exception as error:  # torch.compile fails in many ways: record why, go on
            first_line = (str(error).strip().splitlines() or [""])[0][:200]
            status[case] = f"unavailable: {type(error).__name__}: {first_line}"
        sweep.advance()
    times = {case: [] for case in cases}
    for _ in range(repeats):
        if sweep.stopped():
            break
        for case, layer in layers.items():
            seconds(layer, *inputs[case[2]])  # untimed: the case before may have left the
            times[case].append(seconds(layer, *inputs[case[2]]))  # caches full of its data
        sweep.advance()
    return status, times


def rms_over_layer(times: pd.DataFrame) -> pd.DataFrame:
    """RMS norm's median time over layer norm's, per implementation and size (ok rows only)."""
    ok = times[times["status"] == "ok"]
    keys = ["implementation", "rows", "features", "size"]
    rms = ok[ok["norm"] == "rms"].set_index(keys)["median_ms"].rename("rms_ms")
    layer = ok[ok["norm"] == "layer"].set_index(keys)["median_ms"].rename("layer_ms")
    both = pd.concat([rms, layer], axis=1, join="inner").reset_index()
    both["ratio"] = both["rms_ms"] / both["layer_ms"]
    return both.reindex(columns=list(RATIO_COLUMNS))


# ---------------------------------------------------------------------------------------------
# Convergence
# ---------------------------------------------------------------------------------------------

CONVERGENCE_QUICK = QUICK.replace(eval_every=10)  # a point every 10 steps: when is it reached
CONVERGENCE_COLUMNS = ("norm", "lr", "seed", "step", "examples", "val_accuracy", "val_loss",
                       "train_loss", "status")


def convergence_sweep(
    norms: Sequence[str] = ("none", "batch"),
    lrs: Sequence[float] = (0.005, 0.05, 0.5),
    base: TrainConfig = CONVERGENCE_QUICK,
    seeds: Sequence[int] = (0,),
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> pd.DataFrame:
    """Claim tested: "batch norm speeds up convergence" (Ioffe & Szegedy Fig 1a).

    Trains every (norm, learning rate, seed) for `base.steps` steps and keeps the validation
    curve. Whether the claim holds can depend on the learning rate: a norm lets a large rate
    work, while a small rate may be slow for everyone.

    Returns one row per (norm, lr, seed, evaluation): step, examples, val_accuracy, val_loss,
    train_loss (since the previous evaluation), status of the run (finished or diverged).
    """
    grid = [(n, lr, s) for n in norms for lr in lrs for s in seeds]
    sweep = _Sweep(len(grid), progress, should_stop)
    rows = []
    for norm, lr, seed in grid:
        if sweep.stopped():
            break
        run = _train(base.replace(norm=norm, lr=lr, seed=seed), should_stop, record=False)
        if run.status == "stopped":
            break
        for metric in run.metrics.to_dict("records"):
            rows.append(dict(norm=norm, lr=lr, seed=seed, step=int(metric["step"]),
                             examples=int(metric["examples"]),
                             val_accuracy=metric["val_accuracy"], val_loss=metric["val_loss"],
                             train_loss=metric["train_loss"], status=run.status))
        sweep.advance()
    return _frame(rows, CONVERGENCE_COLUMNS)


def steps_to_accuracy(curves: pd.DataFrame, target: float, by: Sequence[str]) -> pd.DataFrame:
    """First step at which val_accuracy reaches `target`, per group (inf if it never does)."""
    rows = []
    for key, group in curves.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        reached = group.loc[group["val_accuracy"] >= target, "step"]
        rows.append({**dict(zip(by, key)),
                     "steps_to_target": float(reached.min()) if len(reached) else math.inf})
    return _frame(rows, (*by, "steps_to_target"))


# ---------------------------------------------------------------------------------------------
# 7. The claim checker: each verdict is a pure function of an outcome frame
# ---------------------------------------------------------------------------------------------

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold here"


def holds_only_when(condition: str) -> str:
    return f"holds only when {condition}"


@dataclass(frozen=True)
class Verdict:
    outcome_frame: pd.DataFrame
    verdict: str  # "holds", "holds only when ...", or "does not hold here"
    explanation: str


def _join(items, word: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def verdict_bn_robust_to_batch_size(frame: pd.DataFrame, tolerance: float = 0.03) -> Verdict:
    """From batch_size_sweep: robust = eval accuracy within `tolerance` of its best at every
    batch size tried (a refused or diverged batch size is not robust)."""
    bn = frame[frame["norm"] == "batch"]
    if bn.empty:
        return Verdict(frame, DOES_NOT_HOLD, "No batch norm runs to judge: add norm 'batch'.")
    accuracy = bn.groupby("batch_size")["val_accuracy"].mean()  # NaN where refused/diverged
    best = accuracy.max()
    if math.isnan(best):
        return Verdict(frame, DOES_NOT_HOLD, "No batch norm run finished.")
    good = (accuracy >= best - tolerance).fillna(False)
    per_size = ", ".join(f"{int(b)}: {a:.1%}" if not math.isnan(a) else f"{int(b)}: refused"
                         for b, a in accuracy.items())
    gap = bn.groupby("batch_size")[["val_accuracy", "train_mode_val_accuracy"]].mean()
    gap = (gap["val_accuracy"] - gap["train_mode_val_accuracy"]).abs().max()
    detail = (f"Batch norm's validation accuracy by batch size: {per_size} (best {best:.1%}, "
              f"tolerance {tolerance:.0%}). Largest gap between eval and train mode: "
              f"{gap:.1%}.")
    if good.all():
        return Verdict(frame, HOLDS, detail)
    sizes = list(accuracy.index)
    first_good = next((i for i in range(len(sizes)) if good.iloc[i:].all()), None)
    if first_good is not None and first_good < len(sizes) - 1:
        return Verdict(frame, holds_only_when(f"the batch size is at least {sizes[first_good]}"),
                       detail)
    return Verdict(frame, DOES_NOT_HOLD, detail)


def verdict_ln_independent_of_batch_mates(summary: pd.DataFrame,
                                          tolerance: float = 1e-6) -> Verdict:
    """From batch_dependence's summary: holds when layer norm's max_std is below `tolerance`."""
    layer = summary.loc[summary["norm"] == "layer", "max_std"]
    if layer.empty:
        return Verdict(summary, DOES_NOT_HOLD, "No layer norm row to judge: add norm 'layer'.")
    spread = float(layer.max())
    others = ", ".join(f"{n} {s:.3g}" for n, s in zip(summary["norm"], summary["max_std"]))
    detail = (f"Largest std of one output unit across different batch mates: {others}. "
              f"Layer norm: {spread:.3g} (tolerance {tolerance:g}).")
    return Verdict(summary, HOLDS if spread < tolerance else DOES_NOT_HOLD, detail)


def verdict_rms_invariant_to_rescaling(table: pd.DataFrame) -> Verdict:
    """From invariance_table: which of the rescalings leave RMS norm's output unchanged."""
    rms = table[(table["norm"] == "rms") & table["transformation"].isin(RESCALINGS)]
    if rms.empty:
        return Verdict(table, DOES_NOT_HOLD, "No RMS norm rescaling rows to judge.")
    invariant = rms.loc[rms["invariant"].astype(bool), "transformation"].tolist()
    changed = rms.loc[~rms["invariant"].astype(bool), "transformation"].tolist()
    detail = "; ".join(f"{t}: max change {c:.2g}"
                       for t, c in zip(rms["transformation"], rms["max_change"]))
    if not changed:
        return Verdict(table, HOLDS, f"RMS norm's output did not move under any rescaling "
                                     f"({detail}).")
    if not invariant:
        return Verdict(table, DOES_NOT_HOLD, f"Every rescaling changed the output ({detail}).")
    rescaled = [_RESCALED[t] for t in invariant]
    return Verdict(table, holds_only_when(f"what is rescaled is {_join(rescaled, 'or')}"),
                   f"Not invariant to {_join(changed)}: RMS norm divides each example by one "
                   f"number over all its units, so scaling one unit's weights changes that "
                   f"unit relative to the rest ({detail}).")


def verdict_rms_cheaper_than_layer(ratios: pd.DataFrame, margin: float = 0.05) -> Verdict:
    """From time_norms' rms_over_layer: cheaper = rms/layer time ratio below 1 - margin."""
    if ratios.empty:
        return Verdict(ratios, DOES_NOT_HOLD, "No timings of both RMS and layer norm.")
    cheaper = ratios["ratio"] < 1 - margin
    detail = "; ".join(f"{i} {s}: {r:.2f}x" for i, s, r in
                       zip(ratios["implementation"], ratios["size"], ratios["ratio"]))
    detail = f"RMS norm time / layer norm time (forward + backward): {detail}."
    if cheaper.all():
        return Verdict(ratios, HOLDS, detail)
    if not cheaper.any():
        return Verdict(ratios, DOES_NOT_HOLD, detail)
    where = []
    for implementation, group in ratios.groupby("implementation", sort=False):
        good = group["ratio"] < 1 - margin
        if good.all():
            where.append(f"the {implementation} implementation")
        elif good.any():
            where.append(f"the {implementation} implementation at {_join(group['size'][good])}")
    return Verdict(ratios, holds_only_when(f"using {_join(where, 'or')}"), detail)


def verdict_ln_less_stable_than_bn(summary: pd.DataFrame, margin: float = 0.1) -> Verdict:
    """From depth_sweep's summary at its deepest depth: per init gain, layer norm is "less
    stable" when it diverges where batch norm does not, or its final training loss is more
    than (1 + margin) times batch norm's (medians over seeds)."""
    rows = summary[summary["norm"].isin(["batch", "layer"]) & (summary["status"] != "refused")]
    if set(rows["norm"]) != {"batch", "layer"}:
        return Verdict(summary, DOES_NOT_HOLD, "Needs runs of both batch and layer norm.")
    depth = rows["depth"].max()
    rows = rows[rows["depth"] == depth].assign(
        loss=lambda f: f["final_train_loss"].where(f["status"] == "finished", math.inf))
    loss = rows.groupby(["gain", "norm"])["loss"].median().unstack("norm").dropna()
    worse = loss["layer"] > loss["batch"] * (1 + margin)
    detail = "; ".join(f"gain {g:g}: batch {b:.3g}, layer {la:.3g}"
                       for g, b, la in zip(loss.index, loss["batch"], loss["layer"]))
    detail = f"Final training loss at depth {depth} ({detail})."
    if worse.all():
        return Verdict(summary, HOLDS, detail)
    if not worse.any():
        return Verdict(summary, DOES_NOT_HOLD, detail)
    gains = _join((f"{g:g}" for g in loss.index[worse]), "or")
    return Verdict(summary, holds_only_when(f"the initial gain is {gains}"), detail)


def verdict_bn_speeds_convergence(curves: pd.DataFrame, target: float = 0.9) -> Verdict:
    """From convergence_sweep: per learning rate, batch norm converges faster when it reaches
    `target` validation accuracy in fewer steps than no norm (medians over seeds)."""
    if not {"batch", "none"} <= set(curves["norm"]):
        return Verdict(curves, DOES_NOT_HOLD, "Needs runs with norm 'batch' and norm 'none'.")
    reached = steps_to_accuracy(curves, target, ("norm", "lr", "seed"))
    steps = reached.groupby(["lr", "norm"])["steps_to_target"].median().unstack("norm")
    faster = steps["batch"] < steps["none"]
    shown = lambda s: "never" if math.isinf(s) else f"{s:g}"  # noqa: E731
    detail = "; ".join(f"lr {lr:g}: batch {shown(b)}, none {shown(n)}"
                       for lr, b, n in zip(steps.index, steps["batch"], steps["none"]))
    detail = f"Steps to reach {target:.0%} validation accuracy ({detail})."
    if faster.all():
        return Verdict(curves, HOLDS, detail)
    if not faster.any():
        return Verdict(curves, DOES_NOT_HOLD, detail)
    lrs = _join((f"{lr:g}" for lr in steps.index[faster]), "or")
    return Verdict(curves, holds_only_when(f"the learning rate is {lrs}"), detail)


def _itself(result: Any) -> pd.DataFrame:
    return result


@dataclass(frozen=True)
class Claim:
    """A sentence people say about a norm, and the experiment that checks it."""

    id: str
    text: str  # the claim in plain words
    page: str  # the lesson page in the app
    experiment: Callable[..., Any]
    verdict: Callable[[pd.DataFrame], Verdict]  # a pure function of the outcome frame
    defaults: dict = field(default_factory=dict)  # arguments for `experiment`
    outcome: Callable[[Any], pd.DataFrame] = _itself  # the frame of the result `verdict` reads


CLAIMS: list[Claim] = [
    Claim(
        id="bn_robust_to_batch_size",
        text="Batch norm is robust to the batch size.",
        page=LESSONS["batch_size"],
        experiment=batch_size_sweep,
        verdict=verdict_bn_robust_to_batch_size,
        defaults=dict(norms=("batch",)),
    ),
    Claim(
        id="ln_independent_of_batch_mates",
        text="Layer norm's output for an example does not depend on its batch mates.",
        page=LESSONS["batch_dependence"],
        experiment=batch_dependence,
        verdict=verdict_ln_independent_of_batch_mates,
        defaults=dict(norms=("layer", "batch")),
        outcome=lambda result: result.summary,
    ),
    Claim(
        id="rms_invariant_to_rescaling",
        text="RMS norm is invariant to rescaling.",
        page=LESSONS["invariances"],
        experiment=invariance_table,
        verdict=verdict_rms_invariant_to_rescaling,
    ),
    Claim(
        id="rms_cheaper_than_layer",
        text="RMS norm is cheaper to compute than layer norm.",
        page=LESSONS["speed"],
        experiment=time_norms,
        verdict=verdict_rms_cheaper_than_layer,
        defaults=dict(norms=("layer", "rms")),
        outcome=lambda result: result.rms_over_layer,
    ),
    Claim(
        id="ln_less_stable_than_bn_deep",
        text="Layer norm stabilises very deep networks less well than batch norm.",
        page=LESSONS["depth"],
        experiment=depth_sweep,
        verdict=verdict_ln_less_stable_than_bn,
        defaults=dict(norms=("batch", "layer"), depths=(4, 16), base=DEPTH_CLAIM),
        outcome=lambda result: result.summary,
    ),
    Claim(
        id="bn_speeds_convergence",
        text="Batch norm speeds up convergence.",
        page=LESSONS["convergence"],
        experiment=convergence_sweep,
        verdict=verdict_bn_speeds_convergence,
    ),
]

CLAIMS_BY_ID = {claim.id: claim for claim in CLAIMS}


def check_claim(claim_id: str, progress: Progress = None, should_stop: ShouldStop = None,
                **overrides) -> Verdict:
    """Run the claim's experiment (its defaults, updated by `overrides`) and judge the outcome.

    `progress` and `should_stop` are passed on to experiments that take them; a stopped
    experiment is judged on what it finished.
    """
    if claim_id not in CLAIMS_BY_ID:
        raise ValueError(f"unknown claim {claim_id!r}; one of {', '.join(CLAIMS_BY_ID)}")
    claim = CLAIMS_BY_ID[claim_id]
    arguments = {**claim.defaults, **overrides}
    accepted = inspect.signature(claim.experiment).parameters
    for name, callback in (("progress", progress), ("should_stop", should_stop)):
        if name in accepted and callback is not None:
            arguments[name] = callback
    return claim.verdict(claim.outcome(claim.experiment(**arguments)))


# ---------------------------------------------------------------------------------------------
# 8. Paper presets: a scaled-down run of one figure, with what the paper says about it
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """One paper figure, scaled down to run in under ~20 s on 2 CPU cores."""

    name: str
    paper: str
    figure: str
    paper_says: str
    we_run: str  # how our version differs from the paper's
    runner: Callable[..., dict[str, pd.DataFrame]]
    configs: tuple[TrainConfig, ...] = ()  # what it trains (a sweep's base, for a sweep)

    def run(self, progress: Progress = None,
            should_stop: ShouldStop = None) -> dict[str, pd.DataFrame]:
        """The preset's frames by name; a stopped run returns what it finished."""
        return self.runner(self.configs, progress=progress, should_stop=should_stop)


def _train_configs(configs, progress, should_stop):
    """Each config trained in turn (recorded), as [(config, run)], stopping when asked."""
    sweep = _Sweep(len(configs), progress, should_stop)
    runs = []
    for cfg in configs:
        if sweep.stopped():
            break
        run = _train(cfg, should_stop)
        if run.status == "stopped":
            break
        runs.append((cfg, run))
        sweep.advance()
    return runs


def _labelled_metrics(runs, fields: Sequence[str]) -> pd.DataFrame:
    frames = [run.metrics.assign(**{f: getattr(cfg, f) for f in fields}, status=run.status)
              for cfg, run in runs]
    columns = [*fields, *METRIC_COLUMNS, "status"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else _frame([], columns)


def _ioffe_fig1(configs, progress=None, should_stop=None) -> dict[str, pd.DataFrame]:
    runs = _train_configs(configs, progress, should_stop)
    percentiles = []
    for cfg, run in runs:
        stats = run.layer_stats
        last = stats[(stats["layer"] == cfg.depth - 1) & (stats["point"] == "post_norm")]
        for column, quantile in (("p15", 0.15), ("p50", 0.5), ("p85", 0.85)):
            percentiles += [dict(norm=cfg.norm, step=int(step), quantile=quantile,
                                 value=float(value))
                            for step, value in zip(last["step"], last[column])]
    return {"metrics": _labelled_metrics(runs, ("norm",)),
            "percentiles": _frame(percentiles, ("norm", "step", "quantile", "value"))}


def _ba_fig6(configs, progress=None, should_stop=None) -> dict[str, pd.DataFrame]:
    runs = _train_configs(configs, progress, should_stop)
    return {"metrics": _labelled_metrics(runs, ("norm", "batch_size"))}


def _wu_he_fig1(configs, progress=None, should_stop=None) -> dict[str, pd.DataFrame]:
    errors = batch_size_sweep(norms=("batch", "layer", "group"), batch_sizes=(2, 4, 8, 16, 32),
                              base=configs[0], examples=2048, progress=progress,
                              should_stop=should_stop)
    return {"errors": errors.assign(val_error=1 - errors["val_accuracy"])}


_IOFFE = TrainConfig(dataset="digits", depth=3, width=100, activation="sigmoid", init="xavier",
                     batch_size=60, optimizer="sgd", lr=0.5, steps=2000, eval_every=50,
                     record_every=50)
_BA = TrainConfig(dataset="digits", depth=2, width=256, optimizer="adam", lr=1e-3, steps=600,
                  eval_every=50, record_every=600)

PRESETS: dict[str, Preset] = {
    "ioffe_szegedy_fig1": Preset(
        name="ioffe_szegedy_fig1",
        paper="Ioffe & Szegedy 2015, Batch Normalization (arXiv 1502.03167)",
        figure="Figure 1",
        paper_says=(
            "On MNIST, a network of 3 fully connected hidden layers of 100 sigmoid units "
            "(batch 60) reaches a higher test accuracy faster with batch norm (1a). Without it, "
            "the 15th, 50th and 85th percentiles of a last-hidden-layer sigmoid input drift over "
            "training; with it they stay steady (1b, 1c)."
        ),
        we_run=(
            "The same network on the 8x8 digits, plain SGD (lr 0.5), 2000 steps instead of "
            "50k. The percentiles pool every unit of the last hidden layer (the paper follows "
            "one unit); they are its sigmoid input, the recorder's 'post_norm' point."
        ),
        runner=_ioffe_fig1,
        configs=(_IOFFE.replace(norm="none"), _IOFFE.replace(norm="batch")),
    ),
    "ba_fig6": Preset(
        name="ba_fig6",
        paper="Ba, Kiros & Hinton 2016, Layer Normalization (arXiv 1607.06450)",
        figure="Figure 6",
        paper_says=(
            "On permutation-invariant MNIST (784-1000-1000-10, Adam), layer norm is robust to "
            "the batch size: it trains as well with batches of 4 as of 128, while batch norm "
            "does worse with batches of 4."
        ),
        we_run=(
            "The 8x8 digits with 2 hidden layers of 256 units, Adam (lr 1e-3), 600 steps at "
            "each batch size; the curves are validation loss and accuracy in eval mode."
        ),
        runner=_ba_fig6,
        configs=tuple(_BA.replace(norm=norm, batch_size=batch_size)
                      for batch_size in (128, 4) for norm in ("batch", "layer")),
    ),
    "wu_he_fig1": Preset(
        name="wu_he_fig1",
        paper="Wu & He 2018, Group Normalization (arXiv 1803.08494)",
        figure="Figure 1",
        paper_says=(
            "ResNet-50 on ImageNet: as the batch per GPU shrinks from 32 to 2, batch norm's "
            "error rises from 23.6% to 34.7%, while group norm's stays about 24.1%."
        ),
        we_run=(
            "batch_size_sweep on the 8x8 digits (a 3x64 MLP; group norm in groups of 8 units), "
            "batch, layer and group norm at batch sizes 2 to 32, each trained on the same 2048 "
            "examples at the same learning rate; error = 1 - validation accuracy (eval mode)."
        ),
        runner=_wu_he_fig1,
        configs=(BATCH_SIZE_QUICK,),
    ),
}


def run_preset(name: str, progress: Progress = None,
               should_stop: ShouldStop = None) -> dict[str, pd.DataFrame]:
    """Run the named preset: its frames by name (see PRESETS[name].we_run)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; one of {', '.join(PRESETS)}")
    return PRESETS[name].run(progress=progress, should_stop=should_stop)
