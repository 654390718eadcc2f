"""The claims the "Beyond the three" lessons test, in the claim checker: each verdict is the
page's own decision (same function, same defaults), comes out every way, shows on the checker
page and in `normlab claims --json`. Small budgets or made-up frames."""

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from apptest_helpers import figures, texts
from streamlit.testing.v1 import AppTest

import appkit
from normlab.cli import main
from normlab.lessons import claims, lr_window, why_bn
from normlab.lessons.claims import DOES_NOT_HOLD, HOLDS, NOT_SETTLED, check_claim

APP = str(Path(__file__).resolve().parents[1] / "app.py")
BEYOND = ("norm_allows_larger_lr", "bn_helps_despite_noise", "bn_smoother_loss")
WHY_TINY = why_bn.WHY_BN_QUICK.replace(depth=3, width=16, steps=30, eval_every=10)
# A deep sigmoid MLP: no norm stays near guessing in 30 steps, noisy batch norm learns
WHY_DEEP = why_bn.WHY_BN_QUICK.replace(depth=8, width=16, steps=30, eval_every=30,
                                       activation="sigmoid")
LR_TINY = lr_window.LR_QUICK.replace(width=16, steps=40, eval_every=20)
LIGHT = {  # seconds, not the defaults' minute
    "norm_allows_larger_lr": dict(norms=("none", "batch"), lrs=(0.1, 10.0), base=LR_TINY),
    "bn_helps_despite_noise": dict(conditions=("none", "noisy_batch"), base=WHY_TINY),
    "bn_smoother_loss": dict(base=WHY_TINY),
}


def lr_runs(largest: dict[str, list[float]], lrs=(0.01, 0.1, 1.0, 10.0)) -> pd.DataFrame:
    """lr_sweep-like rows: each seed trained at every grid rate up to largest[norm][seed]."""
    return pd.DataFrame([dict(norm=norm, lr=lr, seed=seed, status="finished",
                              final_val_loss=0.2 if lr <= top else 2.0, trained=lr <= top)
                         for norm, tops in largest.items() for seed, top in enumerate(tops)
                         for lr in lrs])


def test_larger_lr_holds_when_every_norm_trains_further_than_no_norm():
    verdict = claims.verdict_norm_allows_larger_lr(lr_runs(
        {"none": [0.1, 0.01, 0.1], "batch": [10.0, 1.0, 10.0], "layer": [1.0, 0.1, 1.0]}))
    assert verdict.verdict == HOLDS and verdict.n == 3 and verdict.seeds == (0, 1, 2)
    assert [p.condition for p in verdict.parts] == ["batch norm", "layer norm"]
    assert verdict.interval[0] > 0 and "batch norm ×" in verdict.explanation


def test_larger_lr_holds_only_for_the_norm_that_trains_further():
    verdict = claims.verdict_norm_allows_larger_lr(lr_runs(
        {"none": [1.0, 1.0, 1.0], "batch": [10.0, 10.0, 10.0], "rms": [0.01, 0.1, 0.01]}))
    assert [p.decision.verdict for p in verdict.parts] == ["holds", "does not hold"]
    assert verdict.verdict == "holds only when the norm is batch norm"


def test_larger_lr_does_not_hold_or_is_not_settled_when_the_seeds_say_so():
    lower = lr_runs({"none": [1.0, 10.0, 1.0], "batch": [0.1, 1.0, 0.1]})
    assert claims.verdict_norm_allows_larger_lr(lower).verdict == DOES_NOT_HOLD
    mixed = claims.verdict_norm_allows_larger_lr(lr_runs({"none": [0.1, 1.0, 0.1],
                                                          "batch": [1.0, 0.1, 0.1]}))
    assert mixed.verdict == NOT_SETTLED and "seeds" in mixed.settle
    no_baseline = claims.verdict_norm_allows_larger_lr(lr_runs({"batch": [1.0, 1.0]}))
    assert no_baseline.verdict == NOT_SETTLED and "none" in no_baseline.settle


def test_a_stopped_lr_sweep_judges_only_the_norms_whose_grid_finished():
    runs = lr_runs({"none": [0.1, 0.01, 0.1], "batch": [10.0, 1.0, 10.0], "rms": [1.0] * 3})
    stopped = runs[~((runs["norm"] == "rms") & (runs["lr"] > 0.1))]  # rms stopped at 0.1
    verdict = claims.verdict_norm_allows_larger_lr(stopped)
    assert [p.condition for p in verdict.parts] == ["batch norm"] and verdict.verdict == HOLDS
    assert "Not judged, its sweep did not finish: RMS norm" in verdict.explanation


def test_the_lr_claim_is_the_pages_sweep_and_verdict():
    claim = claims.CLAIMS_BY_ID["norm_allows_larger_lr"]
    assert claim.experiment is lr_window.lr_sweep and claim.defaults == {}
    assert claim.lesson == "lr_window"
    verdict = check_claim(claim.id, seeds=(0, 1), **LIGHT[claim.id])
    (part,) = verdict.parts
    assert part.decision == lr_window.verdict_larger_lr(verdict.outcome_frame, "batch")
    assert verdict.seeds == (0, 1) and verdict.n == 2


def why_runs(noisy: list[float], none: list[float]) -> pd.DataFrame:
    return pd.DataFrame([dict(condition=c, seed=s, status="finished", final_val_accuracy=a)
                         for c, values in (("noisy_batch", noisy), ("none", none))
                         for s, a in enumerate(values)])


def test_bn_helps_despite_noise_holds_on_a_deep_sigmoid_network():
    verdict = check_claim("bn_helps_despite_noise", seeds=(0, 1, 2), base=WHY_DEEP,
                          conditions=("none", "noisy_batch"))
    assert verdict.verdict == HOLDS, verdict.explanation
    assert verdict.parts[0].decision == why_bn.verdict_noise_keeps_the_gain(
        verdict.outcome_frame)
    assert verdict.n == 3 and verdict.interval[0] > 0


def test_bn_helps_despite_noise_does_not_hold_or_is_not_settled_on_made_up_runs():
    worse = claims.verdict_bn_helps_despite_noise(why_runs([0.6, 0.62, 0.61], [0.8, 0.82, 0.79]))
    assert worse.verdict == DOES_NOT_HOLD
    straddling = claims.verdict_bn_helps_despite_noise(why_runs([0.8, 0.7, 0.9],
                                                                [0.8, 0.82, 0.79]))
    assert straddling.verdict == NOT_SETTLED and straddling.settle
    missing = claims.verdict_bn_helps_despite_noise(why_runs([], [0.8, 0.8]))
    assert missing.verdict == NOT_SETTLED


def probes(beta: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([dict(condition=c, seed=s, step=0, multiplier=1.0, distance=1.0,
                              loss_change=0.1, grad_change=b, grad_norm=1.0)
                         for c, values in beta.items() for s, b in enumerate(values)])


def test_bn_smoother_loss_comes_out_both_ways():
    smoother = claims.verdict_bn_smoother_loss(probes({"batch": [1.0, 1.2, 0.9],
                                                       "none": [10.0, 9.0, 12.0]}))
    assert smoother.verdict == HOLDS and smoother.effect == pytest.approx(-1, abs=0.1)
    rougher = claims.verdict_bn_smoother_loss(probes({"batch": [10.0, 9.0, 12.0],
                                                      "none": [1.0, 1.2, 0.9]}))
    assert rougher.verdict == DOES_NOT_HOLD
    diverged = claims.verdict_bn_smoother_loss(probes({"batch": [math.inf, 1.0],
                                                       "none": [1.0, 1.0]}))
    assert diverged.verdict == NOT_SETTLED and "finite" in diverged.explanation


def test_leaving_noisy_bn_out_changes_no_number_of_the_smoothness_claim():
    page = why_bn.why_bn(seeds=(0, 1), base=WHY_TINY)  # all three conditions, as on the page
    verdict = check_claim("bn_smoother_loss", seeds=(0, 1), base=WHY_TINY)
    assert verdict.parts[0].decision == why_bn.verdict_bn_smoother(page.probes)
    shown = page.probes[page.probes["condition"] != "noisy_batch"].reset_index(drop=True)
    pd.testing.assert_frame_equal(verdict.outcome_frame.reset_index(drop=True), shown)


@pytest.fixture
def light_beyond(monkeypatch):
    for claim_id, small in LIGHT.items():
        claim = claims.CLAIMS_BY_ID[claim_id]
        monkeypatch.setitem(claims.CLAIMS_BY_ID, claim_id,
                            dataclasses.replace(claim, defaults={**claim.defaults, **small}))
    yield
    appkit._experiment.clear()  # the light outcomes must not answer for the real claims


def test_claims_json_lists_the_beyond_claims_with_their_numbers(light_beyond, capsys):
    assert main(["claims", *BEYOND, "--seeds", "0,1", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["claim"] for line in lines] == list(BEYOND)
    for line in lines:
        assert line["seeds"] == [0, 1] and line["verdict"] and line["threshold"]
        assert line["n"] == 2 and len(line["interval"]) == 2 and "effect" in line
    assert set(BEYOND) <= set(claims.CLAIMS_BY_ID)


def test_lesson_why_bn_json_prints_both_of_its_verdicts(light_beyond, capsys):
    assert main(["lesson", "why_bn", "--seeds", "0,1", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["claim"] for line in lines] == ["bn_helps_despite_noise", "bn_smoother_loss"]
    assert {line["lesson"] for line in lines} == {"why_bn"}


def test_the_checker_page_shows_each_beyond_claim_with_its_verdict_and_chart(light_beyond):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/claims.py").run()
    headers = texts(at.subheader)
    for claim_id in BEYOND:
        assert claims.CLAIMS_BY_ID[claim_id].text in headers
        at.button(key=f"claim_run_{claim_id}").click().run()
        assert not at.exception, at.exception
    shown = texts(at.success) + texts(at.warning) + texts(at.error)
    assert shown.count("Verdict: ") == 3
    assert "Largest learning rate that trained" in shown and "Effective beta" in shown
    charts = figures(at)
    assert "Final validation loss by learning rate (× = no seed finished)" in charts
    assert "Final validation accuracy, with 95% intervals over seeds" in charts
    assert "Effective β-smoothness (gradient change per unit moved)" in charts
    links = " ".join(link.proto.page for link in at.get("page_link"))
    assert "lr_window" in links and "why_bn" in links
