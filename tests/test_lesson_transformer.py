"""The transformer lesson's experiments at small budgets, and its sentences against its numbers."""

import math

import pandas as pd
import pytest
import torch

from normlab.lessons import LESSON_KEYS, run_lesson
from normlab.lessons import transformer as lesson
from normlab.lessons._common import fit

SMALL = lesson.TRANSFORMER_QUICK.replace(depth=2, width=32, steps=30)


@pytest.fixture(scope="module")
def warmup():
    return lesson.warmup_sweep(warmups=(0, 10), seeds=(0, 1), base=SMALL, samples=2)


@pytest.fixture(scope="module")
def race():
    return lesson.norm_race(norms=("layer", "dyt"), seeds=(0, 1), base=SMALL)


def test_post_ln_gets_larger_gradients_near_the_output_at_init():
    grads = lesson.gradients_at_init()
    out = grads[grads["matrix"] == lesson.MATRICES["linear"]]
    last = out[out["layer"] == out["layer"].max()].set_index("position")["grad_norm"]
    first = out[out["layer"] == 0].set_index("position")["grad_norm"]
    assert last["after"] > last["before"]  # Xiong et al.: post-LN's are the large ones
    assert last["after"] / first["after"] > last["before"] / first["before"]
    assert len(grads) == 2 * 6 * len(lesson.MATRICES)


def test_warmup_sweep_scores_every_setting_and_seed(warmup):
    runs, curves, spread, samples = warmup
    assert len(runs) == 2 * 2 * 2 and set(runs["status"]) == {"finished"}
    assert runs["steps_run"].eq(30).all()
    assert runs[["val_accuracy", "sequence_accuracy"]].stack().between(0, 1).all()
    assert (runs["sequence_accuracy"] <= runs["val_accuracy"]).all()  # every digit vs one
    assert set(curves["step"]) == {10, 20, 30}
    loss = spread[spread["metric"] == "val_loss"]
    assert len(loss) == 4 and loss["n"].eq(2).all() and (loss["low"] <= loss["mean"]).all()
    assert len(samples) == 4 * 2 and set(samples.columns) >= {"prompt", "expected", "answer"}


def test_every_setting_is_reported_after_its_first_seed_and_the_last_report_is_the_result():
    reports = []
    result = lesson.warmup_sweep(warmups=(0, 10), seeds=(0, 1), base=SMALL.replace(steps=10),
                                 samples=1, progress=lambda f, partial: reports.append(
                                     (f, partial)))
    assert [f for f, _ in reports] == pytest.approx([i / 8 for i in range(1, 9)])
    first_seed = reports[3][1]  # four runs: each setting once, so a page can draw them all
    assert first_seed.runs["seed"].tolist() == [0, 0, 0, 0]
    assert len(first_seed.intervals[first_seed.intervals["metric"] == "val_loss"]) == 4
    last = reports[-1][1]
    for got, want in zip(last, result):
        pd.testing.assert_frame_equal(got, want)
    # setting by setting, seed by seed, as before the runs were trained seed by seed
    assert list(zip(result.runs["position"], result.runs["warmup_steps"], result.runs["seed"])
                ) == [(p, w, s) for p in ("before", "after") for w in (0, 10) for s in (0, 1)]


def test_the_race_reports_every_norm_after_its_first_seed_and_ends_with_its_result():
    reports = []
    result = lesson.norm_race(norms=("layer", "rms"), seeds=(0, 1),
                              base=SMALL.replace(steps=10), progress=lambda f, partial:
                              reports.append(partial))
    assert len(reports) == 8
    first_seed = reports[1]
    assert first_seed.runs[["norm", "seed"]].values.tolist() == [["layer", 0], ["rms", 0]]
    for got, want in zip(reports[-1], result):
        pd.testing.assert_frame_equal(got, want)
    assert list(zip(result.runs["budget"], result.runs["norm"], result.runs["seed"])) == [
        (b, n, s) for b in ("equal steps", "equal time") for n in ("layer", "rms")
        for s in (0, 1)]


def test_the_sentences_quote_the_frames(warmup, race):
    text = lesson.warmup_summary(warmup.intervals)
    for row in warmup.intervals.itertuples():
        if row.metric == "val_loss":
            assert f"{lesson.setting_label(row.position, row.warmup_steps)}: validation loss " \
                   f"{row.mean:.2f} [{row.low:.2f}, {row.high:.2f}] (2 seeds)" in text
        if row.metric == "sequence_accuracy":
            assert f"{row.mean:.0%} of answers fully right" in text
    grads = lesson.gradients_at_init(base=SMALL.replace(depth=3))
    out = grads[grads["matrix"] == lesson.MATRICES["linear"]].set_index(["position", "layer"])
    text = lesson.gradient_summary(grads)
    for position, label in lesson.POSITION_LABELS.items():
        last, first = out.loc[(position, 2), "grad_norm"], out.loc[(position, 0), "grad_norm"]
        assert f"{label}: {last:.3g} in the last block, {first:.3g} in the first " \
               f"({last / first:.2g}×)" in text
    text = lesson.race_summary(race.intervals)
    for row in race.intervals[race.intervals["metric"] == "val_loss"].itertuples():
        assert f"{row.mean:.2f} [{row.low:.2f}, {row.high:.2f}] (2 seeds)" in text


def test_equal_time_gives_each_norm_the_layer_norm_seconds(race):
    runs = race.runs
    equal_steps = runs[runs["budget"] == "equal steps"]
    equal_time = runs[runs["budget"] == "equal time"]
    assert equal_steps["steps_run"].eq(30).all()
    seconds = equal_steps.loc[equal_steps["norm"] == "layer", "cpu_time"].mean()
    assert equal_time["cpu_time"].between(seconds, seconds + 1.0).all()
    assert set(race.intervals["metric"]) >= {"val_loss", "steps_run", "cpu_time"}


def test_the_equal_time_clock_is_cpu_time_not_the_wall_clock(monkeypatch):
    import normlab.lessons._common as common

    wall = iter(range(0, 10**9, 1000))  # every look at the wall clock: 1000 s later
    monkeypatch.setattr(common.time, "perf_counter", lambda: float(next(wall)))
    trained = fit(SMALL.replace(steps=10**4), max_seconds=0.3)
    assert len(trained.losses) > 1  # a busy machine (a jumping wall clock) took no steps away
    assert 0.3 <= trained.cpu_time < 0.3 + 0.5


def _runs(losses: dict) -> pd.DataFrame:
    return pd.DataFrame([{"position": p, "warmup_steps": w, "seed": seed, "val_loss": loss}
                         for (p, w), values in losses.items() for seed, loss in enumerate(values)])


def test_warmup_verdicts_hold_settle_or_say_not_settled_from_the_paired_seeds():
    stall = _runs({("after", 0): [2.30, 2.31, 2.29], ("after", 20): [0.5, 0.6, 0.55],
                   ("before", 0): [0.4, 0.5, 0.45], ("before", 20): [0.42, 0.49, 0.46]})
    post, pre, more = lesson.warmup_verdicts(stall)
    assert post.startswith("20 warm-up steps lower Post-LN's final validation loss: **holds**, "
                           "by 1.75 [1.64, 1.86] nats (paired over 3 seeds).")
    assert "Pre-LN's" in pre and "**not settled**" in pre and "seeds (now 3)" in pre
    assert "more than pre-LN" in more and "**holds**" in more
    noisy = _runs({("after", 0): [2.3, 0.4], ("after", 20): [0.5, 0.6],
                   ("before", 0): [0.4, 0.5], ("before", 20): [0.4, 0.5]})
    assert "**not settled**" in lesson.warmup_verdicts(noisy)[0]
    worse = _runs({("after", 0): [0.50, 0.51, 0.52], ("after", 20): [0.70, 0.72, 0.71]})
    assert lesson.warmup_verdicts(worse) == [
        "20 warm-up steps lower Post-LN's final validation loss: **does not hold**, by -0.20 "
        "[-0.22, -0.18] nats (paired over 3 seeds)."]


def test_a_diverged_run_counts_as_still_guessing():
    runs = _runs({("after", 0): [2.29, math.nan, 0.4], ("after", 20): [0.5, 0.6, 0.55]})
    assert lesson.guessing_summary(runs).endswith(": Post-LN, no warm-up: 2 of 3 seeds.")
    assert lesson.guessing_summary(runs.assign(val_loss=0.5)).endswith(": none of the runs.")
    assert "by 1.11" in lesson.warmup_verdicts(runs)[0]  # (2.29 + ln 10 + 0.4 - 1.65) / 3


def test_the_toy_scale_line_quotes_the_setup_it_ran():
    line = lesson.toy_scale(SMALL.replace(steps=70), 3)
    assert line.startswith("Toy scale: 2 blocks of width 32, 70 steps of 32 prompts sorting 8 "
                           "digits, 3 seeds; Xiong et al.")


def test_the_page_default_is_the_lessons_default_and_answers_with_several_seeds():
    assert lesson.SEEDS >= 2  # an interval, and a verdict that can be "not settled"
    assert lesson.transformer_lesson.__defaults__[0] == tuple(range(lesson.SEEDS))
    assert lesson.WARMUP_STEPS < lesson.TRANSFORMER_QUICK.steps


def test_a_diverged_run_counts_as_guessing_in_the_intervals():
    runs = lesson.frame([{"position": "after", "warmup_steps": 0, "val_loss": math.nan},
                         {"position": "after", "warmup_steps": 0, "val_loss": 1.0}],
                        ("position", "warmup_steps", "val_loss"))
    spread = lesson.intervals(runs, ("position", "warmup_steps"), ("val_loss",))
    assert spread["mean"].item() == pytest.approx((math.log(10) + 1.0) / 2)


def test_generated_first_digit_is_the_teacher_forced_one():
    trained = fit(SMALL.replace(steps=10))
    x, y = trained.data.x_val[:16], trained.data.y_val[:16]
    generated = lesson.generate(trained.model, x, y.shape[1])
    assert torch.equal(generated[:, 0], trained.model(x)[:, :, 0].argmax(1))
    assert generated.shape == y.shape and generated.max() < 11


def test_the_lesson_is_a_cli_lesson(monkeypatch):
    assert "transformer" in LESSON_KEYS
    small = lesson.transformer_lesson
    monkeypatch.setattr(lesson, "transformer_lesson", lambda: small(
        seeds=(0,), norms=("rms",), base=SMALL.replace(steps=10)))
    frames = run_lesson("transformer")
    assert set(frames) == set(lesson.TransformerLesson._fields)
    assert len(frames["warmup_runs"]) == 4 and len(frames["race_runs"]) == 2


def test_the_lesson_figures_are_valid_plotly(warmup, race, monkeypatch):
    import plotly.graph_objects as go

    from normlab.plots import style
    from normlab.plots import transformer as tp

    monkeypatch.setattr(style, "VALIDATE", True)  # plotly checks every property
    figures = [tp.warmup_curves(warmup.curves), tp.warmup_final_loss(warmup.intervals),
               tp.gradient_by_block(lesson.gradients_at_init(base=SMALL)),
               tp.race_final_loss(race.intervals)]
    assert all(isinstance(fig, go.Figure) and fig.data for fig in figures)
    assert [trace.name for trace in figures[3].data] == ["equal steps", "equal time"]
