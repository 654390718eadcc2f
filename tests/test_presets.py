"""The paper miniatures: each preset is the paper's setup, and each sentence agrees with its run."""

import math
import re

import pandas as pd
import pytest
import torch

from normlab import train
from normlab.engine import prepare
from normlab.lessons import presets
from normlab.lessons.presets import (
    DIGITS_TRAIN,
    PRESETS,
    effect,
    ioffe_drift,
    ioffe_final_accuracy,
    linear_scaling_lr,
    run_preset,
    settled_sign,
    train_watching_one_unit,
    what_the_run_shows,
    wu_he_mean_error,
)


def shortened(name: str, fraction: int = 20):
    """The preset's configs with 1/fraction of the steps (the same shape of run, cheaper)."""
    return tuple(cfg.replace(steps=max(1, round(cfg.steps / fraction)),
                             eval_every=max(1, round(cfg.eval_every / fraction)))
                 for cfg in PRESETS[name].configs)


# --- the setups are the papers' -------------------------------------------------------------

def test_wu_he_miniature_is_the_cnn_with_the_linear_learning_rate_rule():
    configs = PRESETS["wu_he_fig1"].configs
    assert {cfg.model for cfg in configs} == {"cnn"}  # BatchNorm2d: N·H·W values per channel
    assert {cfg.norm for cfg in configs} >= {"batch", "group"}
    for norm in {cfg.norm for cfg in configs}:
        assert sorted(c.batch_size for c in configs if c.norm == norm) == [2, 8, 32]
    for cfg in configs:
        assert cfg.lr == pytest.approx(0.1 * cfg.batch_size / 32)  # lr 0.1·N/32
        assert cfg.optimizer == "momentum"
    examples = {cfg.steps * cfg.batch_size for cfg in configs}  # a fixed number of epochs
    assert max(examples) - min(examples) <= 32
    assert linear_scaling_lr(2) == pytest.approx(0.00625)


def test_ba_miniature_sees_the_same_examples_at_batch_128_and_4():
    configs = PRESETS["ba_fig6"].configs
    assert sorted({cfg.batch_size for cfg in configs}) == [4, 128]
    examples = {cfg.steps * cfg.batch_size for cfg in configs}
    assert max(examples) - min(examples) < 128  # within one large batch
    assert {cfg.optimizer for cfg in configs} == {"adam"}


def test_ioffe_miniature_is_the_papers_network():
    for cfg in PRESETS["ioffe_szegedy_fig1"].configs:
        assert (cfg.model, cfg.depth, cfg.width, cfg.activation) == ("mlp", 3, 100, "sigmoid")
        assert cfg.batch_size == 60 and cfg.norm_position == "before"
        assert (cfg.init, cfg.init_gain) == ("normal", 0.1)  # small Gaussian: N(0, 0.1²)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_says_what_the_paper_says_what_differs_and_stops_when_asked(name):
    preset = PRESETS[name]
    assert preset.paper_says and preset.we_run and preset.differs and preset.configs
    assert len(preset.seeds) >= 3
    frames = run_preset(name, should_stop=lambda: True)
    assert frames and all(frame.empty for frame in frames.values())


# --- Ioffe & Szegedy Fig 1b,c: one unit, not the layer ----------------------------------------

def test_watching_one_unit_trains_exactly_as_the_engine_does():
    cfg = PRESETS["ioffe_szegedy_fig1"].configs[1].replace(steps=20, eval_every=5)
    status, metrics, _ = train_watching_one_unit(cfg)
    engine = train(cfg, record=False).metrics
    assert status == "finished"
    assert metrics["step"].tolist() == engine["step"].tolist()
    assert metrics["val_accuracy"].tolist() == engine["val_accuracy"].tolist()
    torch.testing.assert_close(torch.tensor(metrics["val_loss"].to_numpy()),
                               torch.tensor(engine["val_loss"].to_numpy()))


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_the_percentiles_are_one_units_sigmoid_input_not_the_layers(norm):
    cfg = PRESETS["ioffe_szegedy_fig1"].configs[0].replace(norm=norm, steps=2, eval_every=2)
    _, _, percentiles = train_watching_one_unit(cfg, unit=3)
    _, data, model, _, _ = prepare(cfg)  # the same initial weights: step 0
    model.eval()
    with torch.no_grad():
        h = data.x_val.flatten(1)
        for block in model.blocks[:-1]:
            h = block(h)
        last = model.blocks[-1]
        sigmoid_input = last.norm(last.linear(h))  # (V, 100)
    at_start = percentiles[percentiles["step"] == 0].set_index("quantile")["value"]
    for q in (0.15, 0.5, 0.85):
        assert at_start[q] == pytest.approx(float(torch.quantile(sigmoid_input[:, 3].double(), q)))
        pooled = float(torch.quantile(sigmoid_input.flatten().double(), q))
        assert at_start[q] != pytest.approx(pooled, abs=1e-6)


# --- the sentences: computed, and true to their numbers ---------------------------------------

def test_an_effect_whose_interval_contains_zero_is_not_settled():
    assert effect([0.10, 0.11, 0.12]) == "+11.0 points (95% t interval +8.5 to +13.5, 3 seeds)"
    assert effect([-0.01, 0.0, 0.01]).endswith("not settled")
    assert settled_sign([0.10, 0.11, 0.12]) == 1 and settled_sign([-0.01, 0.0, 0.01]) == 0
    assert settled_sign([-0.2, -0.1, -0.15]) == -1


def wu_he_errors(batch_rise, group_rise):
    """Three seeds' errors at batch 32 (0.10) and 2 (0.10 + rise)."""
    rows = []
    for norm, rise in (("batch", batch_rise), ("group", group_rise)):
        for seed, r in enumerate(rise):
            rows += [dict(norm=norm, batch_size=32, seed=seed, val_error=0.10,
                          status="finished"),
                     dict(norm=norm, batch_size=2, seed=seed, val_error=0.10 + r,
                          status="finished")]
    return pd.DataFrame(rows)


def test_the_wu_he_sentence_says_a_rise_only_where_the_seeds_agree():
    text = what_the_run_shows("wu_he_fig1", {"errors": wu_he_errors((0.10, 0.11, 0.12),
                                                                     (-0.01, 0.0, 0.01))})
    assert "BatchNorm 10.0% at batch 32 → 21.0% at batch 2" in text
    assert "GroupNorm 10.0% at batch 32 → 10.0% at batch 2" in text
    assert "BatchNorm +11.0 points (95% t interval +8.5 to +13.5, 3 seeds);" in text
    assert "GroupNorm +0.0 points (95% t interval -2.5 to +2.5, 3 seeds), not settled" in text
    assert "group norm minus batch norm: -11.0 points" in text
    flipped = what_the_run_shows("wu_he_fig1", {"errors": wu_he_errors((-0.01, 0.0, 0.01),
                                                                        (0.10, 0.11, 0.12))})
    assert "BatchNorm +0.0 points (95% t interval -2.5 to +2.5, 3 seeds), not settled" in flipped
    assert "group norm minus batch norm: +11.0 points" in flipped


def numbers_in(text: str) -> list[str]:
    """Every number the sentence states, as written ('97.2%', '0.41')."""
    return re.findall(r"[-+]?\d+(?:\.\d+)?%?", text)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_sentence_agrees_with_its_run(name):
    frames = PRESETS[name].runner(shortened(name, 40 if name == "wu_he_fig1" else 10),
                                  PRESETS[name].seeds[:3])
    text = what_the_run_shows(name, frames)
    words = numbers_in(text)
    if name == "wu_he_fig1":
        mean = wu_he_mean_error(frames["errors"])
        for (_, size), error in mean.items():
            if size in (2, 32):
                assert f"{error:.1%}" in words
        for norm in ("batch", "group"):
            rows = frames["errors"][frames["errors"]["norm"] == norm].sort_values("seed")
            rise = (rows[rows["batch_size"] == 2]["val_error"].to_numpy()
                    - rows[rows["batch_size"] == 32]["val_error"].to_numpy())
            label = presets.norm_label(norm)
            assert f"{label} {effect(rise)}" in text
    elif name == "ioffe_szegedy_fig1":
        final = ioffe_final_accuracy(frames["metrics"])
        for norm in ("none", "batch"):
            values = list(final[norm].values())
            assert f"{sum(values) / len(values):.1%}" in words
        difference = [final["batch"][s] - final["none"][s] for s in sorted(final["batch"])]
        assert f"Batch norm minus none, seed by seed: {effect(difference)}." in text
        steps = presets.steps_to_target(frames["metrics"])
        sooner = [steps["none"][s] - steps["batch"][s]
                  for s in sorted(set(steps.get("none", {})) & set(steps.get("batch", {})))]
        if len(sooner) > 1:
            assert effect(sooner, scale=1.0, unit=" steps") in text
        drift = ioffe_drift(frames["percentiles"])
        for norm in ("none", "batch"):
            assert f"{sum(drift[norm].values()) / len(drift[norm]):.2f}" in words
    else:
        final = presets.ba_final_accuracy(frames["metrics"])
        for norm in ("batch", "layer"):
            loss = [final[(norm, 128)][s] - final[(norm, 4)][s] for s in sorted(final[(norm, 4)])]
            assert f"{presets.norm_label(norm)} {effect(loss)}" in text
            for size in (128, 4):
                values = final[(norm, size)].values()
                assert f"{sum(values) / len(values):.1%}" in words
    assert "not settled" not in text or "interval" in text


def test_the_ba_sentence_never_compares_unequal_budgets():
    frames = PRESETS["ba_fig6"].runner(shortened("ba_fig6"), (0, 1))
    metrics = frames["metrics"]
    seen = metrics.groupby("batch_size")["examples"].max()
    assert abs(seen[128] - seen[4]) < 128  # the same examples at both batch sizes
    text = what_the_run_shows("ba_fig6", frames)
    assert "the same examples seen; batch 4 took" in text
    assert math.isclose(metrics["epoch"].max(), seen.max() / DIGITS_TRAIN)


def ba_metrics(batch_loss, layer_loss):
    """Three seeds' final accuracy: 0.95 at batch 128, 0.95 - loss at batch 4."""
    rows = []
    for norm, loss in (("batch", batch_loss), ("layer", layer_loss)):
        for seed, lost in enumerate(loss):
            for size, accuracy in ((128, 0.95), (4, 0.95 - lost)):
                rows.append(dict(norm=norm, batch_size=size, seed=seed, epoch=5.0, step=10,
                                 val_accuracy=accuracy, status="finished"))
    return pd.DataFrame(rows)


def test_the_ba_sentence_says_a_loss_only_where_the_seeds_agree():
    text = what_the_run_shows("ba_fig6", {"metrics": ba_metrics((0.10, 0.11, 0.12),
                                                               (-0.01, 0.0, 0.01))})
    assert "After 5.0 epochs at every batch size (the same examples seen; batch 4 took 1× as " \
        "many steps)" in text  # made-up frames: one step each
    assert "BatchNorm +11.0 points (95% t interval +8.5 to +13.5, 3 seeds);" in text
    assert "LayerNorm +0.0 points (95% t interval -2.5 to +2.5, 3 seeds), not settled" in text
    flipped = what_the_run_shows("ba_fig6", {"metrics": ba_metrics((-0.01, 0.0, 0.01),
                                                                  (0.10, 0.11, 0.12))})
    assert "BatchNorm +0.0 points (95% t interval -2.5 to +2.5, 3 seeds), not settled" in flipped
    assert "LayerNorm +11.0 points (95% t interval +8.5 to +13.5, 3 seeds)." in flipped


def ioffe_percentiles(none_moves, batch_moves):
    """The median of each seed's unit: 0 at step 50, then `moves` at step 100."""
    rows = []
    for norm, moves in (("none", none_moves), ("batch", batch_moves)):
        for seed, move in enumerate(moves):
            for step, median in ((0, 5.0), (50, 0.0), (100, move)):
                rows.append(dict(norm=norm, seed=seed, step=step, quantile=0.5, value=median))
    return pd.DataFrame(rows)


def test_ioffe_drift_is_measured_from_the_first_evaluation_and_judged_over_seeds():
    percentiles = ioffe_percentiles((0.6, 0.7, 0.8), (0.1, 0.1, 0.1))
    assert ioffe_drift(percentiles) == {"none": {0: 0.6, 1: 0.7, 2: 0.8},
                                       "batch": {0: 0.1, 1: 0.1, 2: 0.1}}  # step 0 ignored
    metrics = pd.DataFrame([dict(norm=n, seed=s, step=100, val_accuracy=0.9, status="finished")
                            for n in ("none", "batch") for s in range(3)])
    text = what_the_run_shows("ioffe_szegedy_fig1", {"metrics": metrics,
                                                     "percentiles": percentiles})
    assert "moved at most 0.70 without it and 0.10 with it" in text
    assert "without minus with: +0.6 (95% t interval +0.4 to +0.8, 3 seeds)." in text
    same = what_the_run_shows("ioffe_szegedy_fig1", {
        "metrics": metrics, "percentiles": ioffe_percentiles((0.1, 0.2, 0.3), (0.2, 0.2, 0.2))})
    assert "not settled" in same
