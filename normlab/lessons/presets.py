"""Paper presets: a scaled-down run of one figure, with what the paper says about it.

Each preset trains several seeds, and every sentence that states an effect gives it with a
95% t interval over the seeds (normlab.stats); an interval that contains 0 is said to be "not
settled", never read as an effect.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from normlab.config import TrainConfig
from normlab.engine import METRIC_COLUMNS, evaluate, prepare, train_step
from normlab.lessons._common import Progress, ShouldStop, Sweep, fit, frame
from normlab.registry import norm_label
from normlab.seeds import train_seeds
from normlab.stats import t_interval

SEEDS = (0, 1, 2, 3, 4)  # every preset's default: enough for a t interval worth reading
QUANTILES = (0.15, 0.5, 0.85)  # Ioffe & Szegedy Fig 1b,c
DIGITS_TRAIN = 1348  # digits examples in the training split (1797 less a quarter held out)


@dataclass(frozen=True)
class Preset:
    """One paper figure, scaled down to run in well under a minute on one CPU core."""

    name: str
    paper: str
    figure: str
    paper_says: str
    we_run: str  # the setup, as the paper's
    differs: str  # one line: what differs from the paper (data, size, steps)
    runner: Callable[..., dict[str, pd.DataFrame]]
    configs: tuple[TrainConfig, ...] = ()  # what it trains, once per seed
    seeds: tuple[int, ...] = SEEDS

    def run(self, progress: Progress = None,
            should_stop: ShouldStop = None) -> dict[str, pd.DataFrame]:
        """The preset's frames by name; a stopped run returns what it finished."""
        return self.runner(self.configs, self.seeds, progress=progress, should_stop=should_stop)


def epochs_of(cfg: TrainConfig, epochs: float) -> TrainConfig:
    """`cfg` trained for `epochs` passes over the digits' training split at its batch size."""
    steps_per_epoch = DIGITS_TRAIN / cfg.batch_size  # the same examples at every batch size
    return cfg.replace(steps=max(1, round(epochs * steps_per_epoch)),
                       eval_every=max(1, round(steps_per_epoch)))


# --- Ioffe & Szegedy 2015, Fig 1: one unit's sigmoid input over training --------------------

def train_watching_one_unit(cfg: TrainConfig, unit: int = 0,
                            should_stop: ShouldStop = None) -> tuple[str, pd.DataFrame,
                                                                     pd.DataFrame]:
    """Train `cfg` as the engine does, and every `eval_every` steps measure one unit's input.

    The unit is `unit` of the last hidden layer; its input to the activation is the output of
    that block's norm (the norm sits before the activation; with no norm, the linear output).
    At each evaluation the model runs in eval mode on the validation set, once: that pass
    gives the validation loss and accuracy (as engine.evaluate) and, through a forward hook
    removed right after, the 15th/50th/85th percentiles of the unit's input over the
    validation examples. A fixed input set, so what moves is the weights' doing.

    Returns (status, metrics with METRIC_COLUMNS, percentiles: step, quantile, value).
    """
    cfg, data, model, optimizer, batches = prepare(cfg)
    if cfg.norm_position != "before":
        raise ValueError("the sigmoid's input is the norm's output only with the norm before it")
    watched = model.blocks[-1].norm
    metrics, percentiles = [], []
    losses, correct, seen = 0.0, 0, 0
    start = time.perf_counter()

    def measure(step: int) -> None:
        values = []
        handle = watched.register_forward_hook(
            lambda module, inputs, output: values.append(output[:, unit].detach()))  # (V,)
        try:
            was_training = model.training
            model.eval()
            with torch.no_grad():
                logits = model(data.x_val)  # (V, classes)
            model.train(was_training)
        finally:
            handle.remove()
        quantiles = torch.quantile(values[0].double(), torch.tensor(QUANTILES,
                                                                    dtype=torch.float64))
        percentiles.extend(dict(step=step, quantile=q, value=float(v))
                           for q, v in zip(QUANTILES, quantiles))
        metrics.append(dict(
            step=step, examples=step * batches.batch_size,
            train_loss=losses / seen if seen else math.nan,
            train_accuracy=correct / (seen * batches.batch_size) if seen else math.nan,
            val_loss=float(F.cross_entropy(logits, data.y_val)),
            val_accuracy=float((logits.argmax(1) == data.y_val).float().mean()),
            wall_time=time.perf_counter() - start))

    status = "finished"
    measure(0)
    for step in range(cfg.steps):
        if should_stop is not None and step % 50 == 0 and should_stop():
            status = "stopped"
            break
        index = batches.next()
        x, y = data.x_train[index], data.y_train[index]
        logits, loss, finite = train_step(model, optimizer, x, y)
        if not finite:
            status = "diverged"
            break
        losses += loss.item()
        correct += int((logits.detach().argmax(1) == y).sum())
        seen += 1
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            measure(step + 1)
            losses, correct, seen = 0.0, 0, 0
    return (status, frame(metrics, METRIC_COLUMNS),
            frame(percentiles, ("step", "quantile", "value")))


def _ioffe_fig1(configs, seeds=SEEDS, progress=None, should_stop=None) -> dict[str, pd.DataFrame]:
    """metrics: norm, seed + METRIC_COLUMNS; percentiles: norm, seed, step, quantile, value."""
    sweep = Sweep(len(configs) * len(seeds), progress, should_stop)
    metrics, percentiles = [], []
    for seed in seeds:
        for cfg in configs:
            if sweep.stopped():
                break
            status, run_metrics, run_percentiles = train_watching_one_unit(
                cfg.replace(seed=seed), should_stop=should_stop)
            if status == "stopped":
                break
            label = dict(norm=cfg.norm, seed=seed)
            metrics.append(run_metrics.assign(**label, status=status))
            percentiles.append(run_percentiles.assign(**label))
            sweep.advance()
    return {"metrics": _concat(metrics, ("norm", "seed", *METRIC_COLUMNS, "status")),
            "percentiles": _concat(percentiles, ("norm", "seed", "step", "quantile", "value"))}


# --- Ba et al. 2016, Fig 6: batch 128 vs 4 on the same number of examples --------------------

def _ba_fig6(configs, seeds=SEEDS, progress=None, should_stop=None) -> dict[str, pd.DataFrame]:
    """metrics: norm, batch_size, seed, epoch + METRIC_COLUMNS + status (seeds batched)."""
    sweep = Sweep(len(configs), progress, should_stop)
    metrics = []
    for cfg in configs:
        if sweep.stopped():
            break
        runs = train_seeds(cfg, seeds)
        status = dict(zip(runs.status["seed"], runs.status["status"]))
        rows = runs.metrics.assign(norm=cfg.norm, batch_size=cfg.batch_size,
                                   epoch=runs.metrics["examples"] / DIGITS_TRAIN,
                                   status=runs.metrics["seed"].map(status))
        metrics.append(rows)
        sweep.advance()
    return {"metrics": _concat(metrics, ("norm", "batch_size", "seed", "epoch",
                                         *METRIC_COLUMNS, "status"))}


# --- Wu & He 2018, Fig 1: the CNN from batch 32 to 2, the linear learning-rate rule -----------

WU_HE_BATCH_SIZES = (32, 8, 2)  # 32 → 2 in steps of 4×; 16 and 4 would add half again
WU_HE_NORMS = ("batch", "group")  # layer norm too would add half again to the ~30 s
WU_HE_COLUMNS = ("norm", "batch_size", "seed", "lr", "steps", "examples", "val_accuracy",
                 "val_error", "status", "wall_time")


def linear_scaling_lr(batch_size: int, base_lr: float = 0.1, base_batch: int = 32) -> float:
    """Goyal et al.'s rule as Wu & He use it: lr 0.1 at batch 32, 0.1·N/32 at batch N."""
    return base_lr * batch_size / base_batch


def _wu_he_fig1(configs, seeds=SEEDS, progress=None, should_stop=None) -> dict[str, pd.DataFrame]:
    """errors: one row per (norm, batch_size, seed), eval-mode validation error at the end."""
    sweep = Sweep(len(configs) * len(seeds), progress, should_stop)
    rows = []
    for seed in seeds:
        for cfg in configs:
            if sweep.stopped():
                break
            trained = fit(cfg.replace(seed=seed), should_stop)
            if trained.status == "stopped":
                break
            accuracy = math.nan
            if trained.status == "finished":
                _, accuracy = evaluate(trained.model, trained.data.x_val, trained.data.y_val)
            rows.append(dict(norm=cfg.norm, batch_size=cfg.batch_size, seed=seed, lr=cfg.lr,
                             steps=cfg.steps, examples=cfg.steps * cfg.batch_size,
                             val_accuracy=accuracy, val_error=1 - accuracy,
                             status=trained.status, wall_time=trained.wall_time))
            sweep.advance()
    return {"errors": frame(rows, WU_HE_COLUMNS)}


def _concat(frames: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    return (pd.concat(frames, ignore_index=True)[list(columns)] if frames
            else frame([], columns))


# Hidden weights N(0, 0.1²): "small random Gaussian values" (the paper gives no std).
_IOFFE = TrainConfig(dataset="digits", depth=3, width=100, activation="sigmoid", init="normal",
                     init_gain=0.1, batch_size=60, optimizer="sgd", lr=0.5, steps=1000,
                     eval_every=50, record_every=1000)
_BA_EPOCHS = 5
_BA = TrainConfig(dataset="digits", depth=2, width=256, optimizer="adam", lr=1e-3,
                  record_every=100_000)
_WU_HE_EPOCHS = 4
# Momentum 0.9 as in the paper; a 3-layer CNN, 16 channels (GroupNorm: 8 groups of 2).
_WU_HE = TrainConfig(dataset="digits", model="cnn", depth=3, width=16, optimizer="momentum",
                     record_every=100_000)

PRESETS: dict[str, Preset] = {
    "ioffe_szegedy_fig1": Preset(
        name="ioffe_szegedy_fig1",
        paper="Ioffe & Szegedy 2015, Batch Normalization (arXiv 1502.03167)",
        figure="Figure 1",
        paper_says=(
            "On MNIST, a network of 3 fully connected hidden layers of 100 sigmoid units "
            "(batch 60) reaches a higher test accuracy faster with batch norm (1a). Without it, "
            "the 15th, 50th and 85th percentiles of one last-hidden-layer sigmoid's input drift "
            "over training; with it they stay steady (1b, 1c)."
        ),
        we_run=(
            "The paper's network: 3 hidden layers of 100 sigmoid units, batch 60, plain SGD "
            "(lr 0.5), hidden weights drawn from N(0, 0.1²) (the paper says \"small random "
            "Gaussian values\" without a std). Fig 1b, c: unit 0 of the last hidden layer, its "
            "sigmoid input on the validation digits (eval mode) every 50 steps; 5 seeds."
        ),
        differs=(
            "8x8 digits (64 inputs, 1348 training images) instead of MNIST, 1000 steps instead "
            "of 50,000; the percentiles are over the validation digits at each evaluation."
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
            f"Batch 128 and batch 4 each for {_BA_EPOCHS} epochs (the same examples seen: "
            f"{round(_BA_EPOCHS * DIGITS_TRAIN / 128)} steps at batch 128, "
            f"{round(_BA_EPOCHS * DIGITS_TRAIN / 4)} at batch 4), Adam (lr 1e-3) at both; curves "
            "against epochs, validation loss and accuracy in eval mode; 5 seeds."
        ),
        differs=(
            "8x8 digits instead of MNIST, 2 hidden layers of 256 instead of 1000, "
            f"{_BA_EPOCHS} epochs."
        ),
        runner=_ba_fig6,
        configs=tuple(epochs_of(_BA.replace(norm=norm, batch_size=batch_size), _BA_EPOCHS)
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
            "A CNN (BatchNorm2d pools N·H·W values per channel, as in the paper), batch 32, "
            "8 and 2, the paper's linear learning-rate rule (lr 0.1·N/32, momentum 0.9), "
            f"{_WU_HE_EPOCHS} epochs at every batch size (so batch 32 takes 16× fewer steps "
            "than batch 2, as in the paper); batch and group norm; error = 1 − validation "
            "accuracy in eval mode; 3 seeds, about 30 s on one free CPU core."
        ),
        differs=(
            "8x8 digits instead of ImageNet, 3 conv layers of 16 channels instead of ResNet-50 "
            f"(GroupNorm: 8 groups of 2 channels, not 32), {_WU_HE_EPOCHS} epochs instead of "
            "100 and no lr decay, so the large batches are far from converged. (The MLP's "
            "batch norm at batch 2, whose output is exactly ±1, is another phenomenon: see the "
            "Batch size lesson.)"
        ),
        runner=_wu_he_fig1,
        configs=tuple(epochs_of(_WU_HE.replace(norm=norm, batch_size=batch_size,
                                               lr=linear_scaling_lr(batch_size)),
                                _WU_HE_EPOCHS)
                      for norm in WU_HE_NORMS for batch_size in WU_HE_BATCH_SIZES),
        seeds=(0, 1, 2),
    ),
}


def run_preset(name: str, progress: Progress = None,
               should_stop: ShouldStop = None) -> dict[str, pd.DataFrame]:
    """Run the named preset: its frames by name (see PRESETS[name].we_run)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; one of {', '.join(PRESETS)}")
    return PRESETS[name].run(progress=progress, should_stop=should_stop)


# --- what a preset's run shows, in a sentence computed from its frames ---------------------------

def effect(values: Sequence[float], scale: float = 100.0, unit: str = " points") -> str:
    """'+3.1 points (95% interval +1.2 to +5.0, 5 seeds)', or 'not settled' in its place when
    the interval contains 0. `values` are per-seed effects; `scale` turns fractions into %."""
    interval = t_interval(values)
    text = (f"{scale * interval.effect:+.1f}{unit} (95% t interval {scale * interval.low:+.1f} "
            f"to {scale * interval.high:+.1f}, {interval.n} seeds)")
    return text if interval.low > 0 or interval.high < 0 else text + ", not settled"


def settled_sign(values: Sequence[float]) -> int:
    """+1 or -1 when the 95% t interval of the per-seed values excludes 0, else 0."""
    interval = t_interval(values)
    return 1 if interval.low > 0 else -1 if interval.high < 0 else 0


def first_step(metrics: pd.DataFrame, target: float) -> str:
    """'step 150', the first evaluation at or above `target` validation accuracy, or 'never'."""
    reached = metrics.loc[metrics["val_accuracy"] >= target, "step"]
    return f"step {int(reached.min())}" if len(reached) else "never"


def _per_seed(rows: pd.DataFrame, value: str, key: str = "seed") -> dict[int, float]:
    return {int(k): float(v) for k, v in zip(rows[key], rows[value]) if math.isfinite(v)}


def _paired(a: dict[int, float], b: dict[int, float]) -> list[float]:
    return [a[s] - b[s] for s in sorted(set(a) & set(b))]


def ioffe_final_accuracy(metrics: pd.DataFrame) -> dict[str, dict[int, float]]:
    """{norm: {seed: validation accuracy at the last evaluation}} for finished runs."""
    final = metrics[metrics["status"] == "finished"].groupby(["norm", "seed"]).tail(1)
    return {norm: _per_seed(rows, "val_accuracy") for norm, rows in final.groupby("norm")}


def ioffe_drift(percentiles: pd.DataFrame) -> dict[str, dict[int, float]]:
    """{norm: {seed: how far the watched unit's median input moved}}: the largest distance of
    the median from where it stood at the first evaluation after step 0, over the rest of
    training (step 0 is the untrained network, before any norm statistics were gathered)."""
    medians = percentiles[percentiles["quantile"] == 0.5].sort_values("step")
    medians = medians[medians["step"] > 0]
    drift: dict[str, dict[int, float]] = {}
    for (norm, seed), rows in medians.groupby(["norm", "seed"]):
        values = rows["value"].to_numpy()
        if len(values) > 1:
            drift.setdefault(norm, {})[int(seed)] = float(abs(values - values[0]).max())
    return drift


def mean_curve_reaches(metrics: pd.DataFrame, norm: str, target: float) -> str:
    """first_step of the seed-mean validation accuracy curve of `norm`."""
    rows = metrics[metrics["norm"] == norm]
    mean = rows.groupby("step", as_index=False)["val_accuracy"].mean()
    return first_step(mean, target)


def steps_to_target(metrics: pd.DataFrame, target: float = 0.9) -> dict[str, dict[int, float]]:
    """{norm: {seed: first evaluated step at or above `target` validation accuracy}}; a seed
    that never got there is left out."""
    reached = metrics[metrics["val_accuracy"] >= target]
    first = reached.groupby(["norm", "seed"])["step"].min()
    steps: dict[str, dict[int, float]] = {}
    for (norm, seed), step in first.items():
        steps.setdefault(norm, {})[int(seed)] = float(step)
    return steps


def ioffe_says(frames: dict) -> str:
    """Final accuracy with and without BN, its difference over seeds, and the unit's drift."""
    metrics, percentiles = frames["metrics"], frames["percentiles"]
    final = ioffe_final_accuracy(metrics)
    parts = []
    for norm, name in (("none", "Without batch norm"), ("batch", "with batch norm")):
        if final.get(norm):
            values = list(final[norm].values())
            reached = mean_curve_reaches(metrics, norm, 0.9)
            parts.append(f"{name} the validation accuracy ended at {sum(values) / len(values):.1%}"
                         f" (mean of {len(values)} seeds), and the mean curve "
                         + ("never reached 90%" if reached == "never" else f"reached 90% at "
                                                                          f"{reached}"))
    text = "; ".join(parts) + "." if parts else ""
    difference = _paired(final.get("batch", {}), final.get("none", {}))
    if len(difference) > 1:
        text += f" Batch norm minus none, seed by seed: {effect(difference)}."
    steps = steps_to_target(metrics)
    sooner = _paired(steps.get("none", {}), steps.get("batch", {}))
    if len(sooner) > 1:
        text += (f" Steps to 90% without minus with batch norm, over the {len(sooner)} seeds "
                 f"where both got there: {effect(sooner, scale=1.0, unit=' steps')}.")
    drift = ioffe_drift(percentiles)
    moved = [f"{sum(d.values()) / len(d):.2f} {name} it" for norm, name in
             (("none", "without"), ("batch", "with")) if (d := drift.get(norm))]
    if moved:
        first = int(percentiles.loc[percentiles["step"] > 0, "step"].min())
        text += (" The watched unit's median sigmoid input moved at most " + " and ".join(moved)
                 + f" (mean over seeds) from where it stood at step {first}")
        paired = _paired(drift.get("none", {}), drift.get("batch", {}))
        text += (f"; without minus with: {effect(paired, scale=1.0, unit='')}." if len(paired) > 1
                 else ".")
    return text.strip()


def ba_final_accuracy(metrics: pd.DataFrame) -> dict[tuple[str, int], dict[int, float]]:
    """{(norm, batch_size): {seed: validation accuracy at the end}} for finished seeds."""
    final = metrics[metrics["status"] == "finished"].groupby(
        ["norm", "batch_size", "seed"]).tail(1)
    return {(norm, int(size)): _per_seed(rows, "val_accuracy")
            for (norm, size), rows in final.groupby(["norm", "batch_size"])}


def ba_says(frames: dict) -> str:
    """Each norm's final accuracy at each batch size, and what the small batch cost it."""
    metrics = frames["metrics"]
    final = ba_final_accuracy(metrics)
    sizes = sorted({size for _, size in final}, reverse=True)
    norms = [n for n in ("batch", "layer") if any((n, s) in final for s in sizes)]
    mean = {key: sum(v.values()) / len(v) for key, v in final.items() if v}
    parts = [f"batch {size}: " + ", ".join(f"{norm_label(n)} {mean[(n, size)]:.1%}"
                                           for n in norms if (n, size) in mean)
             for size in sizes]
    epochs = float(metrics["epoch"].max()) if len(metrics) else 0.0
    steps = metrics.groupby("batch_size")["step"].max()
    updates = (f"; batch {sizes[-1]} took {steps[sizes[-1]] / steps[sizes[0]]:.0f}× as many "
               "steps" if len(sizes) > 1 and steps[sizes[0]] > 0 else "")
    text = (f"After {epochs:.1f} epochs at every batch size (the same examples seen{updates}), "
            "the mean validation accuracy at " + "; at ".join(parts) + ".")
    if len(sizes) > 1:
        big, small = sizes[0], sizes[-1]
        costs = [f"{norm_label(n)} {effect(_paired(final[(n, big)], final[(n, small)]))}"
                 for n in norms if (n, big) in final and (n, small) in final
                 and len(_paired(final[(n, big)], final[(n, small)])) > 1]
        if costs:
            text += (f" Accuracy lost at batch {small} against batch {big}, seed by seed "
                     "(negative: a gain): " + "; ".join(costs) + ".")
    return text


def wu_he_mean_error(errors: pd.DataFrame) -> dict[tuple[str, int], float]:
    """{(norm, batch_size): mean validation error over the finished seeds}."""
    finished = errors[errors["status"] == "finished"]
    return {(norm, int(size)): float(rows["val_error"].mean())
            for (norm, size), rows in finished.groupby(["norm", "batch_size"])}


def wu_he_says(frames: dict) -> str:
    """Each norm's mean error at the largest and the smallest batch size, the rise with its
    interval over seeds, and group minus batch norm at the smallest batch."""
    errors = frames["errors"]
    finished = errors[errors["status"] == "finished"].dropna(subset=["val_error"])
    mean = wu_he_mean_error(finished)
    parts, rises = [], []
    for norm in dict.fromkeys(finished["norm"]):
        rows = finished[finished["norm"] == norm]
        sizes = sorted(set(rows["batch_size"]))
        if len(sizes) < 2:
            continue
        small, big = sizes[0], sizes[-1]
        parts.append(f"{norm_label(norm)} {mean[(norm, big)]:.1%} at batch {big} → "
                     f"{mean[(norm, small)]:.1%} at batch {small}")
        by_size = {s: _per_seed(rows[rows["batch_size"] == s], "val_error") for s in (small, big)}
        rise = _paired(by_size[small], by_size[big])
        if len(rise) > 1:
            rises.append(f"{norm_label(norm)} {effect(rise)}")
    if not parts:
        return "Too few runs finished to compare batch sizes."
    text = "Mean validation error: " + "; ".join(parts) + "."
    if rises:
        text += (" The rise from the largest to the smallest batch, seed by seed (negative: "
                 "the error fell): "
                 + "; ".join(rises) + ".")
    smallest = int(finished["batch_size"].min())
    at_small = {n: _per_seed(finished[(finished["norm"] == n)
                                      & (finished["batch_size"] == smallest)], "val_error")
                for n in ("batch", "group")}
    gap = _paired(at_small["group"], at_small["batch"])
    if len(gap) > 1:
        text += f" At batch {smallest}, group norm minus batch norm: {effect(gap)}."
    return text


def mean_over_seeds(metrics: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The seed-mean of every numeric metric per (*by, step): one curve per group to draw."""
    columns = [c for c in METRIC_COLUMNS if c != "step"] + (
        ["epoch"] if "epoch" in metrics else [])
    return metrics.groupby([*by, "step"], as_index=False)[columns].mean()


def first_seed(percentiles: pd.DataFrame) -> pd.DataFrame:
    """The rows of the first seed: one unit of one network, as Ioffe & Szegedy draw it."""
    return percentiles[percentiles["seed"] == percentiles["seed"].min()]


RUN_SHOWS = {"ioffe_szegedy_fig1": ioffe_says, "ba_fig6": ba_says, "wu_he_fig1": wu_he_says}


def what_the_run_shows(name: str, frames: dict[str, pd.DataFrame]) -> str:
    """The sentence for preset `name`'s frames (from run_preset), computed from the numbers."""
    return RUN_SHOWS[name](frames)

