"""The training engine: paired runs, streaming, divergence, refusal, recording."""

import math
from functools import partial

import numpy as np
import pandas as pd
import pytest
import torch

from normlab import ConfigError, TrainConfig, engine, stream, train
from normlab.data import BatchStream, load_dataset
from normlab.defaults import DEFAULT_CONFIG
from normlab.models import build_model
from normlab.recorder import Recorder

FAST = TrainConfig(steps=30, eval_every=10, record_every=10, depth=3, width=32)


def test_defaults_train_well_on_cpu():
    run = train(TrainConfig(steps=200, record_every=50))
    assert run.status == "finished"
    assert run.final["val_accuracy"] > 0.85, run.final


def test_metrics_have_the_documented_columns():
    run = train(FAST)
    for column in ("step", "train_loss", "val_loss", "val_accuracy", "wall_time"):
        assert column in run.metrics.columns
    assert run.metrics["step"].tolist() == [0, 10, 20, 30]
    assert run.metrics["wall_time"].is_monotonic_increasing


@pytest.mark.parametrize("norm", ["none", "batch", "layer", "rms"])
def test_same_seed_same_initial_weights_across_norms(norm):
    data = load_dataset("digits", seed=0)
    reference = build_model(FAST.replace(norm="none"), data.input_shape, data.num_classes)
    model = build_model(FAST.replace(norm=norm), data.input_shape, data.num_classes)
    for a, b in zip(reference.blocks, model.blocks):
        torch.testing.assert_close(a.linear.weight, b.linear.weight, rtol=0, atol=0)
    torch.testing.assert_close(reference.head.weight, model.head.weight, rtol=0, atol=0)


def test_same_seed_same_batches_across_norms():
    # The batch stream depends only on (n, batch_size, seed): nothing about the model.
    first = [BatchStream(1000, 32, seed=3).next() for _ in range(1)]
    a, b = BatchStream(1000, 32, seed=3), BatchStream(1000, 32, seed=3)
    batches_a = [a.next() for _ in range(50)]
    batches_b = [b.next() for _ in range(50)]
    assert all(torch.equal(x, y) for x, y in zip(batches_a, batches_b))
    assert torch.equal(first[0], batches_a[0])
    other = BatchStream(1000, 32, seed=4).next()
    assert not torch.equal(other, batches_a[0])


def test_batch_stream_never_yields_a_partial_batch():
    stream_ = BatchStream(100, 33, seed=0)
    sizes = {len(stream_.next()) for _ in range(20)}
    assert sizes == {33}


def test_same_config_same_numbers():
    a, b = train(FAST), train(FAST)
    np.testing.assert_allclose(a.metrics["val_loss"], b.metrics["val_loss"], rtol=0, atol=0)


def test_stream_yields_growing_run_and_can_be_stopped():
    runs = stream(FAST.replace(steps=200))
    first = next(runs)
    assert first.status == "running" and first.step == 1
    second = next(runs)
    assert second.step == 11 and len(second.gradients) > 0
    runs.close()
    assert second.status == "stopped"
    assert "11" in second.message
    assert len(second.metrics) >= 2  # what was trained so far is kept


def test_divergence_stops_and_names_the_step():
    run = train(FAST.replace(norm="none", lr=50.0, init_gain=3.0, steps=100))
    assert run.status == "diverged"
    assert run.diverged_at is not None and run.diverged_at < 100
    assert f"step {run.diverged_at}" in run.message
    assert "learning rate" in run.message
    assert run.summary()["diverged"] is True


def test_extreme_depth_and_gain_does_not_crash_the_recorder():
    run = train(TrainConfig(norm="none", depth=64, init_gain=100.0, steps=5, record_every=1))
    assert run.status in ("diverged", "finished")
    assert not run.layer_stats.empty


def test_batch_norm_with_batch_size_one_is_refused_with_a_reason():
    with pytest.raises(ConfigError, match="one value has no variance"):
        train(FAST.replace(norm="batch", batch_size=1))


@pytest.mark.parametrize("norm", ["layer", "rms"])
def test_per_example_norms_train_with_batch_size_one(norm):
    assert train(FAST.replace(norm=norm, batch_size=1)).status == "finished"


def test_out_of_range_config_names_the_field_and_range():
    with pytest.raises(ConfigError, match=r"depth must be between 1 and 64"):
        TrainConfig(depth=65).validated()
    with pytest.raises(ConfigError, match="norm must be one of"):
        TrainConfig(norm="banana").validated()


def test_cnn_trains_on_digits_and_records_every_block():
    run = train(FAST.replace(model="cnn", width=8, depth=2))
    assert run.status == "finished"
    assert set(run.layer_stats["layer"]) == {0, 1}


def test_layer_stats_and_histograms_cover_every_layer_point_and_snapshot():
    run = train(FAST)
    steps = sorted(set(run.layer_stats["step"]))
    assert steps == [0, 10, 20, 29]
    per_snapshot = run.histograms.groupby(["step", "layer", "point"]).size()
    assert (per_snapshot == FAST.bins).all()
    assert len(per_snapshot) == len(steps) * FAST.depth * 3


def test_histogram_range_is_fixed_per_layer_so_snapshots_compare():
    run = train(FAST)
    edges = run.histograms.groupby(["layer", "point"])["bin_left"].nunique()
    assert (edges == FAST.bins).all()


def test_histogram_counts_sum_to_the_number_of_values():
    run = train(FAST.replace(batch_size=16))
    counts = run.histograms.groupby(["step", "layer", "point"])["count"].sum()
    assert (counts == 16 * FAST.width).all()


def test_post_batch_norm_is_standardised_in_training():
    run = train(FAST.replace(norm="batch"))
    post = run.layer_stats.query("point == 'post_norm' and step == 0")
    np.testing.assert_allclose(post["mean"], 0, atol=1e-5)
    np.testing.assert_allclose(post["std"], 1, atol=0.02)


def test_relu_dead_fraction_and_tanh_saturation_are_measured():
    relu = train(FAST.replace(activation="relu")).layer_stats.query("point == 'activation'")
    assert relu["dead"].between(0, 1).all() and relu["saturated"].isna().all()
    tanh = train(FAST.replace(activation="tanh", norm="none", init_gain=5.0, init="normal"))
    saturated = tanh.layer_stats.query("point == 'activation'")["saturated"]
    assert saturated.max() > 0.5  # a huge init gain drives tanh into its flat tails


def test_gradient_frame_has_norms_and_update_ratios():
    grads = train(FAST).gradients
    assert (grads["weight_grad_norm"] > 0).all()
    assert (grads["output_grad_norm"] > 0).all()
    assert grads["update_ratio"].between(0, 1).all()


def test_recorder_removes_its_hooks_and_leaves_the_model_untouched():
    data = load_dataset("digits", seed=0)
    model = build_model(FAST, data.input_shape, data.num_classes)
    x = data.x_train[:8]
    before = model(x)
    with Recorder(model, bins=10) as recorder:
        recorder.begin(step=0)
        during = model(x)
        recorder.end()
        assert len(recorder.stats) == FAST.depth * 3
        recorder.begin(step=1)  # left attached: the context manager takes the hooks off
    after = model(x)
    hooks = sum(len(m._forward_hooks) for m in model.modules())
    assert hooks == 0
    torch.testing.assert_close(before, during)
    torch.testing.assert_close(before, after)


def test_training_without_recording_keeps_metrics_only():
    run = train(FAST, record=False)
    assert run.histograms.empty and not run.metrics.empty


def test_threads_are_set_explicitly():
    train(FAST.replace(threads=1, steps=2))
    assert torch.get_num_threads() == 1


def test_cuda_request_without_gpu_is_explained():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="sees no GPU"):
        train(FAST.replace(device="cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_run_matches_cpu_closely():
    cpu, gpu = train(FAST), train(FAST.replace(device="cuda"))
    assert math.isclose(cpu.final["val_loss"], gpu.final["val_loss"], rel_tol=1e-2)


def test_batched_statistics_match_torch_quantile_and_histc():
    data = load_dataset("digits", seed=0)
    model = build_model(FAST, data.input_shape, data.num_classes)
    seen = {}
    with Recorder(model, bins=12) as recorder:
        recorder.begin(step=0)

        def keep(layer, module, inputs, output):
            seen[layer] = inputs[0].detach().double().flatten()

        handles = [b.norm.register_forward_hook(partial(keep, layer))
                   for layer, b in enumerate(recorder.blocks)]
        model(data.x_train[:32]).sum().backward()
        for handle in handles:
            handle.remove()
        recorder.end()
    stats = recorder.stats.frame.query("point == 'pre_norm'").set_index("layer")
    for layer, values in seen.items():
        expected = torch.quantile(values, values.new_tensor([0.15, 0.5, 0.85])).tolist()
        got = stats.loc[layer, ["p15", "p50", "p85"]].tolist()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        assert math.isclose(stats.loc[layer, "std"], float(values.std()), rel_tol=1e-9)
        lo, hi = recorder.ranges[(layer, "pre_norm")]
        counts = torch.histc(values.clamp(lo, hi), bins=12, min=lo, max=hi)
        hist = recorder.histograms.frame.query("layer == @layer and point == 'pre_norm'")
        # histc and our bin index can differ for a value within rounding of a bin edge.
        assert np.abs(hist["count"].to_numpy() - counts.numpy()).sum() <= 2


def test_wall_time_excludes_time_spent_by_the_consumer():
    import time

    started, pauses = time.perf_counter(), 0
    for run in stream(FAST.replace(steps=40)):  # noqa: B007 (the last one is checked)
        time.sleep(0.05)  # a slow chart redraw
        pauses += 1
    total = time.perf_counter() - started
    assert run.wall_time <= total - 0.05 * (pauses - 1), (run.wall_time, total, pauses)


def test_divergence_keeps_the_metrics_and_snapshot_of_the_last_steps():
    run = train(FAST.replace(norm="none", lr=50.0, init_gain=3.0, steps=100, record_every=1))
    assert run.status == "diverged"
    assert run.diverged_at in set(run.layer_stats["step"])


def test_every_activation_name_in_config_builds_a_layer():
    from normlab.config import ACTIVATIONS
    from normlab.models import ACTIVATION_LAYERS

    assert tuple(ACTIVATION_LAYERS) == ACTIVATIONS


# --- stopping inside a step ------------------------------------------------------------------

def test_a_should_stop_that_never_fires_changes_no_number():
    cfg = DEFAULT_CONFIG.replace(steps=30)
    plain = engine.train(cfg)
    *_, checked = engine.stream(cfg, should_stop=lambda: False)
    pd.testing.assert_frame_equal(plain.metrics.drop(columns="wall_time"),
                                  checked.metrics.drop(columns="wall_time"))
    pd.testing.assert_frame_equal(plain.layer_stats, checked.layer_stats)


def test_should_stop_ends_a_run_between_two_layers_of_one_step():
    calls = []

    def stop_on_the_fifth_layer() -> bool:
        calls.append(None)
        return len(calls) >= 5

    cfg = DEFAULT_CONFIG.replace(depth=8, steps=10, eval_every=10, record_every=10)
    runs = list(engine.stream(cfg, should_stop=stop_on_the_fifth_layer))
    assert len(runs) == 1 and runs[0].status == "stopped" and runs[0].step == 0
    assert len(calls) == 5  # asked after each layer, and nothing more ran once it said True
    assert runs[0].message == "Stopped after 0 steps."


def test_should_stop_is_asked_during_backward_too():
    cfg = DEFAULT_CONFIG.replace(steps=3, eval_every=3, record_every=3)
    model = engine.prepare(cfg).model
    layers = sum(1 for m in model.modules() if next(m.children(), None) is None)
    calls, grad_mode = [], []

    def stop_at_the_first_backward_check() -> bool:
        # the first evaluation asks once per layer, the training forward once more per layer:
        # the next question comes from backward
        calls.append(None)
        grad_mode.append(torch.is_grad_enabled())
        return len(calls) > 2 * layers

    *_, run = engine.stream(cfg, should_stop=stop_at_the_first_backward_check)
    assert run.status == "stopped" and run.step == 0
    assert len(calls) == 2 * layers + 1
    assert grad_mode[layers:2 * layers] == [True] * layers  # the training forward


def test_a_detached_run_does_not_grow_with_the_training():
    runs = engine.stream(DEFAULT_CONFIG.replace(steps=40))
    first = next(runs)
    copy = first.detached()
    rows = (len(copy.metrics), len(copy.layer_stats), len(copy.gradients))
    for _ in runs:
        pass
    assert (len(copy.metrics), len(copy.layer_stats), len(copy.gradients)) == rows
    assert len(first.metrics) > rows[0]


def test_cnn_batch_norm_trains_with_batch_size_one():
    """BatchNorm2d pools N·H·W values per channel: one 8x8 digit gives each channel 64."""
    run = train(TrainConfig(model="cnn", norm="batch", depth=2, width=16, batch_size=1,
                            steps=300, lr=0.01, eval_every=100, record_every=100))
    assert run.status == "finished"
    losses = run.metrics["val_loss"]
    assert losses.notna().all() and losses.iloc[-1] < losses.iloc[0]  # it learns, slowly
    assert not run.layer_stats.empty  # and the recorder measures it


def test_cnn_batch_norm_at_batch_size_one_matches_torch():
    from normlab.norms import BatchNorm2d

    x = torch.randn(1, 4, 8, 8, dtype=torch.float64, requires_grad=True)  # (N=1, C, H, W)
    ours, theirs = BatchNorm2d(4).double(), torch.nn.BatchNorm2d(4).double()
    x_ours = x.detach().clone().requires_grad_()
    y_ours, y_theirs = ours(x_ours), theirs(x)
    torch.testing.assert_close(y_ours, y_theirs, rtol=0, atol=1e-12)
    y_ours.pow(3).sum().backward()
    y_theirs.pow(3).sum().backward()
    torch.testing.assert_close(x_ours.grad, x.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(ours.running_var, theirs.running_var)  # unbiased over 64 values
    assert ours(x_ours).flatten(2).std(-1, unbiased=False).sub(1).abs().max() < 1e-3


def test_mlp_batch_norm_with_batch_size_one_is_still_refused_and_says_why():
    with pytest.raises(ConfigError, match="cnn"):
        TrainConfig(norm="batch", batch_size=1).validated()
