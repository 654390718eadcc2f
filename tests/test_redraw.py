"""Redraw keeps one Figure per live chart and swaps its data: at every snapshot of a run the
figure it hands out serializes exactly as the builder's fresh Figure does."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import plotly.io as pio
import pytest

from normlab import TrainConfig, plots, stream

CHARTS = {  # name: (spec, the builder, its frames from a run)
    "loss": (plots.loss_curves_spec, plots.loss_curves,
             lambda run: (run.metrics.assign(norm=run.config.norm),)),
    "accuracy": (plots.accuracy_curves_spec, plots.accuracy_curves,
                 lambda run: (run.metrics.assign(norm=run.config.norm),)),
    "bands": (plots.percentile_bands_spec, plots.percentile_bands,
              lambda run: (run.layer_stats, run.config.norm)),
    "gradients": (plots.gradient_heatmap_spec, plots.gradient_heatmap,
                  lambda run: (run.gradients,)),
    "update_ratio": (plots.update_ratio_heatmap_spec, plots.update_ratio_heatmap,
                     lambda run: (run.gradients,)),
}


def sent(fig) -> str:
    """What st.plotly_chart sends for a Figure."""
    return pio.to_json(fig.to_dict(), validate=False)


@pytest.mark.parametrize("name", CHARTS)
def test_redrawn_figure_equals_a_fresh_one_at_every_snapshot(name):
    spec, builder, frames = CHARTS[name]
    redraw, figures = plots.Redraw(spec), set()
    cfg = TrainConfig(depth=5, width=16, steps=40, record_every=10, eval_every=5)
    for run in stream(cfg):
        fig = redraw(*frames(run))
        figures.add(id(fig))
        assert sent(fig) == sent(builder(*frames(run))), f"{name} at step {run.step}"
    assert len(figures) == 1, "the figure was rebuilt although its shape held"


def test_a_changed_shape_builds_a_fresh_figure():
    """Another norm adds traces and the title changes: nothing of the old figure may stay."""
    cfg = TrainConfig(depth=2, width=8, steps=10)
    runs = [run.metrics for run in stream(cfg)]
    redraw = plots.Redraw(plots.loss_curves_spec)
    first = redraw(runs[-1].assign(norm="batch"))
    second = redraw(runs[-1].assign(norm="layer"))
    assert second is not first
    assert sent(second) == sent(plots.loss_curves(runs[-1].assign(norm="layer")))


def decoded(value):
    """plotly.io's JSON with its base64 arrays ({"dtype", "bdata"}) read back as lists, NaN as
    null (what orjson writes for it; plotly.js leaves a gap for either)."""
    if isinstance(value, dict):
        if set(value) >= {"dtype", "bdata"}:
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            shape = [int(n) for n in str(value.get("shape", len(array))).split(",")]  # "4, 3"
            return decoded(array.reshape(shape))
        return {k: decoded(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return decoded(value.tolist())
    if isinstance(value, list):
        return [decoded(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


@pytest.mark.parametrize("name", CHARTS)
def test_spec_json_is_the_figure_st_plotly_chart_would_send(name):
    spec, builder, frames = CHARTS[name]
    *_, run = stream(TrainConfig(depth=3, width=8, steps=20))
    direct = json.loads(plots.spec_json(spec(*frames(run))))
    assert direct == decoded(json.loads(sent(builder(*frames(run)))))
