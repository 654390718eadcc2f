"""Convergence: does batch norm reach a given accuracy in fewer steps?"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from normlab.config import TrainConfig
from normlab.engine import Run
from normlab.lessons._common import (
    QUICK,
    Progress,
    ShouldStop,
    Sweep,
    frame,
    join,
)
from normlab.registry import norm_label
from normlab.seeds import train_seeds

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

    Trains every (norm, learning rate) for `base.steps` steps, all `seeds` at once
    (normlab.seeds.train_seeds), and keeps each seed's validation curve. Whether the claim
    holds can depend on the learning rate: a norm lets a large rate work, while a small rate
    may be slow for everyone.

    Returns one row per (norm, lr, seed, evaluation): step, examples, val_accuracy, val_loss,
    train_loss (since the previous evaluation), status of the run (finished or diverged).
    """
    grid = [(n, lr) for n in norms for lr in lrs]
    sweep = Sweep(len(grid), progress, should_stop)
    rows = []
    for norm, lr in grid:
        if sweep.stopped():
            break
        runs = train_seeds(base.replace(norm=norm, lr=lr), seeds)  # all seeds at once
        status = dict(zip(runs.status["seed"], runs.status["status"]))
        for metric in runs.metrics.to_dict("records"):
            rows.append(dict(norm=norm, lr=lr, seed=int(metric["seed"]),
                             step=int(metric["step"]), examples=int(metric["examples"]),
                             val_accuracy=metric["val_accuracy"], val_loss=metric["val_loss"],
                             train_loss=metric["train_loss"], status=status[metric["seed"]]))
        sweep.advance()
    return frame(rows, CONVERGENCE_COLUMNS)


def steps_to_accuracy(curves: pd.DataFrame, target: float, by: Sequence[str],
                      interpolate: bool = False) -> pd.DataFrame:
    """First step at which val_accuracy reaches `target`, per group (inf if it never does).

    With `interpolate`, the step is read off the straight line between the last evaluation
    below the target and the first at or above it, so two runs that cross between the same
    two evaluations are not tied.
    """
    rows = []
    for key, group in curves.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        group = group.sort_values("step")
        steps, accuracy = group["step"].to_numpy(float), group["val_accuracy"].to_numpy(float)
        hits = (accuracy >= target).nonzero()[0]
        if not len(hits):
            reached = math.inf
        elif not interpolate or hits[0] == 0:
            reached = float(steps[hits[0]])
        else:
            i = hits[0]
            fraction = (target - accuracy[i - 1]) / (accuracy[i] - accuracy[i - 1])
            reached = float(steps[i - 1] + fraction * (steps[i] - steps[i - 1]))
        rows.append({**dict(zip(by, key)), "steps_to_target": reached})
    return frame(rows, (*by, "steps_to_target"))


def steps_to(metrics: pd.DataFrame, target: float) -> int | None:
    """The first evaluated step whose validation loss is at or below `target`."""
    hit = metrics[metrics["val_loss"] <= target]
    return None if hit.empty else int(hit["step"].iloc[0])


def convergence_summary(runs: Mapping[str, Run]) -> str:
    """Which norm first reached a validation loss that every learning norm reached, and which
    ended most accurate: a sentence computed from the runs' metrics (the Compare page's).

    A norm "learns" when its validation loss falls below half its starting value; the common
    level is the highest of the learners' best losses, so each of them got there at some step.
    """
    usable = {n: r for n, r in runs.items() if r.status != "diverged" and not r.metrics.empty}
    learners = {n: r for n, r in usable.items()
                if r.metrics["val_loss"].min() <= r.metrics["val_loss"].iloc[0] / 2}
    parts = []
    if len(learners) == 1:
        (norm, run), = learners.items()
        parts.append(f"Only {norm_label(norm)} learned: its validation loss fell to "
                     f"{run.metrics['val_loss'].min():.2f} nats.")
    elif learners:
        level = max(float(r.metrics["val_loss"].min()) for r in learners.values())
        reached = sorted((steps_to(r.metrics, level), norm_label(n)) for n, r in learners.items())
        first_step, first = reached[0]
        parts.append(f"Every norm that learned reached a validation loss of {level:.2f} nats; "
                     f"{first} got there first, at step {first_step}"
                     + "".join(f", then {label} ({step})" for step, label in reached[1:]) + ".")
    stuck = [norm_label(n) for n in usable if n not in learners]
    if stuck:
        steps = next(iter(usable.values())).config.steps
        parts.append(f"{join(stuck)} never halved {'its' if len(stuck) == 1 else 'their'} "
                     f"starting validation loss in {steps} steps.")
    if usable:
        best = max(usable, key=lambda n: usable[n].final.get("val_accuracy", 0.0))
        parts.append(f"Best final validation accuracy: {norm_label(best)}, "
                     f"{100 * usable[best].final['val_accuracy']:.1f}%.")
    parts += [f"{norm_label(n)} diverged at step {r.diverged_at}." for n, r in runs.items()
              if r.status == "diverged"]
    return " ".join(parts) or "No run produced metrics."
