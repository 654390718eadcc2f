"""The verdict helpers: three outcomes, and intervals that cover the truth as often as claimed."""

import math

import numpy as np
import pytest

from normlab.stats import (
    DOES_NOT_HOLD,
    HOLDS,
    NOT_SETTLED,
    bootstrap_interval,
    decide,
    paired_differences,
    t_interval,
)


def test_t_interval_matches_the_textbook_formula():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]  # mean 3, sd sqrt(2.5), t(4, 0.975) = 2.776445
    interval = t_interval(values)
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert interval.effect == 3.0 and interval.n == 5
    assert interval.low == pytest.approx(3 - half) and interval.high == pytest.approx(3 + half)


def test_clearly_above_the_threshold_holds():
    decision = decide([0.10, 0.12, 0.11, 0.09, 0.13], threshold=0.0)
    assert decision.verdict == HOLDS and decision.low > 0 and decision.settle == ""


def test_clearly_below_the_threshold_does_not_hold():
    decision = decide([-0.10, -0.12, -0.11, -0.09, -0.13], threshold=0.0)
    assert decision.verdict == DOES_NOT_HOLD and decision.high < 0


def test_an_interval_straddling_the_threshold_is_not_settled_and_says_what_would_settle_it():
    decision = decide([0.05, -0.02, 0.04, -0.01, 0.03], threshold=0.0)
    assert decision.verdict == NOT_SETTLED and decision.low < 0 < decision.high
    assert "seeds" in decision.settle and "(now 5)" in decision.settle


def test_below_direction_flips_the_sides():
    within = [0.01, 0.02, 0.015, 0.012, 0.018]  # e.g. "accuracy within 3 points of its best"
    assert decide(within, threshold=0.03, direction="below").verdict == HOLDS
    assert decide(within, threshold=0.005, direction="below").verdict == DOES_NOT_HOLD


def test_one_seed_is_never_settled():
    decision = decide([0.5], threshold=0.0)
    assert decision.verdict == NOT_SETTLED and "at least 5 seeds" in decision.settle


def test_an_effect_on_the_threshold_says_more_seeds_alone_will_not_move_it():
    decision = decide([-0.01, 0.01, -0.02, 0.02, 0.0], threshold=0.0)
    assert decision.verdict == NOT_SETTLED and "sits on the threshold" in decision.settle


def test_the_decision_carries_its_numbers():
    out = decide([1.0, 2.0, 3.0], threshold=0.5).as_dict()
    assert set(out) >= {"verdict", "effect", "interval", "n", "threshold", "settle"}
    assert out["n"] == 3 and out["effect"] == 2.0 and len(out["interval"]) == 2


def test_paired_differences_align_on_the_shared_seeds():
    assert paired_differences({0: 0.9, 1: 0.8, 2: 0.7}, {2: 0.5, 0: 0.6}) == pytest.approx(
        [0.3, 0.2])


def test_a_diverged_seed_must_be_decided_by_the_caller():
    with pytest.raises(ValueError, match="diverged"):
        decide([0.1, math.nan, 0.2])


def _coverage(interval, n: int, trials: int, seed: int = 0) -> float:
    """How often the interval from n normal per-seed effects (truth 0.3, sd 1) covers 0.3."""
    rng = np.random.default_rng(seed)
    samples = rng.normal(0.3, 1.0, (trials, n))
    hits = [interval(sample).low <= 0.3 <= interval(sample).high for sample in samples]
    return float(np.mean(hits))


@pytest.mark.parametrize("n", [3, 5, 10])
def test_t_interval_covers_the_truth_at_about_the_nominal_rate(n):
    coverage = _coverage(t_interval, n, trials=4000)
    assert 0.935 <= coverage <= 0.965, coverage  # 95% nominal; 4000 trials: sd 0.0034


def test_percentile_bootstrap_over_few_seeds_is_too_narrow():
    """Why the t interval is the primary one: at 5 seeds the bootstrap covers well under 95%."""
    coverage = _coverage(lambda s: bootstrap_interval(s, resamples=1000), 5, trials=600)
    assert 0.80 <= coverage <= 0.92, coverage


def test_bootstrap_is_deterministic_for_a_seed():
    values = [0.1, 0.3, 0.2, 0.5, 0.4]
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)
