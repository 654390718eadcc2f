"""Verdicts a student can trust: from seeds with intervals, stable across disjoint seed sets,
on the command line as JSON, and sentences that agree with the numbers they describe."""

import dataclasses
import json
import math
import re

import pytest

from normlab.cli import main
from normlab.lessons import claims
from normlab.lessons._common import QUICK
from normlab.lessons.batch_size import BATCH_SIZE_STUDY_COLUMNS, batch_size_study
from normlab.lessons.claims import CLAIMS, NOT_SETTLED, check_claim, takes_seeds
from normlab.lessons.depth import DEPTH_CLAIM, depth_sweep, final_loss_sentence
from normlab.plots import lessons as lp
from normlab.plots import norm_label

TINY = QUICK.replace(depth=2, width=16)

# Each trained claim at a small budget where its effect is clear (a few seconds in all). The
# timing claim is left out: it has no seeds, and short timings on a shared CI machine are
# noise; benchmarks/verdict_stability.py runs it at the defaults.
LIGHT = {
    "bn_robust_to_batch_size": dict(batch_sizes=(2, 32), examples=512, steps=64,
                                    norms=("batch", "layer", "rms")),
    "bn_speeds_convergence": dict(lrs=(0.5,), base=QUICK.replace(steps=60, eval_every=3)),
    "ln_less_stable_than_bn_deep": dict(depths=(16,), lrs=(0.01, 0.1),
                                        base=DEPTH_CLAIM.replace(steps=60)),
}


@pytest.mark.parametrize("claim_id", sorted(LIGHT))
def test_a_verdict_is_the_same_on_seeds_0_to_4_and_5_to_9(claim_id):
    first = check_claim(claim_id, seeds=range(5), **LIGHT[claim_id])
    second = check_claim(claim_id, seeds=range(5, 10), **LIGHT[claim_id])
    assert first.verdict == second.verdict != NOT_SETTLED
    assert first.seeds == (0, 1, 2, 3, 4) and second.seeds == (5, 6, 7, 8, 9)
    assert first.n == 5 and first.interval[0] <= first.effect <= first.interval[1]


def test_every_trained_claim_uses_five_seeds_by_default_and_exact_ones_say_so():
    exact = {"ln_independent_of_batch_mates", "rms_invariant_to_rescaling"}
    timed = {"rms_cheaper_than_layer"}  # paired rounds, not seeds
    beyond = {"norm_allows_larger_lr", "bn_helps_despite_noise", "bn_smoother_loss"}  # their
    # small budgets are in tests/test_beyond_claims.py
    for claim in CLAIMS:
        assert takes_seeds(claim.id) == (claim.id in set(LIGHT) | beyond)
        if claim.id in exact:
            verdict = check_claim(claim.id)
            assert verdict.interval is None and verdict.seeds == ()
            assert "exact computation" in verdict.method
            assert "no seed noise" in verdict.threshold
    assert set(LIGHT) | exact | timed | beyond == {claim.id for claim in CLAIMS}
    assert claims.DEFAULT_SEEDS == (0, 1, 2, 3, 4)


def test_the_batch_size_study_runs_both_budgets_for_every_seed():
    frame = batch_size_study(norms=("batch", "layer"), batch_sizes=(1, 4), seeds=(0, 1),
                             base=TINY, examples=32, steps=5)
    assert list(frame.columns) == list(BATCH_SIZE_STUDY_COLUMNS)
    assert len(frame) == 2 * 2 * 2 * 2
    examples = frame[frame["budget"] == "examples"].set_index(["norm", "batch_size", "seed"])
    assert examples.loc[("layer", 4, 0), "steps"] == 8
    assert (frame[frame["budget"] == "steps"]["steps"] == 5).all()
    assert set(frame.loc[(frame["norm"] == "batch") & (frame["batch_size"] == 1),
                         "status"]) == {"refused"}


def one_json_line_per_claim(capsys) -> list[dict]:
    out = capsys.readouterr().out.strip().splitlines()
    return [json.loads(line) for line in out]


def test_claims_json_prints_one_line_per_claim(capsys):
    assert main(["claims", "ln_independent_of_batch_mates", "rms_invariant_to_rescaling",
                 "--seeds", "0,1,2", "--json"]) == 0
    lines = one_json_line_per_claim(capsys)
    assert [line["claim"] for line in lines] == ["ln_independent_of_batch_mates",
                                                 "rms_invariant_to_rescaling"]
    for line in lines:
        assert {"claim", "verdict", "seeds", "effect", "interval", "n", "threshold"} <= set(line)
        assert line["seeds"] == [] and line["interval"] is None  # exact: seeds do not apply


@pytest.fixture
def light_claims(monkeypatch):
    """The claims' defaults shrunk to LIGHT, so the CLI can be run on trained claims."""
    for claim_id, small in LIGHT.items():
        claim = claims.CLAIMS_BY_ID[claim_id]
        monkeypatch.setitem(claims.CLAIMS_BY_ID, claim_id,
                            dataclasses.replace(claim, defaults={**claim.defaults, **small}))


def test_claims_json_carries_the_seeds_the_effect_and_its_interval(light_claims, capsys):
    assert main(["claims", "bn_speeds_convergence", "--seeds", "3,4,5", "--json"]) == 0
    (line,) = one_json_line_per_claim(capsys)
    assert line["verdict"] == "holds" and line["seeds"] == [3, 4, 5] and line["n"] == 3
    low, high = line["interval"]
    assert low <= line["effect"] <= high
    assert line["parts"][0]["condition"] == "learning rate 0.5"


def test_lesson_json_prints_its_claims_verdict(light_claims, capsys):
    assert main(["lesson", "depth", "--seeds", "0-4", "--json"]) == 0
    (line,) = one_json_line_per_claim(capsys)
    assert line["lesson"] == "depth" and line["claim"] == "ln_less_stable_than_bn_deep"
    assert line["seeds"] == [0, 1, 2, 3, 4]


def test_lesson_json_without_a_verdict_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["lesson", "train_eval", "--json"])
    assert "has no verdict" in capsys.readouterr().err


def test_bad_seeds_are_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["claims", "--seeds", "1,1"])
    assert "distinct" in capsys.readouterr().err


# --- sentences that state an outcome agree with the numbers of their figure -------------------


def test_the_depth_caption_agrees_with_its_chart():
    summary = depth_sweep(depths=(2, 8), gains=(0.5, 1.0), base=TINY.replace(steps=20)).summary
    sentence = final_loss_sentence(summary, 20)
    figure = lp.depth_final_loss(summary)
    for gain, part in zip((0.5, 1.0), sentence.split("; gain ")):
        named = re.findall(r"([A-Za-z]+(?: norm)?) (\d+\.\d\d)", part)
        assert named, part
        losses = [float(loss) for _, loss in named]
        assert losses == sorted(losses)  # "lowest first"
        panel = "" if gain == 0.5 else "2"
        chart = {trace.name: trace.y[list(trace.x).index(8)] for trace in figure.data
                 if trace.xaxis == f"x{panel}" and 8 in list(trace.x)
                 and not trace.name.startswith("diverged")}
        for label, loss in named:
            assert float(chart[label]) == pytest.approx(float(loss), abs=0.005), (label, part)
    assert "At depth 8" in sentence


def test_the_depth_caption_names_the_lowest_line_even_without_a_norm():
    summary = depth_sweep(norms=("none", "batch"), depths=(4,), gains=(1.0,),
                          base=TINY.replace(steps=20)).summary
    losses = summary.set_index("norm")["final_train_loss"]
    lowest = norm_label(losses.idxmin())
    assert final_loss_sentence(summary, 20).split("— gain 1: ")[1].startswith(lowest)


def test_each_claims_explanation_quotes_its_own_intervals(light_claims):
    verdict = check_claim("ln_less_stable_than_bn_deep", seeds=range(3))
    for part in verdict.parts:
        d = part.decision
        assert f"{d.effect:+.3g} nats [{d.low:+.3g}, {d.high:+.3g}] ({d.verdict})" in \
            verdict.explanation
    assert verdict.effect in [p.decision.effect for p in verdict.parts]
    assert not math.isnan(verdict.effect)
