"""The lesson plot builders: titled, labelled with units, one colour per norm (and per momentum,
per implementation) in every chart, valid plotly; and they plot the numbers they are given."""

import math

import pandas as pd
import plotly.graph_objects as go
import pytest

from normlab import plots
from normlab.lessons.batch_dependence import batch_dependence
from normlab.lessons.invariances import invariance_table
from normlab.lessons.speed import paired_ratios, rms_over_layer
from normlab.lessons.train_eval import biased_vs_unbiased, momentum_label, running_stats_trace
from normlab.plots import lessons as lp
from normlab.plots import style
from normlab.registry import NORMS


def sweep_rows() -> pd.DataFrame:
    """batch_size_sweep-like rows: two seeds, batch norm refused at batch size 1."""
    rows = []
    for norm, accuracy in (("batch", 0.8), ("layer", 0.9), ("group", 0.85)):
        for batch_size in (1, 4, 32):
            for seed in (0, 1):
                refused = norm == "batch" and batch_size == 1
                rows.append(dict(norm=norm, batch_size=batch_size, seed=seed,
                                 status="refused" if refused else "finished",
                                 val_accuracy=math.nan if refused else accuracy + 0.02 * seed,
                                 train_mode_val_accuracy=math.nan if refused else accuracy + 0.1,
                                 message="one value has no variance" if refused else ""))
    frame = pd.DataFrame(rows)
    return frame.assign(val_error=1 - frame["val_accuracy"])


def depth_result() -> tuple[pd.DataFrame, pd.DataFrame]:
    summary, layers = [], []
    for norm in ("none", "batch", "layer"):
        for gain in (0.5, 2.0):
            for depth in (2, 8):
                diverged = norm == "none" and gain == 2.0 and depth == 8
                summary.append(dict(norm=norm, depth=depth, gain=gain, seed=0,
                                    status="diverged" if diverged else "finished",
                                    final_train_loss=1e27 if diverged else 0.5 * depth,
                                    first_layer_grad_norm=gain**depth))
                layers += [dict(norm=norm, depth=depth, gain=gain, seed=0, layer=layer,
                                pre_norm_std=gain**layer) for layer in range(depth)]
    return pd.DataFrame(summary), pd.DataFrame(layers)


def speed_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [dict(implementation=i, norm=n, rows=r, features=f, size=f"{r}x{f}",
                 median_ms=t * r * f / 1e5, status="ok")
            for i in ("normlab", "torch") for n, t in (("batch", 3), ("layer", 2), ("rms", 1))
            for r, f in ((64, 64), (256, 256))]
    times = pd.DataFrame(rows)
    return times, rms_over_layer(times)


def paired_speed_ratios() -> pd.DataFrame:
    """speed.paired_ratios of two implementations: torch cheaper, naive not settled."""
    rounds = pd.DataFrame([dict(implementation=i, size="64x64", round=k, rms_ms=r, layer_ms=1.0,
                                ratio=r) for i, per_round in (("torch", [0.5, 0.52, 0.48]),
                                                              ("naive", [0.5, 1.6, 0.7]))
                           for k, r in enumerate(per_round)])
    return paired_ratios(rounds)


def depth_study() -> pd.DataFrame:
    """depth_lr_study-like rows: two norms, two depths, two lrs, two seeds."""
    return pd.DataFrame([dict(norm=n, depth=d, lr=lr, seed=s, status="finished",
                              final_train_loss=(1.0 if n == "batch" else 1.5) + lr + s / 10)
                         for n in ("batch", "layer") for d in (16, 32) for lr in (0.01, 0.1)
                         for s in (0, 1)])


@pytest.fixture(scope="module")
def figures() -> dict[str, go.Figure]:
    style.VALIDATE = True  # every builder's output is checked property by property
    sweep = sweep_rows()
    summary, layers = depth_result()
    times, ratios = speed_frames()
    dependence = batch_dependence(trials=5)
    trace = running_stats_trace(steps=20, shift=2.0)
    lag = sweep[(sweep["norm"] == "batch") & (sweep["batch_size"] == 4) & (sweep["seed"] == 0)]
    curves = pd.DataFrame([dict(norm=n, lr=lr, seed=0, step=s, val_accuracy=s / 100)
                           for n in ("none", "batch") for lr in (0.05, 0.5) for s in (0, 50)])
    percentiles = pd.DataFrame([dict(norm=n, step=s, quantile=q, value=q + s)
                                for n in ("none", "batch") for s in (0, 1) for q in (.15, .5, .85)])
    metrics = pd.DataFrame([dict(norm=n, batch_size=b, step=s, val_accuracy=0.5, val_loss=1.0)
                            for n in ("batch", "layer") for b in (128, 4) for s in (0, 50)])
    built = {
        "batch_size": lp.batch_size_curves(sweep),
        "batch_size_error": lp.batch_size_curves(sweep, "val_error"),
        "gap": lp.train_eval_gap(sweep),
        "boxes": lp.batch_dependence_boxes(dependence.outputs),
        "spread": lp.batch_dependence_spread(dependence.summary),
        "running_mean": lp.running_stat_traces(trace, "mean"),
        "running_var": lp.running_stat_traces(trace, "var"),
        "bias": lp.variance_bias(biased_vs_unbiased(batch_sizes=(2, 8), batches=100)),
        "lag": lp.eval_vs_train_mode(pd.concat([lag.assign(momentum="0.001"),
                                                lag.assign(momentum="None (cumulative)")])),
        "depth_loss": lp.depth_final_loss(summary),
        "depth_lr_grid": lp.depth_lr_grid(depth_study()),
        "batch_size_steps": lp.batch_size_curves(pd.concat([sweep.assign(budget="examples"),
                                                            sweep.assign(budget="steps")]),
                                                 budget="steps"),
        "depth_gradient": lp.depth_first_gradient(summary),
        "depth_std": lp.activation_std_by_layer(layers, 8),
        "invariances": lp.invariance_heatmap(invariance_table()),
        "speed": lp.speed_times(times),
        "speed_ratio": lp.speed_ratio(ratios),
        "speed_paired": lp.speed_ratio(paired_speed_ratios(), threshold=0.95),
        "convergence": lp.convergence_by_lr(curves),
        "percentiles": lp.percentile_bands_by_norm(percentiles),
        "ba_accuracy": lp.curves_by_batch_size(metrics),
        "ba_loss": lp.curves_by_batch_size(metrics, "val_loss"),
    }
    style.VALIDATE = False
    return built


def axis_titles(fig: go.Figure) -> list[str]:
    layout = fig.to_dict()["layout"]
    return [axis.get("title", {}).get("text", "") for name, axis in layout.items()
            if name.startswith(("xaxis", "yaxis"))]


def test_every_figure_has_a_title_and_axis_titles_with_units(figures):
    for name, fig in figures.items():
        assert fig.layout.title.text, name
        titles = [t for t in axis_titles(fig) if t]
        assert len(titles) >= 2, f"{name}: axis titles {titles}"
        go.Figure(fig.to_dict())  # valid plotly
    assert "(%)" in figures["batch_size"].layout.yaxis.title.text
    assert "log scale" in figures["batch_size"].layout.xaxis.title.text
    assert figures["speed"].layout.yaxis.title.text == "median time (ms, log scale)"
    assert "(nats)" in figures["depth_loss"].layout.yaxis.title.text


@pytest.mark.parametrize("name", ["batch_size", "gap", "depth_loss", "depth_gradient",
                                  "depth_std", "speed", "convergence", "ba_accuracy"])
def test_a_norm_has_its_colour_in_every_chart(figures, name):
    labels = {entry.label: norm for norm, entry in NORMS.items()}
    seen = 0
    for trace in figures[name].data:
        label = trace.name.split(" · ")[0].split(",")[0]
        if label in labels and trace.mode != "markers":
            assert trace.line.color == plots.norm_color(labels[label]), (name, trace.name)
            seen += 1
    assert seen


def test_box_and_bar_colours_follow_the_norm(figures):
    for trace in figures["boxes"].data:
        norm = next(n for n, e in NORMS.items() if e.label == trace.name)
        assert trace.marker.color == plots.norm_color(norm)
    bar = figures["spread"].data[0]
    assert list(bar.marker.color) == [plots.norm_color(n) for n in batch_dependence()[1]["norm"]]


def test_a_momentum_has_one_colour_in_every_chart(figures):
    running = {t.name.removeprefix("momentum "): t.line.color
               for t in figures["running_mean"].data if t.name.startswith("momentum")}
    bars = figures["lag"].data[1]
    for label, color in zip(bars.x, bars.marker.line.color):
        assert running.get(label.removeprefix("momentum "), color) == color
        assert color == lp.momentum_color(label.removeprefix("momentum "))


def test_batch_size_points_are_seed_means_with_their_spread(figures):
    batch, layer = figures["batch_size"].data[0], figures["batch_size"].data[1]
    assert batch.name == "BatchNorm" and list(batch.x) == [4, 32]  # refused batch size 1 left out
    assert list(layer.x) == [1, 4, 32]
    assert layer.y[0] == pytest.approx(91.0)  # (90 + 92) / 2
    assert layer.error_y.array[0] == pytest.approx(1.0) and layer.error_y.visible
    error = figures["batch_size_error"].data[1]
    assert error.y[0] == pytest.approx(9.0)


def test_the_gap_is_train_mode_minus_eval_mode_in_points(figures):
    layer = figures["gap"].data[1]
    assert layer.y[0] == pytest.approx(9.0)  # 100 - 91


def test_diverged_runs_are_crosses_not_missing_points(figures):
    crosses = [t for t in figures["depth_loss"].data if t.legendgroup == "diverged"]
    assert len(crosses) == 1 and list(crosses[0].x) == [8]
    assert crosses[0].marker.symbol == "x"
    assert crosses[0].y[0] == pytest.approx(4.4)  # just above the highest finished loss (4)
    assert figures["depth_gradient"].layout.yaxis.type == "log"
    panels = [a.text for a in figures["depth_loss"].layout.annotations]
    assert panels == ["init gain 0.5", "init gain 2"]


def test_the_invariance_heatmap_marks_each_cell(figures):
    heatmap = figures["invariances"].data[0]
    assert list(heatmap.x) == ["BatchNorm", "LayerNorm", "RMSNorm"]  # the tables' columns
    assert heatmap.y[0] == "weight matrix rescaling" and len(heatmap.y) == len(heatmap.text)
    assert all(cell[0] in "✓✗" for row in heatmap.text for cell in row)
    assert heatmap.text[0][0].startswith("✓")  # batch norm ignores a rescaled weight matrix


def test_the_speed_ratio_is_rms_over_layer_with_a_line_at_one(figures):
    bars = figures["speed_ratio"].data
    assert [b.name for b in bars] == ["normlab", "torch"]
    assert list(bars[0].y) == pytest.approx([0.5, 0.5])
    assert figures["speed_ratio"].layout.shapes[0].y0 == 1
    # one colour per norm everywhere (the ratio is RMS norm's), the implementation by hatching
    assert {b.marker.line.color for b in bars} == {lp.norm_color("rms")}
    assert [b.marker.pattern.shape for b in bars] == ["", "/"]


def test_the_paired_speed_ratio_shows_each_interval_and_verdict(figures):
    paired = paired_speed_ratios()
    bars = figures["speed_paired"].data
    for bar, (_, row) in zip(bars, paired.iterrows()):
        assert bar.error_y.array[0] == pytest.approx(row["high"] - row["ratio"])
        assert bar.error_y.arrayminus[0] == pytest.approx(row["ratio"] - row["low"])
        assert f"[{row['low']:.2f}, {row['high']:.2f}], n = 3" in bar.customdata[0]
    # written under each bar: its implementation, ratio and verdict
    assert [bar.x[1][0] for bar in bars] == [
        f"{row['implementation']}<br>{row['ratio']:.2f}×<br>{word}"
        for (_, row), word in zip(paired.iterrows(), ["cheaper", "not settled"])]
    assert [shape.y0 for shape in figures["speed_paired"].layout.shapes] == [1, 0.95]
    low, high = figures["speed_paired"].layout.yaxis.range  # log10 units
    assert 10 ** low <= paired["low"].min() and paired["high"].max() <= 10 ** high  # no whisker
    assert all(b.text is None for b in bars)  # nothing written over the hatching or whiskers

def test_the_running_traces_show_the_true_value_and_the_buffers(figures):
    data = figures["running_mean"].data
    assert data[0].name == "one batch's estimate" and data[-1].name == "true value"
    legend = sorted((t for t in data if t.name.startswith("momentum")), key=lambda t: t.legendrank)
    assert [t.name for t in legend] == [
        f"momentum {momentum_label(m)}" for m in (0.01, 0.1, 0.5, None)]
    assert [t.name for t in data[1:-1]][0] == "momentum 0.5"  # the jumpiest drawn first


def test_the_depth_lr_grid_shows_each_norms_mean_loss_per_lr_and_depth(figures):
    fig = figures["depth_lr_grid"]
    batch16 = next(t for t in fig.data if t.name == "BatchNorm" and t.xaxis == "x")
    assert list(batch16.x) == [0.01, 0.1]
    assert list(batch16.y) == pytest.approx([1.06, 1.15])  # mean of seeds 0 and 1
    assert "Final training loss by learning rate" in fig.layout.title.text


def test_batch_size_curves_draw_one_budget(figures):
    assert figures["batch_size_steps"].layout.title.text.endswith("(same steps)")
    assert figures["batch_size"].layout.title.text.endswith("(same examples seen)")
