"""The leaner loop trains exactly as the loop it replaced: every frame of a run equals, bit for
bit, the frozen twin's (tests/engine_reference.py) on configs that cover each optimizer, norm,
the cnn, uneven eval/snapshot cadences and divergence."""

from __future__ import annotations

import engine_reference
import pandas as pd
import pytest

from normlab import TrainConfig, engine

SHORT = TrainConfig(steps=45, depth=3, width=32, eval_every=7, record_every=9)
CONFIGS = {
    "default batch, momentum": TrainConfig(steps=60),
    "layer, adam": SHORT.replace(norm="layer", optimizer="adam", lr=0.01),
    "rms, plain sgd": SHORT.replace(norm="rms", optimizer="sgd"),
    "group, tanh, after": SHORT.replace(norm="group", activation="tanh", norm_position="after"),
    "dyt, batch 16 (epochs turn)": SHORT.replace(norm="dyt", batch_size=16, steps=200),
    "cnn batch": SHORT.replace(model="cnn", depth=2, width=8, steps=20),
    "none, spirals": SHORT.replace(norm="none", dataset="spirals", n_samples=400),
    "diverges": SHORT.replace(norm="none", lr=50.0, init_gain=3.0, steps=100),
}


def frames(run) -> dict[str, pd.DataFrame]:
    return {"metrics": run.metrics.drop(columns="wall_time"), "layer_stats": run.layer_stats,
            "histograms": run.histograms, "gradients": run.gradients}


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
def test_leaner_loop_gives_the_frozen_loops_frames_bit_for_bit(cfg):
    new, old = engine.train(cfg), engine_reference.train(cfg)
    assert (new.status, new.step, new.diverged_at, new.message) == (
        old.status, old.step, old.diverged_at, old.message)
    for name, frame in frames(new).items():
        pd.testing.assert_frame_equal(frame, frames(old)[name], check_exact=True, obj=name)


def test_the_twin_check_can_fail():
    """Another learning rate changes the frames: equality above is not vacuous."""
    new = engine.train(SHORT)
    old = engine_reference.train(SHORT.replace(lr=0.051))
    assert not new.metrics["val_loss"].equals(old.metrics["val_loss"])
