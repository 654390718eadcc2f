"""From per-seed numbers to a verdict: effect sizes, 95% intervals and a three-way decision.

A claim's effect is measured once per seed (e.g. BN accuracy minus LN accuracy, seed by seed,
same data and batches: a paired difference). The primary interval is the **t interval** on
those per-seed values: with the 5-10 seeds a lesson can afford it covers at close to its
nominal rate when the per-seed effects are roughly normal, while the percentile bootstrap
over seeds is too narrow at such n (about 85% at n = 5, 89% at n = 10, for a nominal 95%; see
tests/test_stats.py). `bootstrap_interval` is here to show that, and for skewed effects with
many seeds.

Pure functions of plain sequences; nothing here trains or reads a frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats  # the t quantile

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
NOT_SETTLED = "not settled"


@dataclass(frozen=True)
class Interval:
    """An effect (the mean over seeds) with its confidence interval."""

    effect: float
    low: float
    high: float
    n: int  # seeds
    confidence: float = 0.95
    method: str = "t"  # "t" or "bootstrap"

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class Decision:
    """A three-way verdict on "the effect is above (or below) the threshold", with its numbers.

    verdict: "holds" (the whole interval is on the claim's side of the threshold), "does not
    hold" (the whole interval on the other side) or "not settled" (it straddles the threshold).
    settle: a sentence saying what would settle it (empty when settled).
    """

    verdict: str
    effect: float
    low: float
    high: float
    n: int
    threshold: float
    direction: str
    settle: str
    method: str = "t"

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "effect": self.effect, "interval": [self.low, self.high],
                "n": self.n, "threshold": self.threshold, "direction": self.direction,
                "settle": self.settle, "method": self.method}


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or not np.isfinite(array).all():
        raise ValueError("per-seed values must be a flat sequence of finite numbers; decide what "
                         f"a diverged seed counts as before calling (got {values!r})")
    return array


def paired_differences(a: Mapping[int, float], b: Mapping[int, float]) -> list[float]:
    """a[seed] - b[seed] for the seeds in both, in seed order: the per-seed paired effect."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("the two mappings share no seed")
    return [float(a[s]) - float(b[s]) for s in seeds]


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of the per-seed values and its t interval: mean ± t(n-1) · sd / sqrt(n).

    One value gives no spread: the interval is then (-inf, inf).
    """
    x = _finite(values)
    n = len(x)
    if n == 0:
        raise ValueError("no values")
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, -math.inf, math.inf, 1, confidence, "t")
    half = float(_scipy_stats.t.ppf((1 + confidence) / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, confidence, "t")


def bootstrap_interval(values: Sequence[float], confidence: float = 0.95,
                       resamples: int = 4000, seed: int = 0) -> Interval:
    """Mean of the per-seed values and its percentile-bootstrap interval over seeds (seeded)."""
    x = _finite(values)
    n = len(x)
    if n == 0:
        raise ValueError("no values")
    if n == 1:
        return Interval(float(x[0]), -math.inf, math.inf, 1, confidence, "bootstrap")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, n, (resamples, n))].mean(axis=1)  # (resamples,)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(float(x.mean()), float(low), float(high), n, confidence, "bootstrap")


def decide(values: Sequence[float], threshold: float = 0.0, direction: str = "above",
           confidence: float = 0.95, method: str = "t") -> Decision:
    """Is the per-seed effect `above` (or `below`) `threshold`: holds, does not, not settled.

    Holds when the whole interval is on the claim's side, does not hold when it is wholly on
    the other side, and is not settled when the interval contains the threshold. For a
    not-settled verdict `settle` estimates how many seeds would make the interval narrow enough
    (half-width shrinks as 1/sqrt(n)), or says that the effect sits on the threshold.
    """
    if direction not in ("above", "below"):
        raise ValueError(f"direction must be 'above' or 'below' (got {direction!r})")
    interval = {"t": t_interval, "bootstrap": bootstrap_interval}[method](values, confidence)
    if direction == "above":
        holds, fails = interval.low > threshold, interval.high < threshold
    else:
        holds, fails = interval.high < threshold, interval.low > threshold
    verdict = HOLDS if holds else DOES_NOT_HOLD if fails else NOT_SETTLED
    settle = "" if verdict != NOT_SETTLED else _what_would_settle(interval, threshold)
    return Decision(verdict, interval.effect, interval.low, interval.high, interval.n, threshold,
                    direction, settle, method)


def _what_would_settle(interval: Interval, threshold: float) -> str:
    n, margin = interval.n, abs(interval.effect - threshold)
    if n < 2:
        return "One seed gives no interval: run at least 5 seeds."
    if margin <= 1e-12 * max(1.0, abs(threshold)) or not math.isfinite(interval.half_width):
        return ("The effect sits on the threshold: more seeds would only narrow the interval "
                "around it; more steps (or a larger effect) could move it off.")
    needed = math.ceil(n * (interval.half_width / margin) ** 2) + 1  # t shrinks a little too
    return (f"The {interval.confidence:.0%} interval [{interval.low:.3g}, {interval.high:.3g}] "
            f"contains the threshold {threshold:g}: about {needed} seeds (now {n}) would settle "
            f"an effect of this size, or more steps, if the effect grows with training.")
