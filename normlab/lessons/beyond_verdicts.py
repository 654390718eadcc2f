"""The verdicts of the claims that the "Beyond the three" lessons test (claims.CLAIMS lists
them): each wraps the decision its lesson page shows, the same function with the same
defaults, in a Verdict with the numbers behind it."""

from __future__ import annotations

import pandas as pd

from normlab.lessons import lr_window, why_bn
from normlab.lessons._common import join
from normlab.lessons.verdicts import NOT_SETTLED, T_INTERVAL, Part, Verdict, combine, interval_text

NORM_WORDS = {"batch": "batch norm", "layer": "layer norm", "rms": "RMS norm"}


def verdict_norm_allows_larger_lr(runs: pd.DataFrame) -> Verdict:
    """From lr_window.lr_sweep: per norm, the Learning-rate window page's own verdict
    (lr_window.verdict_larger_lr): seed by seed, log10 of the largest grid learning rate at
    which the norm trained over the largest at which no norm trained, above 0. A norm whose
    grid is missing rates the baseline ran (a stopped sweep) is not judged."""
    seeds = tuple(sorted(set(int(s) for s in runs["seed"]))) if len(runs) else ()
    threshold = ("a norm counts as allowing larger learning rates if, seed by seed, the largest "
                 "grid rate at which it trained (final validation loss below half of "
                 "guessing's) is above the largest at which no norm trained, and the whole 95% "
                 "interval of the ratio, in decades, is above 0")
    baseline = set(runs.loc[runs["norm"] == "none", "lr"])
    norms = [n for n in dict.fromkeys(runs["norm"])
             if n != "none" and baseline <= set(runs.loc[runs["norm"] == n, "lr"])]
    if not baseline or not norms:
        return Verdict(runs, NOT_SETTLED, "Needs the whole grid for no norm and for at least "
                       "one norm.", seeds=seeds, threshold=threshold, method=T_INTERVAL,
                       settle="Run with norms none, batch, layer and rms.")
    parts, lines = [], []
    for norm in norms:
        d = lr_window.verdict_larger_lr(runs, norm)
        parts.append(Part(NORM_WORDS.get(norm, norm), d))
        lines.append(f"{NORM_WORDS.get(norm, norm)} ×{10 ** d.effect:.3g} [×{10 ** d.low:.3g}, "
                     f"×{10 ** d.high:.3g}] ({d.verdict})")
    grid = ", ".join(f"{lr:g}" for lr in sorted(baseline))
    detail = ("Largest learning rate that trained, over no norm's, geometric mean over seeds "
              "with its 95% t interval: " + "; ".join(lines) + f". Grid: {grid}; a "
              "norm that trained at the top of the grid may reach further (the ratio is then a "
              "lower bound).")
    unfinished = [NORM_WORDS.get(n, n) for n in dict.fromkeys(runs["norm"])
                  if n != "none" and n not in norms]
    if unfinished:
        detail += f" Not judged, its sweep did not finish: {join(unfinished)}."
    only_when = lambda holding: "the norm is " + join(  # noqa: E731
        (p.condition for p in holding), "or")
    return combine(runs, parts, only_when, detail, seeds, threshold,
                   unit="decades of learning rate: 1 is ten times larger")


NOISE_THRESHOLD = ("noisy batch norm counts as still helping if its final validation accuracy "
                   "is above no norm's, seed by seed (a diverged seed counts as 10%, guessing), "
                   "and the whole 95% interval of the difference is above 0")


def verdict_bn_helps_despite_noise(runs: pd.DataFrame) -> Verdict:
    """From why_bn.why_bn's runs: the Why-batch-norm page's own verdict
    (why_bn.verdict_noise_keeps_the_gain), noisy batch norm's accuracy minus no norm's."""
    seeds = tuple(sorted(set(int(s) for s in runs["seed"]))) if len(runs) else ()
    if not {"none", "noisy_batch"} <= set(runs["condition"]):
        return Verdict(runs, NOT_SETTLED, "Needs runs of noisy batch norm and of no norm.",
                       seeds=seeds, threshold=NOISE_THRESHOLD, method=T_INTERVAL,
                       settle="Run with conditions none, batch and noisy_batch.")
    d = why_bn.verdict_noise_keeps_the_gain(runs)
    detail = ("Final validation accuracy, noisy batch norm minus no norm, mean over seeds with "
              f"its 95% t interval: {interval_text(d, 100, ' pts')}.")
    accuracy = why_bn.accuracy_intervals(runs).set_index("condition")["mean"]
    detail += " Mean accuracy: " + ", ".join(
        f"{why_bn.CONDITION_LABELS[c]} {100 * a:.1f}%" for c, a in accuracy.items()) + "."
    return combine(runs, [Part("noise after every batch norm", d)], lambda holding: "",
                   detail, seeds, NOISE_THRESHOLD,
                   unit="accuracy difference, as a fraction: 0.1 is 10 points")


SMOOTHER_THRESHOLD = ("batch norm counts as smoother if, seed by seed, its effective beta (the "
                      "largest gradient change per unit moved along the gradient, median over "
                      "the probed steps) is below no norm's, and the whole 95% interval of the "
                      "log10 ratio is below 0")


def verdict_bn_smoother_loss(probes: pd.DataFrame) -> Verdict:
    """From why_bn.why_bn's probes: the Why-batch-norm page's own verdict
    (why_bn.verdict_bn_smoother), log10 of batch norm's effective beta over no norm's."""
    seeds = tuple(sorted(set(int(s) for s in probes["seed"]))) if len(probes) else ()
    if not {"none", "batch"} <= set(probes["condition"]):
        return Verdict(probes, NOT_SETTLED, "Needs probes of batch norm and of no norm.",
                       seeds=seeds, threshold=SMOOTHER_THRESHOLD, method=T_INTERVAL,
                       settle="Run with conditions none and batch.")
    try:
        d = why_bn.verdict_bn_smoother(probes)
    except ValueError as error:  # a seed's beta not finite: a run that diverged while probed
        return Verdict(probes, NOT_SETTLED, f"No finite effective beta on every seed ({error}).",
                       seeds=seeds, threshold=SMOOTHER_THRESHOLD, method=T_INTERVAL,
                       settle="Lower the learning rate, so that no seed diverges.")
    detail = (f"Effective beta of batch norm over no norm's, geometric mean over seeds: "
              f"×{10 ** d.effect:.3g}, 95% t interval ×{10 ** d.low:.3g} to ×{10 ** d.high:.3g}"
              f" ({d.verdict}).")
    return combine(probes, [Part("batch norm against no norm", d)], lambda holding: "",
                   detail, seeds, SMOOTHER_THRESHOLD,
                   unit="log10 of the effective beta ratio: -1 is ten times smoother")
