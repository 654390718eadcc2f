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
