"""The claim checker: sentences people say about the norms, each judged by a pure verdict."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from normlab.lessons._common import (
    Progress,
    ShouldStop,
    join,
)
from normlab.lessons.batch_dependence import batch_dependence
from normlab.lessons.batch_size import batch_size_sweep
from normlab.lessons.convergence import convergence_sweep, steps_to_accuracy
from normlab.lessons.depth import DEPTH_CLAIM, depth_sweep
from normlab.lessons.invariances import RESCALED, RESCALINGS, invariance_table
from normlab.lessons.speed import time_norms

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold here"


def holds_only_when(condition: str) -> str:
    return f"holds only when {condition}"


@dataclass(frozen=True)
class Verdict:
    outcome_frame: pd.DataFrame
    verdict: str  # "holds", "holds only when ...", or "does not hold here"
    explanation: str


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
    rescaled = [RESCALED[t] for t in invariant]
    return Verdict(table, holds_only_when(f"what is rescaled is {join(rescaled, 'or')}"),
                   f"Not invariant to {join(changed)}: RMS norm divides each example by one "
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
            where.append(f"the {implementation} implementation at {join(group['size'][good])}")
    return Verdict(ratios, holds_only_when(f"using {join(where, 'or')}"), detail)


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
    gains = join((f"{g:g}" for g in loss.index[worse]), "or")
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
    lrs = join((f"{lr:g}" for lr in steps.index[faster]), "or")
    return Verdict(curves, holds_only_when(f"the learning rate is {lrs}"), detail)


def _itself(result: Any) -> pd.DataFrame:
    return result


@dataclass(frozen=True)
class Claim:
    """A sentence people say about a norm, and the experiment that checks it."""

    id: str
    text: str  # the claim in plain words
    lesson: str  # the lesson that shows why: one of lessons.LESSON_KEYS
    experiment: Callable[..., Any]
    verdict: Callable[[pd.DataFrame], Verdict]  # a pure function of the outcome frame
    defaults: dict = field(default_factory=dict)  # arguments for `experiment`
    outcome: Callable[[Any], pd.DataFrame] = _itself  # the frame of the result `verdict` reads


CLAIMS: list[Claim] = [
    Claim(
        id="bn_robust_to_batch_size",
        text="Batch norm is robust to the batch size.",
        lesson="batch_size",
        experiment=batch_size_sweep,
        verdict=verdict_bn_robust_to_batch_size,
        defaults=dict(norms=("batch",)),
    ),
    Claim(
        id="ln_independent_of_batch_mates",
        text="Layer norm's output for an example does not depend on its batch mates.",
        lesson="batch_dependence",
        experiment=batch_dependence,
        verdict=verdict_ln_independent_of_batch_mates,
        defaults=dict(norms=("layer", "batch")),
        outcome=lambda result: result.summary,
    ),
    Claim(
        id="rms_invariant_to_rescaling",
        text="RMS norm is invariant to rescaling.",
        lesson="invariances",
        experiment=invariance_table,
        verdict=verdict_rms_invariant_to_rescaling,
    ),
    Claim(
        id="rms_cheaper_than_layer",
        text="RMS norm is cheaper to compute than layer norm.",
        lesson="speed",
        experiment=time_norms,
        verdict=verdict_rms_cheaper_than_layer,
        defaults=dict(norms=("layer", "rms")),
        outcome=lambda result: result.rms_over_layer,
    ),
    Claim(
        id="ln_less_stable_than_bn_deep",
        text="Layer norm stabilises very deep networks less well than batch norm.",
        lesson="depth",
        experiment=depth_sweep,
        verdict=verdict_ln_less_stable_than_bn,
        defaults=dict(norms=("batch", "layer"), depths=(4, 16), base=DEPTH_CLAIM),
        outcome=lambda result: result.summary,
    ),
    Claim(
        id="bn_speeds_convergence",
        text="Batch norm speeds up convergence.",
        lesson="convergence",
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
