"""Depth: vanishing and exploding signals, and which norm keeps a deep network trainable."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd

from normlab.config import ConfigError, TrainConfig
from normlab.lessons._common import (
    Progress,
    ShouldStop,
    Sweep,
    frame,
    number,
    train_until_stopped,
)
from normlab.registry import norm_label
from normlab.seeds import train_seeds


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
    sweep = Sweep(len(grid), progress, should_stop)
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
        run = train_until_stopped(cfg, should_stop)
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
                        "final_train_loss": number(done["final_train_loss"]),
                        "final_val_accuracy": number(done["final_val_accuracy"]),
                        "first_layer_grad_norm": float(grads.get(0, math.nan)),
                        "last_layer_grad_norm": float(grads.get(depth - 1, math.nan)),
                        "message": run.message, "wall_time": run.wall_time})
        sweep.advance()
    return DepthSweep(frame(summary, DEPTH_SUMMARY_COLUMNS), frame(layers, DEPTH_LAYER_COLUMNS))


# --- the claim's experiment: each norm at its own best learning rate --------------------------

DEPTH_LR_GRID = (0.003, 0.01, 0.03, 0.1)  # momentum SGD; LN's best is lower than BN's
DEPTH_STUDY_DEPTHS = (16, 32)  # "very deep" for an MLP here: 16 and 32 hidden layers
CHANCE_LOSS = math.log(10)  # what a diverged seed counts as: no better than guessing a digit
DEPTH_STUDY_COLUMNS = ("norm", "depth", "lr", "seed", "status", "final_train_loss",
                       "final_val_accuracy", "wall_time")


def depth_lr_study(
    norms: Sequence[str] = ("batch", "layer"),
    depths: Sequence[int] = DEPTH_STUDY_DEPTHS,
    lrs: Sequence[float] = DEPTH_LR_GRID,
    base: TrainConfig = DEPTH_CLAIM,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> pd.DataFrame:
    """Claim tested: "layer norm stabilises very deep networks less well than batch norm",
    with each norm at its own best learning rate from the grid `lrs`.

    Every (norm, depth, lr) trains all `seeds` at once (normlab.seeds.train_seeds), init gain
    `base.init_gain`. final_train_loss is the mean training loss over the last evaluation
    interval; a diverged seed counts as CHANCE_LOSS (log 10 nats, guessing).

    Returns one row per (norm, depth, lr, seed).
    """
    grid = [(norm, depth, lr) for norm in norms for depth in depths for lr in lrs]
    sweep = Sweep(len(grid), progress, should_stop)
    rows = []
    for norm, depth, lr in grid:
        if sweep.stopped():
            break
        cfg = base.replace(norm=norm, depth=depth, lr=lr,
                           eval_every=max(1, base.steps // 5))
        runs = train_seeds(cfg, seeds)
        final = runs.final().set_index("seed")
        status = runs.status.set_index("seed")
        for seed in seeds:
            finished = status.at[seed, "status"] == "finished"
            loss = float(final.at[seed, "train_loss"]) if finished else CHANCE_LOSS
            rows.append(dict(norm=norm, depth=depth, lr=lr, seed=seed,
                             status=status.at[seed, "status"],
                             final_train_loss=loss if math.isfinite(loss) else CHANCE_LOSS,
                             final_val_accuracy=float(final.at[seed, "val_accuracy"])
                             if finished else math.nan,
                             wall_time=runs.wall_time / len(seeds)))
        sweep.advance()
    return frame(rows, DEPTH_STUDY_COLUMNS)


def best_lrs(study: pd.DataFrame) -> pd.DataFrame:
    """Per (norm, depth): the lr with the lowest mean final training loss over seeds, that
    loss, and the grid's losses: norm, depth, best_lr, best_loss."""
    means = study.groupby(["norm", "depth", "lr"])["final_train_loss"].mean().reset_index()
    best = means.loc[means.groupby(["norm", "depth"])["final_train_loss"].idxmin()]
    return best.rename(columns={"lr": "best_lr", "final_train_loss": "best_loss"}) \
        .reset_index(drop=True)


def final_loss_sentence(summary: pd.DataFrame, steps: int) -> str:
    """What the final-loss chart shows, from its numbers: at the deepest depth, per gain, each
    norm's mean final training loss, lowest first (the Depth page's caption)."""
    rows = summary[summary["status"] != "refused"]
    if rows.empty:
        return "No run finished."
    depth = int(rows["depth"].max())
    deepest = rows[rows["depth"] == depth]
    parts = []
    for gain, group in deepest.groupby("gain"):
        finished = group[group["status"] == "finished"]
        losses = finished.groupby("norm")["final_train_loss"].mean().sort_values()
        diverged = sorted(set(group["norm"]) - set(losses.index))
        text = ", ".join(f"{norm_label(n)} {loss:.2f}" for n, loss in losses.items())
        if diverged:
            text += ("; " if text else "") + f"diverged: {', '.join(map(norm_label, diverged))}"
        parts.append(f"gain {gain:g}: {text}")
    return (f"Mean training loss over the last steps of {steps}, in nats (2.30 is guessing "
            f"among 10 digits). At depth {depth}, lowest first — " + "; ".join(parts) + ".")
