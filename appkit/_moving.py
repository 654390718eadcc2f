"""The lessons' computations, as they stood in appkit.py, moving into normlab (issue 9).

Kept verbatim, not refactored: another branch moves these functions into the library, and the
lead replaces this file with re-exports from there at merge time. Nothing else in appkit/ does
torch math (tests/test_lint.py checks it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
import torch

from normlab import norms
from normlab.engine import Run
from normlab.plots import norm_label


def steps_to(metrics: pd.DataFrame, target: float) -> int | None:
    """The first evaluated step whose validation loss is at or below `target`."""
    hit = metrics[metrics["val_loss"] <= target]
    return None if hit.empty else int(hit["step"].iloc[0])


def _listed(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def convergence_summary(runs: Mapping[str, Run]) -> str:
    """Which norm first reached a validation loss that every learning norm reached, and which
    ended most accurate: a sentence computed from the runs' metrics.

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
        parts.append(f"{_listed(stuck)} never halved {'its' if len(stuck) == 1 else 'their'} "
                     f"starting validation loss in {steps} steps.")
    if usable:
        best = max(usable, key=lambda n: usable[n].final.get("val_accuracy", 0.0))
        parts.append(f"Best final validation accuracy: {norm_label(best)}, "
                     f"{100 * usable[best].final['val_accuracy']:.1f}%.")
    parts += [f"{norm_label(n)} diverged at step {r.diverged_at}." for n, r in runs.items()
              if r.status == "diverged"]
    return " ".join(parts) or "No run produced metrics."


def example_batch(seed: int, examples: int = 4, features: int = 3) -> pd.DataFrame:
    """A small batch with features on different scales, as raw layer outputs tend to be."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(examples, features, generator=generator)  # (N, D)
    x = x * torch.tensor([1.0, 3.0, 0.5])[:features] + torch.tensor([2.0, -1.0, 0.0])[:features]
    return pd.DataFrame(x.numpy().round(2), columns=[f"x{j}" for j in range(features)],
                        index=[f"example {i}" for i in range(examples)])


def worked_example(batch: pd.DataFrame, gain: float, shift: float,
                   batches_seen: int) -> dict[str, pd.DataFrame]:
    """Each norm's output for `batch`, computed with normlab.norms, gain and shift applied.

    "BatchNorm (eval)" uses running statistics after `batches_seen` training passes over this
    same batch, so it shows the unbiased-variance gap between training and eval mode.
    """
    x = torch.tensor(batch.to_numpy(dtype="float32"))  # (N, D)
    features = x.shape[1]
    layers = {"BatchNorm (train)": norms.BatchNorm1d(features),
              "LayerNorm": norms.LayerNorm(features), "RMSNorm": norms.RMSNorm(features)}
    order = ["BatchNorm (train)", "BatchNorm (eval)", "LayerNorm", "RMSNorm"]
    with torch.no_grad():
        for layer in layers.values():
            layer.weight.fill_(gain)
            if getattr(layer, "bias", None) is not None:
                layer.bias.fill_(shift)
        out = {name: layer(x) for name, layer in layers.items()}
        bn = layers["BatchNorm (train)"]
        for _ in range(max(0, batches_seen - 1)):  # the call above already counted one batch
            bn(x)
        bn.eval()
        out["BatchNorm (eval)"] = bn(x)
    return {name: pd.DataFrame(out[name].numpy(), columns=batch.columns, index=batch.index)
            for name in order}


def with_margins(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus each row's mean, std and root mean square, and each column's mean and std
    (biased std, as the norms use)."""
    table = frame.copy()
    table["row mean"], table["row std"] = frame.mean(axis=1), frame.std(axis=1, ddof=0)
    table["row rms"] = (frame**2).mean(axis=1) ** 0.5
    table.loc["column mean"] = list(frame.mean(axis=0)) + [math.nan] * 3
    table.loc["column std"] = list(frame.std(axis=0, ddof=0)) + [math.nan] * 3
    return table

