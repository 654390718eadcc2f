"""The lessons (normlab.lessons): frames, determinism, the claims they test, the verdicts."""

import math

import pandas as pd
import pytest
import torch
from run_helpers import finished_run
from torch import nn

from normlab import train
from normlab.config import TrainConfig
from normlab.engine import evaluate
from normlab.lessons import LESSON_KEYS, concepts, invariances, run_lesson, speed
from normlab.lessons._common import fit
from normlab.lessons.batch_dependence import batch_dependence
from normlab.lessons.batch_size import BATCH_SIZE_COLUMNS, batch_size_sweep
from normlab.lessons.claims import (
    CLAIMS,
    DOES_NOT_HOLD,
    HOLDS,
    NOT_SETTLED,
    check_claim,
    holds_only_when,
    verdict_bn_robust_to_batch_size,
    verdict_bn_speeds_convergence,
    verdict_ln_independent_of_batch_mates,
    verdict_ln_less_stable_than_bn,
    verdict_rms_cheaper_than_layer,
    verdict_rms_invariant_to_rescaling,
)
from normlab.lessons.convergence import (
    CONVERGENCE_COLUMNS,
    convergence_summary,
    convergence_sweep,
    steps_to,
    steps_to_accuracy,
)
from normlab.lessons.depth import DEPTH_LAYER_COLUMNS, DEPTH_SUMMARY_COLUMNS, depth_sweep
from normlab.lessons.invariances import (
    PAPER_TABLE,
    RESCALINGS,
    TRANSFORMATIONS,
    invariance_table,
    paper_table,
)
from normlab.lessons.speed import RATIO_COLUMNS, TIME_COLUMNS, time_norms
from normlab.lessons.train_eval import biased_vs_unbiased, running_stats_trace

TINY = TrainConfig(depth=2, width=16, steps=10, eval_every=5, record_every=5)


def tiny_sweep(**changes) -> pd.DataFrame:
    arguments = dict(norms=("batch", "layer"), batch_sizes=(1, 4, 16), seeds=(0,), base=TINY,
                     examples=64)
    return batch_size_sweep(**{**arguments, **changes})


# --- 1. batch size -------------------------------------------------------------------------


def test_batch_size_sweep_has_one_row_per_run_with_the_documented_columns():
    frame = tiny_sweep()
    assert list(frame.columns) == list(BATCH_SIZE_COLUMNS)
    assert len(frame) == 2 * 3
    finished = frame[frame["status"] == "finished"]
    assert finished["val_accuracy"].between(0, 1).all()
    assert finished["train_mode_val_accuracy"].between(0, 1).all()


def test_batch_size_sweep_matches_the_examples_seen():
    frame = tiny_sweep(norms=("layer",))
    assert frame["steps"].tolist() == [64, 16, 4]
    assert (frame["examples"] == 64).all()


def test_the_sweep_trains_exactly_what_the_engine_trains():
    cfg = TINY.replace(norm="batch", batch_size=8, steps=10)
    trained = fit(cfg)
    _, accuracy = evaluate(trained.model, trained.data.x_val, trained.data.y_val)
    assert accuracy == train(cfg, record=False).final["val_accuracy"]


def test_batch_norm_at_batch_size_1_is_a_refused_row_with_the_reason():
    frame = tiny_sweep()
    refused = frame[(frame["norm"] == "batch") & (frame["batch_size"] == 1)].iloc[0]
    assert refused["status"] == "refused"
    assert "batch size 1" in refused["message"]
    assert math.isnan(refused["val_accuracy"])
    layer = frame[(frame["norm"] == "layer") & (frame["batch_size"] == 1)].iloc[0]
    assert layer["status"] == "finished"


def test_layer_norm_has_no_train_eval_gap():
    frame = tiny_sweep(norms=("layer",), batch_sizes=(4,))
    row = frame.iloc[0]
    # Same network in both modes; only the validation examples dropped to fill batches differ.
    assert abs(row["val_accuracy"] - row["train_mode_val_accuracy"]) < 0.02


def test_same_seed_same_sweep():
    a, b = tiny_sweep(), tiny_sweep()
    pd.testing.assert_frame_equal(a.drop(columns="wall_time"), b.drop(columns="wall_time"))
    c = tiny_sweep(seeds=(1,))
    assert not a["final_train_loss"].equals(c["final_train_loss"])


def test_should_stop_stops_a_sweep_early_and_keeps_what_is_done():
    fractions = []
    frame = tiny_sweep(progress=fractions.append, should_stop=lambda: len(fractions) >= 2)
    assert len(frame) == 2
    assert fractions == [1 / 6, 2 / 6]


def test_progress_reaches_one():
    fractions = []
    tiny_sweep(norms=("layer",), progress=fractions.append)
    assert fractions[-1] == 1.0
    assert fractions == sorted(fractions)


# --- 2. batch dependence -------------------------------------------------------------------


def test_bn_output_depends_on_batch_mates_and_ln_does_not():
    outputs, summary = batch_dependence(trials=10)
    spread = summary.set_index("norm")["max_std"]
    assert spread["batch"] > 0.05
    for norm in ("layer", "rms", "group", "dyt"):
        assert spread[norm] < 1e-6, (norm, spread[norm])
    assert list(outputs.columns) == ["norm", "trial", "unit", "value"]
    assert len(outputs) == 5 * 10 * 16


def test_batch_dependence_is_deterministic_by_seed():
    a, b = batch_dependence(seed=3), batch_dependence(seed=3)
    pd.testing.assert_frame_equal(a.outputs, b.outputs)
    assert not a.outputs.equals(batch_dependence(seed=4).outputs)


# --- 3. train vs eval ----------------------------------------------------------------------


def test_running_var_with_momentum_none_converges_to_the_true_variance():
    trace = running_stats_trace(momentums=(None,), steps=400, true_std=3.0)
    last = trace[trace["step"] == 400].set_index("statistic")
    assert last.loc["var", "running"] == pytest.approx(9.0, rel=0.05)
    assert last.loc["mean", "running"] == pytest.approx(2.0, abs=0.1)


def test_running_mean_follows_a_shift_faster_with_a_larger_momentum():
    trace = running_stats_trace(momentums=(0.01, 0.5), steps=200, shift=5.0)
    end = trace[(trace["step"] == 200) & (trace["statistic"] == "mean")].set_index("momentum")
    assert end.loc["0.5", "true"] == 7.0
    assert abs(end.loc["0.5", "running"] - 7.0) < abs(end.loc["0.01", "running"] - 7.0)


def test_running_stats_trace_starts_from_the_initial_buffers():
    trace = running_stats_trace(momentums=(0.1,), steps=5)
    first = trace[trace["step"] == 0].set_index("statistic")["running"]
    assert first.to_dict() == {"mean": 0.0, "var": 1.0}
    assert len(trace) == 2 * 6


def test_biased_variance_averages_n_minus_1_over_n_and_running_var_the_truth():
    frame = biased_vs_unbiased(batch_sizes=(2, 8), batches=4000)
    ratio = frame.set_index(["batch_size", "estimator"])["ratio"]
    assert ratio[(2, "biased")] == pytest.approx(0.5, abs=0.05)
    assert ratio[(2, "unbiased")] == pytest.approx(1.0, abs=0.08)
    assert ratio[(8, "biased")] == pytest.approx(7 / 8, abs=0.03)


# --- 4. depth ------------------------------------------------------------------------------


def test_depth_sweep_makes_vanishing_and_exploding_visible_at_step_0():
    base = TrainConfig(width=16, steps=2, eval_every=1, record_every=2)
    summary, layers = depth_sweep(norms=("none", "layer"), depths=(6,), gains=(0.5, 2.0),
                                  base=base)
    assert list(summary.columns) == list(DEPTH_SUMMARY_COLUMNS)
    assert list(layers.columns) == list(DEPTH_LAYER_COLUMNS)
    assert len(summary) == 4 and len(layers) == 4 * 6
    std = layers.set_index(["norm", "gain", "layer"])["pre_norm_std"]
    assert std[("none", 0.5, 5)] < 0.1 * std[("none", 0.5, 0)]  # vanishing
    assert std[("none", 2.0, 5)] > 10 * std[("none", 2.0, 0)]  # exploding
    assert std[("layer", 2.0, 5)] < 3 * std[("layer", 2.0, 0)]  # the norm resets the scale
    assert summary["first_layer_grad_norm"].notna().all()


def test_depth_sweep_is_deterministic_and_stoppable():
    base = TrainConfig(width=16, steps=2, eval_every=1, record_every=2)
    arguments = dict(norms=("batch",), depths=(2, 3), gains=(1.0,), base=base)
    a, b = depth_sweep(**arguments), depth_sweep(**arguments)
    pd.testing.assert_frame_equal(a.layers, b.layers)
    stopped = depth_sweep(**arguments, should_stop=lambda: True)
    assert stopped.summary.empty and list(stopped.summary.columns) == list(a.summary.columns)


# --- 5. invariances ------------------------------------------------------------------------


def test_invariance_table_matches_the_papers():
    table = invariance_table()
    assert len(table) == 3 * len(TRANSFORMATIONS)
    assert table["matches_paper"].all(), table[~table["matches_paper"]]
    assert (table.loc[~table["invariant"], "max_change"] > 0.1).all()  # clearly, not barely


def test_invariance_table_is_the_same_with_the_initial_affine_parameters():
    plain, affine = invariance_table(seed=1), invariance_table(seed=1, affine=True)
    assert plain["invariant"].tolist() == affine["invariant"].tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_affine_parameters_keep_every_invariance(seed):
    """y = γ·x̂ + β depends on the input only through x̂: trained γ, β break nothing."""
    table = invariance_table(seed=seed, random_affine=True)
    assert table["matches_paper"].all(), table[~table["matches_paper"]]
    assert (table.loc[~table["invariant"], "max_change"] > 0.1).all()


def test_invariance_table_is_computed_not_typed_in(monkeypatch):
    # Without a norm, nothing is invariant to a rescaling: the table must notice.
    monkeypatch.setattr(invariances, "_plain_norm", lambda norm, features, affine: nn.Identity())
    table = invariance_table()
    assert not table["matches_paper"].all()
    assert not table["invariant"].any()


def test_paper_table_is_ba_et_al_table_1_plus_rmsnorm():
    paper = PAPER_TABLE
    for both in ("weight matrix rescaling", "dataset rescaling"):
        assert paper["batch"][both] and paper["layer"][both]
    for only_bn in ("weight vector rescaling", "dataset re-centring"):
        assert paper["batch"][only_bn] and not paper["layer"][only_bn]
    for only_ln in ("weight matrix re-centring", "single example rescaling"):
        assert paper["layer"][only_ln] and not paper["batch"][only_ln]
    assert all(paper["rms"][t] for t in ("weight matrix rescaling", "dataset rescaling",
                                         "single example rescaling"))
    assert not any(paper["rms"][t] for t in TRANSFORMATIONS if "re-centring" in t)
    assert len(paper_table()) == 18


def test_weight_matrix_re_centring_shifts_every_unit_of_an_example_equally():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(5, 3, dtype=torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    new_weight, _ = invariances._transform("weight matrix re-centring", weight, x, generator,
                                           3.0, 1.0)
    moved = x @ new_weight.T - x @ weight.T  # (N, D_out)
    torch.testing.assert_close(moved, moved[:, :1].expand_as(moved))
    assert moved[:, 0].std() > 0  # but differently for different examples


# --- 6. speed ------------------------------------------------------------------------------


def test_time_norms_returns_a_row_per_case_and_the_rms_over_layer_ratio():
    times, ratios, _ = time_norms(sizes=((8, 16),), repeats=2, warmup=1)
    assert list(times.columns) == list(TIME_COLUMNS)
    assert len(times) == 3 * 3
    assert (times["status"] == "ok").all() and (times["repeats"] == 2).all()
    assert list(ratios.columns) == list(RATIO_COLUMNS)
    assert sorted(ratios["implementation"]) == ["naive", "normlab", "torch"]


def test_a_failing_implementation_is_recorded_as_unavailable(monkeypatch):
    real = speed._speed_layer

    def no_compiler(implementation, norm, features):
        if implementation == "torch.compile":
            raise RuntimeError("no C++ compiler here")
        return real(implementation, norm, features)

    monkeypatch.setattr(speed, "_speed_layer", no_compiler)
    times, ratios, _ = time_norms(sizes=((8, 16),), norms=("layer", "rms"),
                               implementations=("torch", "torch.compile"), repeats=1)
    compiled = times[times["implementation"] == "torch.compile"]
    assert compiled["status"].str.startswith("unavailable: RuntimeError").all()
    assert compiled["median_ms"].isna().all()
    assert ratios["implementation"].tolist() == ["torch"]


def test_time_norms_restores_the_thread_count():
    before = torch.get_num_threads()
    time_norms(sizes=((4, 8),), norms=("rms",), repeats=1, threads=1)
    assert torch.get_num_threads() == before


# --- convergence ---------------------------------------------------------------------------


def test_convergence_sweep_keeps_each_runs_validation_curve():
    curves = convergence_sweep(lrs=(0.05,), base=TINY)
    assert list(curves.columns) == list(CONVERGENCE_COLUMNS)
    assert curves.groupby("norm")["step"].apply(list).to_dict() == {
        "batch": [0, 5, 10], "none": [0, 5, 10]}


def test_steps_to_accuracy_is_inf_when_never_reached():
    curves = pd.DataFrame(dict(norm=["a", "a", "b", "b"], step=[0, 10, 0, 10],
                               val_accuracy=[0.1, 0.95, 0.1, 0.5]))
    reached = steps_to_accuracy(curves, 0.9, ("norm",)).set_index("norm")["steps_to_target"]
    assert reached["a"] == 10 and math.isinf(reached["b"])


# --- 7. verdicts on synthetic outcomes, both ways ------------------------------------------


SEEDS = (0, 1, 2, 3, 4)


def study_outcome(bn: dict[int, list[float]], control: dict[int, list[float]],
                  budgets=("examples",)) -> pd.DataFrame:
    """batch_size_study-like rows: per batch size, one accuracy per seed for BN and for layer
    and RMS norm (both given `control`)."""
    rows = []
    for budget in budgets:
        for norm, accuracies in (("batch", bn), ("layer", control), ("rms", control)):
            for size, per_seed in accuracies.items():
                rows += [dict(budget=budget, norm=norm, batch_size=size, seed=seed,
                              val_accuracy=a, train_mode_val_accuracy=a,
                              status="finished" if math.isfinite(a) else "refused")
                         for seed, a in zip(SEEDS, per_seed)]
    return pd.DataFrame(rows)


FLAT = [0.90, 0.91, 0.92, 0.90, 0.91]


def test_verdict_bn_robust_to_batch_size_both_ways_and_not_settled():
    flat = study_outcome({2: FLAT, 8: FLAT, 32: FLAT}, {2: FLAT, 8: FLAT, 32: FLAT})
    robust = verdict_bn_robust_to_batch_size(flat)
    assert robust.verdict == HOLDS and robust.n == 5 and robust.seeds == SEEDS
    assert "95% interval" in robust.threshold
    collapse = [0.2, 0.15, 0.25, 0.2, 0.18]
    drop = study_outcome({2: collapse, 8: FLAT, 32: FLAT}, {2: FLAT, 8: FLAT, 32: FLAT},
                         budgets=("examples", "steps"))
    assert verdict_bn_robust_to_batch_size(drop).verdict == holds_only_when(
        "the batch size is at least 8")
    everywhere = study_outcome({2: collapse, 8: collapse, 32: FLAT}, {2: FLAT, 8: FLAT, 32: FLAT})
    assert verdict_bn_robust_to_batch_size(everywhere).verdict == DOES_NOT_HOLD
    # the controls fall as far as BN: the budget, not BN, is to blame
    both = study_outcome({2: collapse, 32: FLAT}, {2: collapse, 32: FLAT})
    assert verdict_bn_robust_to_batch_size(both).verdict == HOLDS
    # BN 10 points below at batch 2 on average, with a spread that straddles the tolerance
    straddle = [0.75, 0.88, 0.70, 0.85, 0.87]
    unsure = verdict_bn_robust_to_batch_size(study_outcome({2: straddle, 32: FLAT},
                                                            {2: FLAT, 32: FLAT}))
    assert unsure.verdict == NOT_SETTLED
    low, high = unsure.interval
    assert low < -0.10 < high and "seeds" in unsure.settle
    refused = study_outcome({1: [math.nan] * 5, 8: FLAT, 32: FLAT}, {1: FLAT, 8: FLAT, 32: FLAT})
    assert verdict_bn_robust_to_batch_size(refused).verdict == holds_only_when(
        "the batch size is at least 8")


def test_verdict_ln_independent_of_batch_mates_both_ways():
    independent = pd.DataFrame(dict(norm=["layer", "batch"], max_std=[0.0, 0.5]))
    assert verdict_ln_independent_of_batch_mates(independent).verdict == HOLDS
    dependent = pd.DataFrame(dict(norm=["layer"], max_std=[0.01]))
    assert verdict_ln_independent_of_batch_mates(dependent).verdict == DOES_NOT_HOLD


def invariance_outcome(invariant: dict[str, bool]) -> pd.DataFrame:
    return pd.DataFrame([dict(norm="rms", transformation=t, max_change=0.0 if v else 1.0,
                              invariant=v) for t, v in invariant.items()])


def test_verdict_rms_invariant_to_rescaling_both_ways():
    every = invariance_outcome({t: True for t in RESCALINGS})
    assert verdict_rms_invariant_to_rescaling(every).verdict == HOLDS
    none = invariance_outcome({t: False for t in RESCALINGS})
    assert verdict_rms_invariant_to_rescaling(none).verdict == DOES_NOT_HOLD
    some = invariance_outcome({t: t != "weight vector rescaling" for t in RESCALINGS})
    verdict = verdict_rms_invariant_to_rescaling(some)
    assert verdict.verdict.startswith("holds only when")
    assert "one unit's weight vector" in verdict.explanation or "weight vector" in \
        verdict.explanation


def rounds_outcome(ratios: dict[str, list[float]], size: str = "8x8") -> pd.DataFrame:
    """time_norms' rounds: layer norm 2 ms in every round, RMS norm `ratio` times that."""
    return pd.DataFrame([dict(implementation=i, size=size, round=k, rms_ms=2.0 * r,
                              layer_ms=2.0, ratio=r)
                         for i, per_round in ratios.items() for k, r in enumerate(per_round)])


def test_verdict_rms_cheaper_than_layer_both_ways_and_not_settled():
    cheaper = rounds_outcome({"torch": [0.7, 0.72, 0.69, 0.71], "naive": [0.6, 0.62, 0.58, 0.6]})
    verdict = verdict_rms_cheaper_than_layer(cheaper)
    assert verdict.verdict == HOLDS and verdict.n == 4
    assert 0.6 < verdict.interval[0] < verdict.effect < verdict.interval[1] < 0.95
    dearer = rounds_outcome({"torch": [1.7, 1.8, 1.75], "naive": [1.0, 1.02, 0.99]})
    assert verdict_rms_cheaper_than_layer(dearer).verdict == DOES_NOT_HOLD
    mixed = rounds_outcome({"torch": [1.7, 1.8, 1.75], "naive": [0.6, 0.62, 0.58]})
    assert verdict_rms_cheaper_than_layer(mixed).verdict == holds_only_when(
        "using the naive implementation at 8x8")
    noisy = rounds_outcome({"torch": [0.5, 1.6, 0.7, 1.3]})  # a loaded machine
    assert verdict_rms_cheaper_than_layer(noisy).verdict == NOT_SETTLED


def test_verdict_rms_cheaper_does_not_judge_medians_without_rounds():
    medians = pd.DataFrame(dict(implementation=["torch", "naive"], size=["8x8", "8x8"],
                                ratio=[1.7, 0.6]))
    verdict = verdict_rms_cheaper_than_layer(medians)
    assert verdict.verdict == NOT_SETTLED and verdict.interval is None
    assert "no interval" in verdict.explanation and "rounds" in verdict.settle


def test_paired_ratios_are_the_geometric_mean_with_an_interval_per_implementation_and_size():
    rounds = pd.concat([rounds_outcome({"torch": [1.7, 1.8, 1.75], "naive": [0.5, 0.52, 0.48]}),
                        rounds_outcome({"torch": [0.5, 1.6, 0.7, 1.3]}, size="64x64")])
    paired = speed.paired_ratios(rounds)
    assert list(paired.columns) == list(speed.PAIRED_COLUMNS)
    assert paired[["implementation", "size", "n"]].values.tolist() == [
        ["torch", "8x8", 3], ["naive", "8x8", 3], ["torch", "64x64", 4]]
    assert paired["verdict"].tolist() == ["does not hold", "holds", "not settled"]
    assert paired["ratio"][0] == pytest.approx((1.7 * 1.8 * 1.75) ** (1 / 3))
    assert (paired["low"] < paired["ratio"]).all() and (paired["ratio"] < paired["high"]).all()
    assert paired["low"][2] < 0.95 < paired["high"][2]  # straddles the 5% rule
    assert paired["settle"][0] == ""
    settle = paired["settle"][2]  # in ratios and rounds, as the page shows it
    assert "rounds (now 4)" in settle and "0.95×" in settle
    assert "seeds" not in settle and "steps" not in settle
    assert paired["rms_ms"][1] == pytest.approx(2 * 0.5) and (paired["layer_ms"] == 2).all()


def test_a_saving_smaller_than_the_margin_is_not_cheaper():
    within = speed.paired_ratios(rounds_outcome({"torch": [0.98, 0.99, 0.97, 0.98]}))
    assert within["high"][0] < 1 and within["verdict"][0] == "does not hold"


def test_the_speed_page_and_the_claim_judge_with_the_same_decisions():
    rounds = rounds_outcome({"torch": [1.7, 1.8, 1.75], "naive": [0.6, 0.62, 0.58],
                             "normlab": [0.5, 1.6, 0.7]})
    verdict, paired = verdict_rms_cheaper_than_layer(rounds), speed.paired_ratios(rounds)
    assert [(p.decision.verdict, p.decision.effect, p.decision.low, p.decision.high,
             p.decision.n) for p in verdict.parts] == list(
        zip(paired["verdict"], paired["ratio"], paired["low"], paired["high"], paired["n"]))
    assert verdict.verdict == NOT_SETTLED and verdict.n == 3


def test_the_speed_sentences_follow_the_measurement():
    def native(per_round):
        return speed.native_sentence(speed.paired_ratios(rounds_outcome({"torch": per_round})))

    assert "does show as saved time" in native([0.7, 0.72, 0.69, 0.71])
    assert "RMSNorm was slower" in native([1.7, 1.8, 1.75])
    assert "no saving of 5% or more" in native([0.98, 0.99, 0.97, 0.98])
    assert "disagree too much" in native([0.5, 1.6, 0.7, 1.3])
    assert "0.70× [" in native([0.7, 0.72, 0.69, 0.71]) and "n = 4" in native([0.7] * 3 + [.71])
    assert speed.native_sentence(speed.paired_ratios(rounds_outcome({"naive": [0.5] * 3}))) == ""
    flipped = speed.implementations_sentence(speed.paired_ratios(rounds_outcome(
        {"torch": [1.7, 1.8, 1.75], "naive": [0.6, 0.62, 0.58]})))
    assert "flips" in flipped and "cheaper in naive but not in torch" in flipped
    agree = speed.implementations_sentence(speed.paired_ratios(rounds_outcome(
        {"torch": [0.6, 0.61, 0.59], "naive": [0.6, 0.62, 0.58]})))
    assert "flips" not in agree and "No size where" in agree
    unsettled = speed.implementations_sentence(speed.paired_ratios(rounds_outcome(
        {"torch": [0.5, 1.6, 0.7], "naive": [0.6, 0.62, 0.58]})))
    assert "flips" not in unsettled and "Not settled: torch at 8x8" in unsettled


def depth_outcome(losses: dict[tuple[str, int, float], list[float]]) -> pd.DataFrame:
    return pd.DataFrame([dict(norm=n, depth=d, lr=lr, seed=seed, final_train_loss=loss,
                              status="finished")
                         for (n, d, lr), per_seed in losses.items()
                         for seed, loss in zip(SEEDS, per_seed)])


def test_verdict_ln_less_stable_than_bn_uses_each_norms_best_lr():
    good, bad = [0.5, 0.55, 0.45, 0.5, 0.52], [1.5, 1.4, 1.6, 1.5, 1.45]
    worse = depth_outcome({("batch", 16, 0.1): good, ("batch", 16, 0.01): bad,
                           ("layer", 16, 0.1): bad, ("layer", 16, 0.01): bad})
    verdict = verdict_ln_less_stable_than_bn(worse)
    assert verdict.verdict == HOLDS and verdict.interval[0] > 0
    assert "0.01, 0.1" in verdict.explanation and "ConvNets" in verdict.explanation
    # at lr 0.1 layer norm looks worse, but at its own best lr (0.01) it is as good
    fair = depth_outcome({("batch", 16, 0.1): good, ("batch", 16, 0.01): bad,
                          ("layer", 16, 0.1): bad, ("layer", 16, 0.01): [x - 0.1 for x in good]})
    assert verdict_ln_less_stable_than_bn(fair).verdict == DOES_NOT_HOLD
    mixed = depth_outcome({("batch", 16, 0.1): good, ("layer", 16, 0.1): bad,
                           ("batch", 32, 0.1): bad, ("layer", 32, 0.1): good})
    assert verdict_ln_less_stable_than_bn(mixed).verdict == holds_only_when("the depth is 16")
    straddle = depth_outcome({("batch", 16, 0.1): good,
                              ("layer", 16, 0.1): [0.9, 0.2, 0.8, 0.3, 0.7]})
    assert verdict_ln_less_stable_than_bn(straddle).verdict == NOT_SETTLED


def curves_outcome(first_reached: dict[tuple[str, float], list[int | None]]) -> pd.DataFrame:
    """Validation curves evaluated every 10 steps: 0.5, then 0.95 from the step given."""
    rows = []
    for (norm, lr), per_seed in first_reached.items():
        for seed, reached in zip(SEEDS, per_seed):
            for step in range(0, 110, 10):
                accuracy = 0.95 if reached is not None and step >= reached else 0.5
                rows.append(dict(norm=norm, lr=lr, seed=seed, step=step, val_accuracy=accuracy))
    return pd.DataFrame(rows)


def test_verdict_bn_speeds_convergence_both_ways_and_not_settled():
    faster = curves_outcome({("batch", 0.1): [10, 20, 10, 20, 10],
                             ("none", 0.1): [40, 50, 40, 60, 50]})
    verdict = verdict_bn_speeds_convergence(faster)
    assert verdict.verdict == HOLDS and verdict.n == 5 and verdict.interval[0] > 0
    slower = curves_outcome({("batch", 0.1): [40, 50, 40, 60, 50],
                             ("none", 0.1): [10, 20, 10, 20, 10]})
    assert verdict_bn_speeds_convergence(slower).verdict == DOES_NOT_HOLD
    mixed = curves_outcome({("batch", 0.1): [40, 50, 40, 60, 50],
                            ("none", 0.1): [10, 20, 10, 20, 10],
                            ("batch", 1.0): [10] * 5, ("none", 1.0): [None] * 5})
    assert verdict_bn_speeds_convergence(mixed).verdict == holds_only_when(
        "the learning rate is 1")
    tied = curves_outcome({("batch", 0.1): [10, 40, 20, 50, 30],
                           ("none", 0.1): [30, 20, 40, 30, 20]})
    assert verdict_bn_speeds_convergence(tied).verdict == NOT_SETTLED
    nowhere = curves_outcome({("batch", 0.01): [None] * 5, ("none", 0.01): [None] * 5,
                              ("batch", 0.1): [10] * 5, ("none", 0.1): [None] * 5})
    verdict = verdict_bn_speeds_convergence(nowhere)
    assert verdict.verdict == HOLDS and "no evidence either way" in verdict.explanation


def test_steps_to_accuracy_interpolates_between_evaluations():
    curves = pd.DataFrame(dict(norm=["a"] * 3 + ["b"] * 3, step=[0, 10, 20] * 2,
                               val_accuracy=[0.1, 0.5, 1.0, 0.1, 0.8, 1.0]))
    reached = steps_to_accuracy(curves, 0.9, ("norm",), interpolate=True)
    assert reached["steps_to_target"].tolist() == pytest.approx([18.0, 15.0])
    assert steps_to_accuracy(curves, 0.9, ("norm",))["steps_to_target"].tolist() == [20, 20]


def test_the_summary_names_the_fastest_norm_and_the_stuck_one():
    cfg = TrainConfig(steps=40)
    runs = {"none": finished_run(cfg, [2.3, 2.3, 2.3, 2.2]),
            "batch": finished_run(cfg, [2.3, 0.5, 0.3, 0.2]),
            "layer": finished_run(cfg, [2.3, 1.5, 0.6, 0.4]),
            "rms": finished_run(cfg, [2.3, float("nan")], status="diverged")}
    runs["rms"].diverged_at = 12
    summary = convergence_summary(runs)
    assert "validation loss of 0.40 nats; BatchNorm got there first, at step 20, then " \
           "LayerNorm (30)" in summary
    assert "No norm never halved its starting validation loss in 40 steps" in summary
    assert "RMSNorm diverged at step 12" in summary


def test_steps_to_is_the_first_evaluation_at_or_below_the_target():
    metrics = finished_run(TrainConfig(), [2.3, 1.0, 0.5]).metrics
    assert steps_to(metrics, 1.0) == 10
    assert steps_to(metrics, 0.1) is None


# --- concepts: the worked example ----------------------------------------------------------


def test_the_worked_example_normalises_columns_for_batch_norm_and_rows_for_layer_norm():
    outputs = concepts.worked_example(concepts.example_batch(0), gain=1.0, shift=0.0,
                                      batches_seen=10)
    assert list(outputs) == ["BatchNorm (train)", "BatchNorm (eval)", "LayerNorm", "RMSNorm"]
    assert outputs["BatchNorm (train)"].mean(axis=0).abs().max() < 1e-5
    assert outputs["LayerNorm"].mean(axis=1).abs().max() < 1e-5
    table = concepts.with_margins(outputs["RMSNorm"])
    assert (table["row rms"].dropna() - 1).abs().max() < 1e-3
    assert {"column mean", "column std"} <= set(table.index)


@pytest.mark.parametrize("rows, columns", [(0, 3), (1, 3), (4, 0)])
def test_a_batch_too_small_to_normalise_is_a_clear_error(rows, columns):
    batch = concepts.example_batch(0).iloc[:rows, :columns]
    with pytest.raises(concepts.BatchTooSmallError, match="at least 2 examples"):
        concepts.worked_example(batch, gain=1.0, shift=0.0, batches_seen=1)
    assert issubclass(concepts.BatchTooSmallError, ValueError)


def test_the_concepts_lesson_runs_by_its_key_and_an_unknown_key_is_refused():
    frames = run_lesson("concepts")
    assert list(frames) == ["batch", "batchnorm_train", "batchnorm_eval", "layernorm", "rmsnorm"]
    assert all(len(frame) == 4 for frame in frames.values())
    with pytest.raises(ValueError, match="unknown lesson"):
        run_lesson("Batch size")


# --- the claim checker (the presets: tests/test_presets.py) --------------------------------


def test_every_claim_names_its_experiment_verdict_and_lesson():
    assert len({claim.id for claim in CLAIMS}) == len(CLAIMS) == 9
    for claim in CLAIMS:
        assert claim.text and claim.lesson in LESSON_KEYS
        assert callable(claim.experiment) and callable(claim.verdict)


def test_check_claim_runs_the_experiment_and_judges_it():
    verdict = check_claim("ln_independent_of_batch_mates", trials=5)
    assert verdict.verdict == HOLDS
    assert set(verdict.outcome_frame["norm"]) == {"layer", "batch"}
    rescaling = check_claim("rms_invariant_to_rescaling")
    assert rescaling.verdict.startswith("holds only when")


def test_check_claim_passes_progress_and_stop_to_sweeps():
    fractions = []
    verdict = check_claim("bn_robust_to_batch_size", base=TINY, examples=32, seeds=(0, 1),
                          progress=fractions.append, should_stop=lambda: len(fractions) >= 1)
    assert len(verdict.outcome_frame) == 2  # one (budget, norm, batch size), both seeds
    with pytest.raises(ValueError, match="unknown claim"):
        check_claim("norms are magic")
