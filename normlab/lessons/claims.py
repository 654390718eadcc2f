"""The claim checker: sentences people say about the norms, each judged by a pure verdict."""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from normlab import stats
from normlab.lessons import lr_window, why_bn
from normlab.lessons._common import (
    Progress,
    ShouldStop,
    join,
)
from normlab.lessons.batch_dependence import batch_dependence
from normlab.lessons.batch_size import BUDGET_WORDS, batch_size_study
from normlab.lessons.beyond_verdicts import (
    verdict_bn_helps_despite_noise,
    verdict_bn_smoother_loss,
    verdict_norm_allows_larger_lr,
)
from normlab.lessons.convergence import CONVERGENCE_QUICK, convergence_sweep, steps_to_accuracy
from normlab.lessons.depth import best_lrs, depth_lr_study
from normlab.lessons.invariances import RESCALED, RESCALINGS, invariance_table
from normlab.lessons.speed import CHEAPER_MARGIN, paired_decisions, time_norms
from normlab.lessons.verdicts import (  # noqa: F401  (re-exported: claims.Verdict, claims.HOLDS)
    DOES_NOT_HOLD,
    EXACT,
    HOLDS,
    NOT_SETTLED,
    T_INTERVAL,
    Part,
    Verdict,
    combine,
    holds_only_when,
    interval_text,
)

DEFAULT_SEEDS = (0, 1, 2, 3, 4)


# --- 1. batch norm and the batch size: against the batch-independent norms ---------------------

# 10 points: BN's extra drop at batch 8 is about 2 points +- 3.5 over 5 seeds (a 5-point
# rule is not settled there at this budget), at batch 2 about 60-75 points.
BN_ROBUST_TOLERANCE = 0.10


def verdict_bn_robust_to_batch_size(frame: pd.DataFrame,
                                    tolerance: float = BN_ROBUST_TOLERANCE) -> Verdict:
    """From batch_size_study: at each smaller batch size b and each budget, BN's accuracy
    change from the largest batch size minus the controls' (the mean of layer and RMS norm,
    seed by seed, same budget). Robust at b when that excess drop is less than `tolerance`
    (the whole 95% t interval above -tolerance); not robust when the whole interval is below.
    Holds only when b is at least b* if robust exactly from b* up. A seed whose BN run was
    refused or diverged counts as accuracy 0.1 (guessing)."""
    if "budget" not in frame.columns:
        frame = frame.assign(budget="examples")
    seeds = tuple(sorted(set(int(s) for s in frame["seed"])))
    threshold = (f"BN counts as robust at a batch size if, going down from the largest batch "
                 f"size, its validation accuracy falls by less than {tolerance:.0%} points "
                 f"more than layer and RMS norm's (their mean, same seeds, same budget), and "
                 f"the whole 95% interval agrees")
    bn = frame[frame["norm"] == "batch"]
    controls = frame[frame["norm"].isin(["layer", "rms"])]
    if bn.empty or controls.empty:
        return Verdict(frame, NOT_SETTLED, "Needs batch norm and a control (layer or RMS norm)"
                       " at the same batch sizes.", seeds=seeds, threshold=threshold,
                       method=T_INTERVAL, settle="Run with norms batch, layer and rms.")
    accuracy = lambda rows: rows.assign(  # noqa: E731
        val_accuracy=rows["val_accuracy"].where(rows["status"] == "finished", 0.1)) \
        .groupby(["budget", "batch_size", "seed"])["val_accuracy"].mean()
    bn, controls = accuracy(bn), accuracy(controls)
    parts, lines = [], []
    sizes = sorted(set(frame["batch_size"]))
    largest = sizes[-1]
    for budget in dict.fromkeys(frame["budget"]):
        words = BUDGET_WORDS.get(budget, budget)
        for size in sizes[:-1]:
            try:
                bn_drop = bn[budget][size] - bn[budget][largest]
                control_drop = controls[budget][size] - controls[budget][largest]
            except KeyError:
                continue
            excess = (bn_drop - control_drop).dropna()
            if excess.empty:
                continue
            decision = stats.decide(excess.tolist(), -tolerance, "above")
            parts.append(Part(f"batch size {size}, {words}", decision))
            lines.append(f"batch {size} ({words}): {interval_text(decision, 100, ' pts')}")
    detail = ("BN's accuracy change from batch " + str(largest) + " minus layer and RMS norm's"
              ", mean over seeds with its 95% t interval: " + "; ".join(lines) + ".")

    def only_when(holding: list[Part]) -> str:
        robust = {p.condition for p in holding}
        floors = []
        for budget in dict.fromkeys(frame["budget"]):
            words = BUDGET_WORDS.get(budget, budget)
            ok = [s for s in sizes[:-1] if f"batch size {s}, {words}" in robust]
            bad = [s for s in sizes[:-1] if f"batch size {s}, {words}" not in robust]
            floor = min((s for s in sizes if all(b < s for b in bad)), default=largest)
            floors.append((budget, floor, ok))
        if len({f for _, f, _ in floors}) == 1:
            return f"the batch size is at least {floors[0][1]}"
        return join((f"the batch size is at least {f} ({BUDGET_WORDS.get(b, b)})"
                     for b, f, _ in floors), "and")

    return combine(frame, parts, only_when, detail, seeds, threshold,
                   unit="BN's accuracy change minus the controls', as a fraction: -0.1 is 10 "
                   "points")


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
    return Verdict(summary, HOLDS if spread < tolerance else DOES_NOT_HOLD, detail,
                   effect=spread, threshold=f"holds when the example's output moves by less "
                   f"than {tolerance:g} (std over the batches) whatever its batch mates; an "
                   f"exact computation on fixed inputs, so there is no seed noise to bound",
                   effect_unit="largest std of one output unit")


RESCALING_THRESHOLD = ("invariant to a rescaling when no output value changes by 1e-3 or more "
                       "(eps keeps it from being exactly 0); an exact computation in float64, "
                       "so there is no seed noise to bound")


def verdict_rms_invariant_to_rescaling(table: pd.DataFrame) -> Verdict:
    """From invariance_table: which of the rescalings leave RMS norm's output unchanged."""
    verdict = _rms_invariance(table)
    return dataclasses.replace(verdict, threshold=RESCALING_THRESHOLD,
                               effect_unit="largest output change")


def _rms_invariance(table: pd.DataFrame) -> Verdict:
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


def verdict_rms_cheaper_than_layer(timings: pd.DataFrame,
                                   margin: float = CHEAPER_MARGIN) -> Verdict:
    """From time_norms' rounds (one row per implementation, size, round): per implementation
    and size, RMS norm is cheaper when its time over layer norm's, timed within the same round
    (paired), is below 1 - `margin`: the 95% t interval of the mean log ratio, shown as a
    ratio, wholly below 1 - margin; not cheaper when wholly above; else not settled
    (speed.paired_decisions; the Speed page shows the same). Medians without rounds carry no
    interval: they are not judged.
    """
    threshold = (f"RMS norm counts as cheaper where its forward + backward time is at least "
                 f"{margin:.0%} below layer norm's (time ratio < {1 - margin:g}), timed in "
                 f"interleaved rounds, and the whole 95% interval of the ratio agrees")
    method = "95% t interval over paired rounds (log ratio)"
    if timings.empty or "round" not in timings.columns:
        why = ("No timings of both RMS and layer norm." if timings.empty else
               "Only medians, no paired rounds: a median carries no interval to judge.")
        return Verdict(timings, NOT_SETTLED, why, threshold=threshold, method=method,
                       settle="Time both norms in interleaved rounds (time_norms' rounds).")
    parts, lines = [], []
    for implementation, size, ratio in paired_decisions(timings, margin):
        parts.append(Part(f"the {implementation} implementation at {size}", ratio))
        lines.append(f"{implementation} {size}: {ratio.effect:.2f}x "
                     f"[{ratio.low:.2f}, {ratio.high:.2f}] ({ratio.verdict})")
    detail = ("RMS norm time / layer norm time (forward + backward), geometric mean over "
              f"{parts[0].decision.n} paired rounds with its 95% t interval: "
              + "; ".join(lines) + ".")
    only_when = lambda holding: "using " + join((p.condition for p in holding), "or")  # noqa: E731
    return combine(timings, parts, only_when, detail, (), threshold, unit="time ratio",
                   method=method)


def verdict_ln_less_stable_than_bn(study: pd.DataFrame) -> Verdict:
    """From depth_lr_study: at each depth, each norm at its own best learning rate (lowest mean
    final training loss over the grid); layer norm is less stable when its final training
    loss is higher than batch norm's, seed by seed (the whole 95% t interval of the paired
    difference above 0); not less stable when the interval is wholly below 0."""
    seeds = tuple(sorted(set(int(s) for s in study["seed"]))) if len(study) else ()
    threshold = ("layer norm counts as less stable at a depth if its final training loss, at "
                 "its best learning rate from the grid, is higher than batch norm's at "
                 "batch norm's best (paired by seed), and the whole 95% interval is above 0")
    if not {"batch", "layer"} <= set(study["norm"]):
        return Verdict(study, NOT_SETTLED, "Needs runs of both batch and layer norm.",
                       seeds=seeds, threshold=threshold, method=T_INTERVAL,
                       settle="Run with norms batch and layer.")
    best = best_lrs(study).set_index(["norm", "depth"])["best_lr"]
    parts, lines = [], []
    for depth in sorted(set(study["depth"])):
        if ("batch", depth) not in best.index or ("layer", depth) not in best.index:
            continue
        at_best = {norm: study[(study["norm"] == norm) & (study["depth"] == depth)
                               & (study["lr"] == best[(norm, depth)])]
                   .set_index("seed")["final_train_loss"].to_dict()
                   for norm in ("batch", "layer")}
        difference = stats.paired_differences(at_best["layer"], at_best["batch"])
        d = stats.decide(difference, 0.0, "above")
        parts.append(Part(f"depth {depth}", d))
        lines.append(f"depth {depth} (best lr: batch {best[('batch', depth)]:g}, layer "
                     f"{best[('layer', depth)]:g}): layer minus batch "
                     f"{interval_text(d, 1, ' nats')}")
    lrs = ", ".join(f"{lr:g}" for lr in sorted(set(study["lr"])))
    detail = (f"Final training loss, each norm at its best learning rate from the grid {lrs} "
              f"(picked on these same seeds): "
              + "; ".join(lines) + ". Very deep here means an MLP of "
              + " and ".join(str(d) for d in sorted(set(study["depth"]))) + " hidden layers; "
              "Ba et al. (2016) found batch norm ahead of layer norm in ConvNets, not MLPs.")
    only_when = lambda holding: "the depth is " + join(  # noqa: E731
        (p.condition.removeprefix("depth ") for p in holding), "or")
    return combine(study, parts, only_when, detail, seeds, threshold, unit="nats")


CONVERGENCE_TARGET = 0.9


def verdict_bn_speeds_convergence(curves: pd.DataFrame,
                                  target: float = CONVERGENCE_TARGET) -> Verdict:
    """From convergence_sweep: per learning rate, batch norm converges faster when it reaches
    `target` validation accuracy in fewer steps than no norm, seed by seed (steps
    interpolated between evaluations; the whole 95% t interval of no norm's steps minus batch
    norm's above 0); slower when wholly below. A run that never reaches the target counts as
    the full budget (a lower bound); a learning rate where no run of either reached it is
    left out (no evidence either way)."""
    seeds = tuple(sorted(set(int(s) for s in curves["seed"]))) if len(curves) else ()
    threshold = (f"batch norm counts as faster at a learning rate if it reaches {target:.0%} "
                 f"validation accuracy in fewer steps than no norm (paired by seed, steps "
                 f"interpolated between evaluations), and the whole 95% interval agrees")
    if not {"batch", "none"} <= set(curves["norm"]):
        return Verdict(curves, NOT_SETTLED, "Needs runs with norm 'batch' and norm 'none'.",
                       seeds=seeds, threshold=threshold, method=T_INTERVAL,
                       settle="Run with norms batch and none.")
    reached = steps_to_accuracy(curves, target, ("norm", "lr", "seed"), interpolate=True)
    budget = float(curves["step"].max())
    parts, lines, unreached = [], [], []
    for lr, group in reached.groupby("lr"):
        steps = group.pivot(index="seed", columns="norm", values="steps_to_target")
        if steps[["batch", "none"]].isin([math.inf]).all().all():
            unreached.append(f"{lr:g}")
            continue
        capped = steps[["batch", "none"]].replace(math.inf, budget)
        d = stats.decide((capped["none"] - capped["batch"]).tolist(), 0.0, "above")
        parts.append(Part(f"learning rate {lr:g}", d))
        never = [n for n in ("batch", "none") if steps[n].isin([math.inf]).any()]
        note = f"; {' and '.join(never)} never reached it on some seed" if never else ""
        lines.append(f"lr {lr:g}: no norm minus batch norm {interval_text(d, 1, ' steps')}"
                     f"{note}")
    detail = (f"Steps to {target:.0%} validation accuracy, no norm minus batch norm (mean over "
              f"seeds, 95% t interval): " + "; ".join(lines) + ".")
    if unreached:
        detail += (f" At lr {', '.join(unreached)} neither reached {target:.0%} in "
                   f"{budget:g} steps: no evidence either way.")
    only_when = lambda holding: "the learning rate is " + join(  # noqa: E731
        (p.condition.removeprefix("learning rate ") for p in holding), "or")
    return combine(curves, parts, only_when, detail, seeds, threshold, unit="steps")


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
        experiment=batch_size_study,
        verdict=verdict_bn_robust_to_batch_size,
        defaults=dict(batch_sizes=(2, 8, 32)),
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
        # torch's native kernels and the formula written out: what a kernel does vs what the
        # arithmetic costs. 15 interleaved rounds at one size keep the claim near 3 s.
        defaults=dict(norms=("layer", "rms"), implementations=("torch", "naive"),
                      sizes=((2048, 1024),), repeats=15),
        outcome=lambda result: result.rounds,
    ),
    Claim(
        id="ln_less_stable_than_bn_deep",
        text="Layer norm stabilises very deep networks less well than batch norm.",
        lesson="depth",
        experiment=depth_lr_study,
        verdict=verdict_ln_less_stable_than_bn,
        # 16 hidden layers: at 32 each norm's best loss is near chance after 100 steps and the
        # gap is within the seed noise; depth 32 alone costs twice the rest of the checker
        defaults=dict(depths=(16,)),
    ),
    Claim(
        id="bn_speeds_convergence",
        text="Batch norm speeds up convergence.",
        lesson="convergence",
        experiment=convergence_sweep,
        verdict=verdict_bn_speeds_convergence,
        # an evaluation every 2 steps (and interpolation between them): few ties
        defaults=dict(base=CONVERGENCE_QUICK.replace(eval_every=2)),
    ),
    Claim(
        id="norm_allows_larger_lr",
        text="Normalization lets you train with larger learning rates.",
        lesson="lr_window",
        experiment=lr_window.lr_sweep,  # at its defaults: the page's first sweep
        verdict=verdict_norm_allows_larger_lr,
    ),
    Claim(
        id="bn_helps_despite_noise",
        text="Batch norm still helps when the distribution after it moves at every step.",
        lesson="why_bn",
        experiment=why_bn.why_bn,  # at its defaults: the page's first run
        verdict=verdict_bn_helps_despite_noise,
        outcome=lambda result: result.runs,
    ),
    Claim(
        id="bn_smoother_loss",
        text="Batch norm makes the loss smoother along the gradient.",
        lesson="why_bn",
        experiment=why_bn.why_bn,
        verdict=verdict_bn_smoother_loss,
        # each (condition, seed) run is trained on its own: leaving noisy BN out changes no
        # number of the other two (a test checks)
        defaults=dict(conditions=("none", "batch")),
        outcome=lambda result: result.probes,
    ),
]

CLAIMS_BY_ID = {claim.id: claim for claim in CLAIMS}


def claims_for_lesson(lesson: str) -> list[Claim]:
    """The claims whose verdicts lesson `lesson` shows (why_bn shows two), in CLAIMS order."""
    return [claim for claim in CLAIMS if claim.lesson == lesson]


def claim_for_lesson(lesson: str) -> Claim | None:
    """The first claim whose verdict lesson `lesson` shows (None if it has none)."""
    return next(iter(claims_for_lesson(lesson)), None)


def takes_seeds(claim_id: str) -> bool:
    """Whether the claim's experiment trains seeds (False: an exact computation)."""
    return "seeds" in inspect.signature(CLAIMS_BY_ID[claim_id].experiment).parameters


def check_claim(claim_id: str, progress: Progress = None, should_stop: ShouldStop = None,
                seeds: Sequence[int] | None = None, **overrides) -> Verdict:
    """Run the claim's experiment (its defaults, updated by `overrides`) and judge the outcome.

    `seeds` (default DEFAULT_SEEDS, 0-4) go to experiments that train; an exact computation
    ignores them. `progress` and `should_stop` are passed on to experiments that take them;
    a stopped experiment is judged on what it finished.
    """
    if claim_id not in CLAIMS_BY_ID:
        raise ValueError(f"unknown claim {claim_id!r}; one of {', '.join(CLAIMS_BY_ID)}")
    claim = CLAIMS_BY_ID[claim_id]
    arguments = {**claim.defaults, **overrides}
    accepted = inspect.signature(claim.experiment).parameters
    if "seeds" in accepted:
        arguments["seeds"] = tuple(DEFAULT_SEEDS if seeds is None else seeds)
    for name, callback in (("progress", progress), ("should_stop", should_stop)):
        if name in accepted and callback is not None:
            arguments[name] = callback
    return claim.verdict(claim.outcome(claim.experiment(**arguments)))
