"""What a verdict is: the three outcomes in words, one decision per condition (Part), and a
Verdict that combines them with the numbers behind it. The claims themselves are in claims.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from normlab import stats

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold here"
NOT_SETTLED = "not settled at this budget"
T_INTERVAL = "95% t interval over seeds"
EXACT = "exact computation: no seeds, no interval"


def holds_only_when(condition: str) -> str:
    return f"holds only when {condition}"


@dataclass(frozen=True)
class Part:
    """One decision inside a verdict: the claim under one condition (a batch size, an lr)."""

    condition: str  # "batch size 2, same examples seen"
    decision: stats.Decision

    def as_dict(self) -> dict:
        return {"condition": self.condition, **_json_numbers(self.decision.as_dict())}


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict with the numbers behind it.

    verdict: "holds", "holds only when ...", "does not hold here" or "not settled at this
    budget". effect, interval, n: the headline decision's per-seed mean effect, its 95%
    interval and the number of seeds (or paired repeats) it came from: the first part that is
    not settled, else the part closest to its threshold; None for an exact computation.
    threshold: the rule in words. method: how the interval is computed. settle: what would
    settle a "not settled" verdict. parts: every decision the verdict combines.
    """

    outcome_frame: pd.DataFrame
    verdict: str
    explanation: str
    effect: float | None = None
    interval: tuple[float, float] | None = None
    n: int | None = None
    seeds: tuple[int, ...] = ()
    threshold: str = ""
    method: str = EXACT
    settle: str = ""
    parts: tuple[Part, ...] = ()
    effect_unit: str = ""

    @property
    def settled(self) -> bool:
        return self.verdict != NOT_SETTLED

    def as_dict(self) -> dict:
        """What `normlab claims --json` prints (NaN and infinities as null)."""
        return _json_numbers({
            "verdict": self.verdict, "seeds": list(self.seeds), "n": self.n,
            "effect": self.effect, "interval": list(self.interval) if self.interval else None,
            "effect_unit": self.effect_unit, "threshold": self.threshold,
            "method": self.method, "settle": self.settle, "explanation": self.explanation,
            "parts": [part.as_dict() for part in self.parts]})


def _json_numbers(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_numbers(v) for v in value]
    return value


def _headline(parts: Sequence[Part]) -> Part:
    """The part the card leads with: the first not settled, else the closest call."""
    for part in parts:
        if part.decision.verdict == stats.NOT_SETTLED:
            return part

    def closeness(part: Part) -> float:
        d = part.decision
        half = (d.high - d.low) / 2
        return abs(d.effect - d.threshold) / half if half > 0 else math.inf

    return min(parts, key=closeness)


def combine(frame: pd.DataFrame, parts: Sequence[Part], only_when: Callable[[list[Part]], str],
            explanation: str, seeds: Sequence[int], threshold: str, unit: str = "",
            method: str = T_INTERVAL) -> Verdict:
    """One verdict from per-condition decisions: holds if every part holds, does not hold if
    none does, not settled if any part is not settled, else "holds only when" the parts that
    hold (`only_when` words their conditions)."""
    parts = tuple(parts)
    if not parts:
        return Verdict(frame, NOT_SETTLED, explanation or "Nothing to judge: no part finished.",
                       seeds=tuple(seeds), threshold=threshold, method=method,
                       settle="Run the experiment with its defaults.")
    outcomes = [part.decision.verdict for part in parts]
    if stats.NOT_SETTLED in outcomes:
        verdict = NOT_SETTLED
    elif all(o == stats.HOLDS for o in outcomes):
        verdict = HOLDS
    elif all(o == stats.DOES_NOT_HOLD for o in outcomes):
        verdict = DOES_NOT_HOLD
    else:
        verdict = holds_only_when(only_when([p for p in parts
                                             if p.decision.verdict == stats.HOLDS]))
    head = _headline(parts)
    settle = ""
    if verdict == NOT_SETTLED:
        settle = f"At {head.condition}: {head.decision.settle}"
    return Verdict(frame, verdict, explanation, effect=head.decision.effect,
                   interval=(head.decision.low, head.decision.high), n=head.decision.n,
                   seeds=tuple(seeds), threshold=threshold, method=method, settle=settle,
                   parts=parts, effect_unit=unit)


def interval_text(d: stats.Decision, scale: float = 1.0, unit: str = "") -> str:
    return (f"{d.effect * scale:+.3g}{unit} [{d.low * scale:+.3g}, {d.high * scale:+.3g}] "
            f"({d.verdict})")
