"""The plot builders: titled, labelled, one colour per norm, binned data only, valid plotly."""

import dataclasses
import math

import pandas as pd
import plotly.graph_objects as go
import pytest

from normlab import TrainConfig, plots, train
from normlab.registry import NORMS

COMPARED = ("none", "batch", "layer", "rms")


@pytest.fixture(scope="module")
def runs():
    """Tiny runs, one per norm, from the same seed."""
    cfg = TrainConfig(depth=3, width=16, steps=12, record_every=4, eval_every=4, bins=20)
    return {norm: train(dataclasses.replace(cfg, norm=norm)) for norm in COMPARED}


def tagged(runs, frame: str) -> pd.DataFrame:
    return pd.concat([getattr(run, frame).assign(norm=norm) for norm, run in runs.items()])


def all_figures(runs) -> dict[str, go.Figure]:
    batch = runs["batch"]
    last = int(batch.histograms["step"].max())
    return {
        "loss": plots.loss_curves(tagged(runs, "metrics")),
        "loss_by_time": plots.loss_curves(tagged(runs, "metrics"), x="wall_time"),
        "accuracy": plots.accuracy_curves(tagged(runs, "metrics")),
        "bands": plots.percentile_bands(batch.layer_stats, "batch"),
        "gradients": plots.gradient_heatmap(batch.gradients),
        "update_ratio": plots.update_ratio_heatmap(batch.gradients),
        "spread": plots.layer_spread_heatmap(batch.layer_stats, "batch"),
        "loss_over_earlier": plots.loss_curves(
            tagged(runs, "metrics")[lambda f: f["norm"] == "batch"],
            earlier=(("previous: No norm", runs["none"].metrics.assign(norm="none")),)),
        "by_depth": plots.gradient_by_depth(tagged(runs, "gradients")),
        "overlay": plots.histogram_overlay(batch.histograms, 1, last, "batch"),
        "ridgeline": plots.ridgeline(batch.histograms, last, "batch"),
        **{f"sharing_{norm}": plots.statistics_sharing(norm) for norm in NORMS},
    }


def axis_titles(fig: go.Figure) -> list[str]:
    layout = fig.to_dict()["layout"]
    return [axis.get("title", {}).get("text", "") for name, axis in layout.items()
            if name.startswith(("xaxis", "yaxis")) and axis.get("showticklabels", True)]


def test_every_figure_has_a_title_and_axis_titles(runs):
    for name, fig in all_figures(runs).items():
        assert isinstance(fig, go.Figure), name
        assert fig.layout.title.text, name
        titles = axis_titles(fig)
        assert titles and all(titles), f"{name}: axis titles {titles}"


def test_axis_titles_carry_units(runs):
    figures = all_figures(runs)
    assert figures["loss"].layout.xaxis.title.text == "step (optimizer updates)"
    assert figures["loss"].layout.yaxis.title.text == "cross-entropy loss (nats)"
    assert figures["loss_by_time"].layout.xaxis.title.text == "wall time (s)"
    assert figures["accuracy"].layout.yaxis.title.text == "validation accuracy (%)"


def test_every_figure_is_valid_plotly(runs):
    for fig in all_figures(runs).values():
        go.Figure(fig.to_dict())  # validates every property: raises on a typo


@pytest.mark.parametrize("builder", ["accuracy", "by_depth", "loss_val"])
def test_one_trace_per_norm_in_its_colour(runs, builder):
    fig = {
        "accuracy": lambda: plots.accuracy_curves(tagged(runs, "metrics")),
        "by_depth": lambda: plots.gradient_by_depth(tagged(runs, "gradients")),
        "loss_val": lambda: plots.loss_curves(tagged(runs, "metrics"), splits=("val",)),
    }[builder]()
    assert [trace.name.split(" (")[0] for trace in fig.data] == [
        NORMS[norm].label for norm in COMPARED]
    assert [trace.line.color for trace in fig.data] == [plots.NORM_COLORS[n] for n in COMPARED]


def test_train_and_validation_loss_share_the_norm_colour(runs):
    fig = plots.loss_curves(tagged(runs, "metrics"))
    assert len(fig.data) == 2 * len(COMPARED)
    for trace in fig.data:
        assert trace.line.color == plots.NORM_COLORS[trace.legendgroup]


def test_every_norm_has_its_own_colour():
    assert set(plots.NORM_COLORS) == set(NORMS)
    assert len(set(plots.NORM_COLORS.values())) == len(NORMS)


def test_histogram_figures_carry_bins_not_samples(runs):
    batch = runs["batch"]
    bins = batch.config.bins
    figures = all_figures(runs)
    for name in ("overlay", "ridgeline"):
        for trace in figures[name].data:
            assert len(trace.x) <= 2 * (bins + 1), f"{name}: {len(trace.x)} points in a trace"
    assert len(figures["ridgeline"].data) == batch.config.depth
    assert len(figures["overlay"].data) == 2  # the norm's input and output


def test_percentile_bands_plot_the_recorded_percentiles(runs):
    stats = runs["batch"].layer_stats
    fig = plots.percentile_bands(stats, "batch", layers=[0])
    expected = stats[(stats["point"] == "post_norm") & (stats["layer"] == 0)]
    medians = [t for t in fig.data if t.name == "median"][0]
    assert list(medians.y) == list(expected["p50"])


def test_heatmaps_are_layer_by_step_on_a_log_scale(runs):
    gradients = runs["batch"].gradients
    fig = plots.gradient_heatmap(gradients)
    heatmap = fig.data[0]
    assert list(heatmap.y) == sorted(gradients["layer"].unique())
    assert list(heatmap.x) == sorted(gradients["step"].unique())
    first = gradients[(gradients["layer"] == 0) & (gradients["step"] == 0)]["weight_grad_norm"]
    assert heatmap.z[0][0] == pytest.approx(math.log10(first.iloc[0]))


@pytest.mark.parametrize("norm, cells", [("batch", (4, 1)), ("layer", (1, 6)), ("rms", (1, 6)),
                                         ("group", (1, 3)), ("none", (0, 0)), ("dyt", (0, 0))])
def test_statistics_sharing_highlights_what_the_norm_pools(norm, cells):
    dense = plots.statistics_sharing(norm, examples=4, features=6).data[0].z
    highlighted = [(i, j) for i, row in enumerate(dense) for j, value in enumerate(row) if value]
    rows, columns = cells
    assert len({i for i, _ in highlighted}) == rows
    assert len({j for _, j in highlighted}) == columns


@pytest.mark.parametrize("builder, limits", [
    (plots.gradient_heatmap, plots.style.GRADIENT_RANGE),
    (plots.update_ratio_heatmap, plots.style.UPDATE_RATIO_RANGE)])
def test_heatmap_colour_ranges_are_fixed_and_exact_zeros_have_their_own_colour(runs, builder,
                                                                               limits):
    tame, wild = runs["batch"].gradients, runs["none"].gradients.copy()
    wild.loc[wild.index[0], ["weight_grad_norm", "update_ratio"]] = 0.0  # a vanished gradient
    for fig in (builder(tame), builder(wild)):  # the same scale whatever the run's values
        heatmap, zeros, legend = fig.data
        assert (heatmap.zmin, heatmap.zmax) == limits
        assert heatmap.colorbar.ticktext[0].startswith("≤")  # the range's ends in the legend
        assert zeros.colorscale[0][1] == plots.style.ZERO_COLOR and not zeros.showscale
        assert legend.name == "exactly 0" and legend.marker.color == plots.style.ZERO_COLOR
    zero_cells = [v for row in builder(wild).data[1].z for v in row if v == v]  # not NaN
    assert zero_cells == [1.0]  # exactly the one zero cell is drawn in the zero colour
    assert math.isnan(builder(wild).data[0].z[0][0])  # and not on the scale (blank, black)


def test_an_earlier_run_is_drawn_faded_in_its_norms_colour_under_this_one(runs):
    fig = plots.loss_curves(tagged(runs, "metrics")[lambda f: f["norm"] == "batch"],
                            earlier=(("previous: No norm", runs["none"].metrics.assign(
                                norm="none")),))
    earlier, *now = fig.data
    assert earlier.name == "previous: No norm" and earlier.opacity < 1
    assert earlier.line.color == plots.norm_color("none") and earlier.line.dash == "dash"
    assert {trace.line.color for trace in now} == {plots.norm_color("batch")}


def test_the_ridgeline_x_range_fits_the_recorded_values(runs):
    histograms = runs["batch"].histograms
    fig = plots.ridgeline(histograms, int(histograms["step"].max()), "batch")
    filled = histograms[(histograms["point"] == "post_norm") & (histograms["count"] > 0)]
    assert list(fig.layout.xaxis.range) == [filled["bin_left"].min(), filled["bin_right"].max()]
