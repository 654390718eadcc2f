"""The lessons beyond the three norms (why_bn, lr_window, data_view): what they compute, that
they are reproducible, and that each verdict can come out either way. Small budgets."""

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
import torch.nn.functional as F

from normlab import stats
from normlab.data import load_dataset
from normlab.lessons import LESSON_KEYS, data_view, lr_window, run_lesson, why_bn
from normlab.plots import beyond, style

TINY = why_bn.WHY_BN_QUICK.replace(depth=3, width=16, steps=30, eval_every=10)


# --- why_bn: noisy batch norm -------------------------------------------------------------------


def noisy_model(seed: int = 0):
    return why_bn.build(TINY.replace(seed=seed), "noisy_batch").model


def test_noisy_batch_norm_shifts_and_scales_each_unit_anew_every_step():
    layer = why_bn._noisy_layers(noisy_model())[0]
    x = torch.randn(64, 16)
    first, second = layer(x), layer(x)
    assert not torch.allclose(first, second)  # new noise on every training forward
    mean, std = first.mean(0), first.std(0, unbiased=False)  # (D,) each
    assert (mean.abs() > 1e-3).any() and (std > 1.01).all() and (std < 3.0).all()
    scale, shift = layer.noise
    assert torch.allclose(second, layer.batch_norm(x) * scale + shift, atol=1e-6)


def test_noisy_batch_norm_is_reproducible_by_seed_and_frozen_keeps_one_draw():
    a, b, c = (why_bn._noisy_layers(noisy_model(seed))[0] for seed in (0, 0, 1))
    x = torch.randn(32, 16)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))
    a.frozen = True
    assert torch.equal(a(x), a(x))


def test_noisy_batch_norm_evaluates_with_the_expected_noise():
    layer = why_bn._noisy_layers(noisy_model())[0].eval()
    x = torch.randn(8, 16)
    assert torch.allclose(layer(x), layer.batch_norm(x) * (1 + layer.scale) / 2)


def test_no_norm_and_batch_norm_start_from_the_same_weights():
    none, batch = (why_bn.build(TINY, c).model for c in ("none", "batch"))
    assert torch.equal(none.blocks[0].linear.weight, batch.blocks[0].linear.weight)
    with pytest.raises(ValueError, match="unknown condition"):
        why_bn.build(TINY, "layer")


# --- why_bn: the walk along the gradient --------------------------------------------------------


def batch_of(setup, size: int = 64):
    return setup.data.x_train[:size], setup.data.y_train[:size]


def test_a_small_step_changes_the_loss_by_minus_lr_times_the_squared_gradient():
    setup = why_bn.build(TINY, "batch")
    x, y = batch_of(setup)
    rows = why_bn.probe(setup.model, x, y, lr=1e-4, multipliers=(1.0,))
    first_order = -1e-4 * rows[0]["grad_norm"] ** 2
    assert rows[0]["loss_change"] == pytest.approx(first_order, rel=0.05)
    assert rows[0]["distance"] == pytest.approx(1e-4 * rows[0]["grad_norm"])


def test_the_walk_puts_weights_and_running_statistics_back():
    setup = why_bn.build(TINY, "noisy_batch")
    before = {k: v.clone() for k, v in setup.model.state_dict().items()}
    why_bn.probe(setup.model, *batch_of(setup), lr=0.1)
    after = setup.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("condition", ["batch", "noisy_batch"])
def test_probing_leaves_training_unchanged(condition):
    rarely, often = (why_bn.train_probed(TINY, condition, probe_every=every)
                     for every in (10**6, 3))
    assert rarely[0]["final_val_loss"] == often[0]["final_val_loss"]
    assert len(often[1]) == 10 * len(why_bn.MULTIPLIERS) and len(rarely[1]) == 4


def test_why_bn_is_reproducible_and_has_the_documented_frames():
    first, second = (why_bn.why_bn(seeds=(0, 1), base=TINY, probe_every=10) for _ in range(2))
    assert first.runs.drop(columns="wall_time").equals(second.runs.drop(columns="wall_time"))
    assert first.probes.equals(second.probes)
    assert list(first.runs.columns) == list(why_bn.RUN_COLUMNS) and len(first.runs) == 6
    assert set(first.shift["quantile"]) == {0.15, 0.5, 0.85}
    smooth = why_bn.smoothness(first.probes)
    assert list(smooth.columns) == list(why_bn.SMOOTHNESS_COLUMNS)
    assert len(smooth) == 3 * 2 * 3 and (smooth["loss_range"] >= 0).all()


def test_distribution_shift_is_zero_for_a_steady_unit_and_grows_with_its_jumps():
    shift = pd.DataFrame([dict(condition=c, seed=0, step=step, quantile=q,
                               value=q + (jump * (step % 2)))
                          for c, jump in (("batch", 0.0), ("noisy_batch", 0.7))
                          for step in range(4) for q in (0.15, 0.5, 0.85)])
    moved = why_bn.distribution_shift(shift).set_index("condition")["shift"]
    assert moved["batch"] == 0 and moved["noisy_batch"] == pytest.approx(0.7 / 0.7)


def runs_frame(noisy: list[float], none: list[float]) -> pd.DataFrame:
    return pd.DataFrame([dict(condition=c, seed=s, final_val_accuracy=a)
                         for c, values in (("noisy_batch", noisy), ("none", none))
                         for s, a in enumerate(values)])


def test_the_noise_verdict_comes_out_both_ways():
    assert why_bn.verdict_noise_keeps_the_gain(
        runs_frame([0.96, 0.95, 0.97], [0.80, 0.82, 0.79])).verdict == stats.HOLDS
    assert why_bn.verdict_noise_keeps_the_gain(
        runs_frame([0.60, 0.62, 0.61], [0.80, 0.82, 0.79])).verdict == stats.DOES_NOT_HOLD
    assert why_bn.verdict_noise_keeps_the_gain(
        runs_frame([0.80, 0.70, 0.90], [0.80, 0.82, 0.79])).verdict == stats.NOT_SETTLED
    diverged = runs_frame([0.9, 0.9, 0.9], [math.nan, math.nan, math.nan])
    assert why_bn.verdict_noise_keeps_the_gain(diverged).effect == pytest.approx(0.8)


def probes_frame(beta: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([dict(condition=c, seed=s, step=0, multiplier=1.0, distance=1.0,
                              loss_change=0.1, grad_change=b, grad_norm=1.0)
                         for c, values in beta.items() for s, b in enumerate(values)])


def test_the_smoothness_verdict_comes_out_both_ways():
    smoother = probes_frame({"batch": [1.0, 1.2, 0.9], "none": [10.0, 9.0, 12.0]})
    rougher = probes_frame({"batch": [10.0, 9.0, 12.0], "none": [1.0, 1.2, 0.9]})
    assert why_bn.verdict_bn_smoother(smoother).verdict == stats.HOLDS
    assert why_bn.verdict_bn_smoother(smoother).effect == pytest.approx(-1, abs=0.1)
    assert why_bn.verdict_bn_smoother(rougher).verdict == stats.DOES_NOT_HOLD
    with pytest.raises(ValueError, match="needs probes"):
        why_bn.verdict_bn_smoother(probes_frame({"batch": [1.0, 2.0]}))


# --- lr_window ----------------------------------------------------------------------------------


def lr_runs(trained: dict[str, list[list[bool]]], lrs=(0.01, 0.1, 1.0)) -> pd.DataFrame:
    """runs rows from trained[norm][seed] = [trained at each lr]."""
    return pd.DataFrame([dict(norm=n, lr=lr, seed=s, status="finished" if ok else "diverged",
                              final_val_loss=0.2 if ok else math.nan, trained=ok)
                         for n, seeds in trained.items() for s, row in enumerate(seeds)
                         for lr, ok in zip(lrs, row)])


def test_the_larger_lr_verdict_comes_out_all_three_ways():
    runs = lr_runs({"none": [[True, False, False]] * 3,
                    "batch": [[True, True, True]] * 3,
                    "layer": [[True, False, False], [True, True, False], [True, False, False]],
                    "rms": [[False, False, False]] * 3})
    batch = lr_window.verdict_larger_lr(runs, "batch")
    assert batch.verdict == stats.HOLDS and batch.effect == pytest.approx(2.0)
    assert lr_window.verdict_larger_lr(runs, "layer").verdict == stats.NOT_SETTLED
    rms = lr_window.verdict_larger_lr(runs, "rms")  # trained nowhere: half a step below 0.01
    assert rms.verdict == stats.DOES_NOT_HOLD and rms.effect == pytest.approx(-0.5)


def test_the_stable_window_is_the_widest_run_where_every_seed_trained():
    runs = lr_runs({"batch": [[True, True, True, False, True]] * 2,
                    "none": [[True, True, False, False, False], [True, False, False, False, False]],
                    "rms": [[False] * 5] * 2}, lrs=(0.001, 0.01, 0.1, 1.0, 10.0))
    windows = lr_window.stable_windows(runs).set_index("norm")
    assert windows.loc["batch", ["low_lr", "high_lr", "points"]].tolist() == [0.001, 0.1, 3]
    assert windows.loc["batch", "decades"] == pytest.approx(2.0)
    assert windows.loc["none", "points"] == 1 and windows.loc["rms", "points"] == 0
    assert math.isnan(windows.loc["rms", "decades"])


def test_a_small_lr_sweep_trains_low_rates_and_diverges_without_a_norm_at_high_ones():
    runs = lr_window.lr_sweep(norms=("none", "batch"), lrs=(30.0, 0.03), seeds=(0, 1),
                              base=lr_window.LR_QUICK.replace(steps=60))
    assert list(runs.columns) == list(lr_window.RUN_COLUMNS) and len(runs) == 8
    assert runs["lr"].tolist()[:2] == [0.03, 0.03]  # sorted
    low, high = runs[runs["lr"] == 0.03], runs[runs["lr"] == 30.0]
    assert low["trained"].all()
    none_high = high[high["norm"] == "none"]
    assert (none_high["status"] == "diverged").all() and not none_high["trained"].any()
    points = lr_window.lr_points(runs)
    assert list(points.columns) == list(lr_window.POINT_COLUMNS) and len(points) == 4
    assert (points.loc[points["lr"] == 0.03, "low"] <= points.loc[points["lr"] == 0.03,
                                                                  "mean_val_loss"]).all()


def test_trained_means_below_half_of_guessing_for_the_data_sets_classes():
    runs = lr_window.lr_sweep(norms=("layer",), lrs=(0.1,), seeds=(0,),
                              base=lr_window.LR_QUICK.replace(dataset="spirals", steps=5))
    assert lr_window.trained_threshold(3) == pytest.approx(math.log(3) / 2)
    assert runs["trained"].item() == (runs["final_val_loss"].item() < math.log(3) / 2)


# --- data_view ----------------------------------------------------------------------------------


def test_the_grid_covers_the_data_with_a_margin():
    points = torch.tensor([[0.0, -1.0], [2.0, 1.0]])
    grid = data_view.grid_over(points, size=5, margin=0.5)
    assert grid.shape == (25, 2)
    assert grid[:, 0].min() == -1.0 and grid[:, 0].max() == 3.0
    assert grid[:, 1].min() == -2.0 and grid[:, 1].max() == 2.0


def test_decision_regions_at_each_snapshot_and_the_network_learns_the_circles():
    base = data_view.DATA_VIEW_QUICK.replace(dataset="circles", n_samples=400)
    view = data_view.decision_regions(("none", "batch"), base, snapshots=(60, 0), grid=12)
    assert list(view.regions.columns) == list(data_view.REGION_COLUMNS)
    assert len(view.regions) == 2 * 2 * 12 * 12
    assert set(view.points["split"]) == {"train", "validation"} and len(view.points) == 400
    accuracy = view.accuracy.set_index(["norm", "step"])["val_accuracy"]
    assert accuracy[("batch", 60)] > 0.85 and accuracy[("batch", 60)] > accuracy[("batch", 0)]
    again = data_view.decision_regions(("none", "batch"), base, snapshots=(60, 0), grid=12)
    assert again.regions.equals(view.regions)
    with pytest.raises(ValueError, match="2-D data set"):
        data_view.decision_regions(base=base.replace(dataset="digits"))


def test_the_frames_a_live_view_draws_are_the_cached_results_snapshots():
    """What progress hands the page while training is, step for step, what the returned
    (cached) DataView holds: the same seed, the same steps, the same rows."""
    base = data_view.DATA_VIEW_QUICK.replace(dataset="xor", n_samples=200)
    frames = []
    view = data_view.decision_regions(("none", "batch"), base, snapshots=(0, 7, 30), grid=8,
                                      every=10, progress=lambda f, frame: frames.append(frame))
    assert [int(f.regions["step"].max()) for f in frames] == [0, 7, 10, 20, 30]
    assert sorted(view.regions["step"].unique()) == [0, 7, 10, 20, 30]
    for frame in frames:
        step = int(frame.regions["step"].max())
        assert set(frame.regions["norm"]) == {"none", "batch"}
        pd.testing.assert_frame_equal(
            frame.regions.reset_index(drop=True),
            view.regions[view.regions["step"] == step].reset_index(drop=True))
        pd.testing.assert_frame_equal(
            frame.accuracy.reset_index(drop=True),
            view.accuracy[view.accuracy["step"] == step].reset_index(drop=True))
    alone = data_view.decision_regions(("batch",), base, snapshots=(0, 7, 30), grid=8, every=10)
    pd.testing.assert_frame_equal(  # trained in step with another norm, as trained alone
        alone.regions.reset_index(drop=True),
        view.regions[view.regions["norm"] == "batch"].reset_index(drop=True))


def test_a_stop_ends_the_decision_regions_at_the_next_frame():
    base = data_view.DATA_VIEW_QUICK.replace(dataset="xor", n_samples=200)
    frames = []
    view = data_view.decision_regions(("none",), base, snapshots=(0, 100), grid=4, every=10,
                                      progress=lambda f, frame: frames.append(frame),
                                      should_stop=lambda: len(frames) >= 2)
    assert sorted(view.regions["step"].unique()) == [0, 10]


def test_validation_images_are_the_raw_pixels_of_the_validation_split():
    cfg = data_view.DIGITS_QUICK.replace(seed=3)
    images = data_view.validation_images(cfg).reshape(-1, 64)  # (V, 64)
    standardised = load_dataset("digits", seed=3).x_val.reshape(-1, 64).numpy()
    inked = images.std(0) > 0
    correlation = [np.corrcoef(images[:, j], standardised[:, j])[0, 1]
                   for j in np.flatnonzero(inked)]
    assert len(images) == len(standardised) and min(correlation) > 0.9999


def test_misclassified_digits_are_wrong_and_whole():
    digits = data_view.misclassified_digits(("none",), data_view.DIGITS_QUICK.replace(steps=30),
                                            count=3)
    examples = digits.groupby("example")
    assert 1 <= examples.ngroups <= 3 and (examples.size() == 64).all()
    assert (digits["true"] != digits["predicted"]).all()
    assert digits["ink"].between(0, 1).all()


# --- the lesson keys and the plots ----------------------------------------------------------------


def test_each_new_lesson_runs_by_its_key(monkeypatch):
    assert {"why_bn", "lr_window", "data_view"} <= set(LESSON_KEYS)
    tiny_why = why_bn.why_bn(seeds=(0,), base=TINY.replace(steps=10), probe_every=5)
    tiny_runs = lr_runs({"none": [[True, False, False]], "batch": [[True, True, True]]})
    base = data_view.DATA_VIEW_QUICK.replace(dataset="xor", n_samples=200)
    tiny_view = data_view.decision_regions(("none",), base, snapshots=(0, 5), grid=4)
    monkeypatch.setattr(why_bn, "why_bn", lambda: tiny_why)
    monkeypatch.setattr(lr_window, "lr_sweep", lambda: tiny_runs)
    monkeypatch.setattr(data_view, "decision_regions", lambda: tiny_view)
    monkeypatch.setattr(data_view, "misclassified_digits", lambda: pd.DataFrame())
    assert set(run_lesson("why_bn")) == {"runs", "probes", "shift", "smoothness",
                                         "distribution_shift", "accuracy"}
    assert set(run_lesson("lr_window")) == {"runs", "points", "windows"}
    assert set(run_lesson("data_view")) == {"points", "regions", "accuracy",
                                            "misclassified_digits"}


def test_the_beyond_plots_are_valid_titled_and_plot_their_numbers():
    style.VALIDATE = True
    try:
        result = why_bn.why_bn(seeds=(0, 1), base=TINY, probe_every=10)
        runs = lr_runs({"none": [[True, False, False]] * 2, "batch": [[True, True, False]] * 2})
        points = lr_window.lr_points(runs.assign(final_train_loss=0.1))
        base = data_view.DATA_VIEW_QUICK.replace(dataset="gaussians", n_samples=200)
        view = data_view.decision_regions(("none", "batch"), base, snapshots=(0, 5), grid=6)
        digits = data_view.misclassified_digits(("batch",),
                                                data_view.DIGITS_QUICK.replace(steps=5), count=2)
        built = [beyond.accuracy_by_condition(why_bn.accuracy_intervals(result.runs)),
                 beyond.smoothness_by_step(why_bn.smoothness(result.probes), "beta"),
                 beyond.unit_distribution(result.shift),
                 beyond.lr_window_chart(points),
                 beyond.windows_chart(lr_window.stable_windows(runs), runs["lr"].unique()),
                 beyond.decision_regions_grid(view.points, view.regions, view.accuracy),
                 beyond.misclassified_digits_chart(digits)]
    finally:
        style.VALIDATE = False
    assert all(isinstance(f, go.Figure) and f.layout.title.text for f in built)
    lr_fig = built[3]
    assert [t.name for t in lr_fig.data] == ["No norm", "BatchNorm"]
    assert list(lr_fig.data[0].y) == [0.2, beyond.LOSS_CAP, beyond.LOSS_CAP]
    assert lr_fig.data[0].marker.symbol[2] == "x"
    regions = built[5]
    assert sum(t.type == "heatmap" for t in regions.data) == 4  # 2 norms x 2 snapshots
    assert all(np.asarray(t.z).dtype == float for t in regions.data if t.type == "heatmap")
    noisy = [t for t in built[1].data if t.name == "Noisy BatchNorm"][0]
    assert noisy.line.dash == "dot" and noisy.line.color == style.norm_color("batch")


def test_first_order_check_uses_plain_cross_entropy():
    # the probe measures the loss the engine trains on: mean cross-entropy over the batch
    setup = why_bn.build(TINY, "none")
    x, y = batch_of(setup, 16)
    loss, _ = why_bn._loss_and_grad(setup.model, x, y)
    with torch.no_grad():
        assert loss == pytest.approx(float(F.cross_entropy(setup.model(x), y)))
