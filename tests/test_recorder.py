"""The recorder against its twin: the frozen implementation it replaced (recorder_reference.py).

Each run is trained twice through the real engine, once with each recorder; training does not
depend on the recorder, so the frames must be equal to the last bit.
"""

import math

import pandas as pd
import pytest
import recorder_reference
import torch
import torch.nn.functional as F

from normlab import engine, recorder
from normlab.config import TrainConfig
from normlab.defaults import DEFAULT_CONFIG
from normlab.engine import prepare, train

SHORT = DEFAULT_CONFIG.replace(steps=40, record_every=10, eval_every=10)
DIVERGING = SHORT.replace(norm="none", lr=50.0, init_gain=3.0, steps=100, record_every=1)
CONFIGS = {
    "default": SHORT,
    "deep_wide_layer_tanh": SHORT.replace(depth=10, width=128, norm="layer", activation="tanh",
                                          init="xavier"),
    "sigmoid_no_norm": SHORT.replace(norm="none", depth=12, activation="sigmoid", init="xavier"),
    "rms_after_gelu": SHORT.replace(norm="rms", norm_position="after", activation="gelu"),
    "cnn": SHORT.replace(model="cnn", depth=3, width=8, batch_size=16),
    "cnn_tanh": SHORT.replace(model="cnn", depth=2, width=6, activation="tanh", norm="layer"),
    "toy_2d": SHORT.replace(dataset="spirals", width=16, bins=7),
    "diverging": DIVERGING,  # the loss and then the activations go inf and NaN
    "overflowing": TrainConfig(norm="none", depth=64, init_gain=100.0, steps=5, record_every=1),
}
TABLES = ("layer_stats", "histograms", "gradients")


def runs_with_both_recorders(cfg: TrainConfig, monkeypatch) -> tuple[engine.Run, engine.Run]:
    with monkeypatch.context() as patch:
        patch.setattr(engine, "Recorder", recorder_reference.Recorder)
        before = train(cfg)
    return before, train(cfg)


def assert_same_frames(before: engine.Run, after: engine.Run) -> None:
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(before, table), getattr(after, table),
                                      check_exact=True, obj=table)


@pytest.mark.parametrize("name", CONFIGS)
def test_frames_equal_the_reference_recorders(name, monkeypatch):
    before, after = runs_with_both_recorders(CONFIGS[name], monkeypatch)
    assert not after.layer_stats.empty
    assert_same_frames(before, after)


@pytest.mark.parametrize("name", ["diverging", "overflowing"])
def test_the_twin_test_sees_non_finite_values(name, monkeypatch):
    run = train(CONFIGS[name])
    assert (run.layer_stats["nonfinite"] > 0).any()


def test_frames_equal_when_measured_in_many_small_groups(monkeypatch):
    # 4096 values per (layer, point) at the default size: groups of one and of two rows.
    for group_values in (4096, 3 * 4096 - 1):
        monkeypatch.setattr(recorder, "GROUP_VALUES", group_values)
        assert_same_frames(*runs_with_both_recorders(SHORT, monkeypatch))
        assert_same_frames(*runs_with_both_recorders(DIVERGING, monkeypatch))


def test_saturated_and_dead_count_every_value_in_slices_of_the_batch(monkeypatch):
    monkeypatch.setattr(recorder, "GROUP_VALUES", 1000)  # a few examples of one layer at a time
    for cfg in (SHORT, CONFIGS["deep_wide_layer_tanh"], CONFIGS["sigmoid_no_norm"]):
        assert_same_frames(*runs_with_both_recorders(cfg.replace(steps=20), monkeypatch))


def recorded_step(cfg: TrainConfig, kinds) -> list:
    """Each kind of recorder, after watching one training step of the same model."""
    cfg, data, model, optimizer, batches = prepare(cfg)
    recorders = [kind(model, cfg.bins, cfg.activation) for kind in kinds]
    for each in recorders:
        each.begin(step=0)
    index = batches.next()
    F.cross_entropy(model(data.x_train[index]), data.y_train[index]).backward()
    optimizer.step()
    for each in recorders:
        each.end()
    return recorders


def test_large_tensors_are_measured_from_a_sample_and_say_so(monkeypatch):
    monkeypatch.setattr(recorder, "MEASURED_VALUES", 1024)  # 4096 values per (layer, point)
    cfg = SHORT.replace(activation="tanh", init="xavier")
    reference, sampled = recorded_step(cfg, [recorder_reference.Recorder, recorder.Recorder])
    assert sampled.sampled == {(layer, point) for layer in range(cfg.depth)
                               for point in recorder.POINTS}
    counts = sampled.histograms.frame.groupby(["layer", "point"])["count"].sum()
    assert (counts == 1024).all()
    exact, estimate = reference.stats.frame, sampled.stats.frame
    pd.testing.assert_frame_equal(exact[["saturated", "dead"]], estimate[["saturated", "dead"]],
                                  check_exact=True)  # these still count every value
    scale = exact["std"].to_numpy()
    for column in ("mean", "p15", "p50", "p85"):
        error = abs(exact[column] - estimate[column]).to_numpy() / scale
        assert error.max() < 0.15, (column, error.max())  # a few standard errors of 1024 values
    monkeypatch.undo()
    assert not recorded_step(cfg, [recorder.Recorder])[0].sampled


def test_an_all_non_finite_tensor_has_empty_statistics_not_an_error():
    cfg = SHORT.replace(norm="none", depth=2)
    _, data, model, _, _ = prepare(cfg)
    with torch.no_grad():
        model.blocks[0].linear.weight.fill_(math.inf)
    both = [kind(model, cfg.bins, cfg.activation)
            for kind in (recorder_reference.Recorder, recorder.Recorder)]
    for each in both:
        each.begin(step=0)
    model(data.x_train[:8])
    for each in both:
        each.end()
    before, after = (each.stats.frame for each in both)
    pd.testing.assert_frame_equal(before, after, check_exact=True)
    assert after["mean"].isna().any()
