"""Twin tests: every seed of the batched model equals that seed trained alone by the engine.

The engine trains in float32 only (TrainConfig has no dtype), and in float32 two correct
implementations drift apart by rounding that training amplifies. So the twin runs the engine's
own loop in float64 (its data and model cast by the fixture below, nothing else changed)
against `train_seeds(..., dtype=torch.float64)`, where rounding stays far below 1e-10.
"""

import pandas as pd
import pytest
import torch

from normlab import engine
from normlab.config import ConfigError, TrainConfig
from normlab.seeds import SEED_METRIC_COLUMNS, batchable, train_seeds

TOLERANCE = 1e-10
COMPARED = [c for c in engine.METRIC_COLUMNS if c != "wall_time"]  # wall time is the batch's
# Small and short, but crossing an epoch (1348 training digits, 50 per batch: 26 full batches
# and a dropped remainder) and with several evaluations.
SMALL = TrainConfig(depth=3, width=16, batch_size=50, steps=30, eval_every=7, lr=0.1)
SEEDS = (0, 1, 2)


@pytest.fixture
def engine_in_float64(monkeypatch):
    """The engine's loop unchanged, on float64 data and a float64 copy of its model."""
    load_dataset, build_model = engine.load_dataset, engine.build_model

    def load_float64(*args, **kwargs):
        data = load_dataset(*args, **kwargs)
        return type(data)(data.name, data.x_train.double(), data.y_train, data.x_val.double(),
                          data.y_val, data.num_classes)

    monkeypatch.setattr(engine, "load_dataset", load_float64)
    monkeypatch.setattr(engine, "build_model", lambda *a: build_model(*a).double())
    # if a rewrite of engine.prepare stops reading these names, say so rather than compare
    # a float32 engine against float64 seeds
    assert next(engine.prepare(SMALL).model.parameters()).dtype == torch.float64


def max_twin_error(cfg: TrainConfig, seeds=SEEDS, dtype=torch.float64) -> float:
    """Largest |batched - alone| / max(1, |alone|) over every seed, evaluation and metric;
    statuses, steps run and messages must agree."""
    runs = train_seeds(cfg, seeds, dtype=dtype)
    assert runs.batched and list(runs.metrics.columns) == list(SEED_METRIC_COLUMNS)
    worst = 0.0
    for seed in seeds:
        alone = engine.train(cfg.replace(seed=seed), record=False)
        batched = runs.metrics[runs.metrics["seed"] == seed].reset_index(drop=True)
        assert len(batched) == len(alone.metrics), f"seed {seed}: rows differ"
        status = runs.status.set_index("seed").loc[seed]
        assert (status["status"], status["steps_run"]) == (alone.status, alone.step)
        assert status["message"] == alone.message
        # absolute below 1, relative above: a diverging float64 seed reaches losses of 1e100
        scale = alone.metrics[COMPARED].abs().clip(lower=1)
        difference = (batched[COMPARED] - alone.metrics[COMPARED]).abs() / scale
        worst = max(worst, float(difference.fillna(0).to_numpy().max()))
        # NaN (no training rows yet) must be NaN in both
        assert (batched[COMPARED].isna() == alone.metrics[COMPARED].isna()).all().all()
    return worst


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("norm", ["none", "batch", "layer", "rms"])
def test_each_seed_equals_that_seed_trained_alone(engine_in_float64, norm, optimizer):
    cfg = SMALL.replace(norm=norm, optimizer=optimizer, lr=0.01 if optimizer == "adam" else 0.1)
    error = max_twin_error(cfg)
    assert error <= TOLERANCE, f"max error {error:.3g}"


@pytest.mark.parametrize("position", ["before", "after"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu"])
@pytest.mark.parametrize("norm", ["batch", "layer", "rms"])
def test_twin_holds_for_every_activation_and_norm_position(engine_in_float64, norm, activation,
                                                           position):
    cfg = SMALL.replace(norm=norm, activation=activation, norm_position=position, steps=12)
    error = max_twin_error(cfg, seeds=(0, 1))
    assert error <= TOLERANCE, f"max error {error:.3g}"


def test_twin_holds_for_cumulative_batch_norm_averages(engine_in_float64):
    error = max_twin_error(SMALL.replace(bn_momentum=None))
    assert error <= TOLERANCE, f"max error {error:.3g}"


def test_twin_holds_when_the_batch_is_the_whole_training_set(engine_in_float64):
    error = max_twin_error(SMALL.replace(batch_size=1024, steps=5, eval_every=2))
    assert error <= TOLERANCE, f"max error {error:.3g}"


# At lr 0.8 and init gain 1.5 with no norm, seeds 1 and 2 blow up in a few steps; 0 and 3 train.
DIVERGING = TrainConfig(norm="none", optimizer="sgd", depth=4, width=32, lr=0.8, init_gain=1.5,
                        steps=40, eval_every=7)


def test_a_diverging_seed_stops_while_the_others_go_on(engine_in_float64):
    runs = train_seeds(DIVERGING, (0, 1, 2, 3), dtype=torch.float64)
    statuses = runs.status.set_index("seed")["status"]
    assert "diverged" in set(statuses) and "finished" in set(statuses), statuses.to_dict()
    error = max_twin_error(DIVERGING, seeds=(0, 1, 2, 3))
    assert error <= TOLERANCE, f"max error {error:.3g}"


def test_in_float32_each_seed_stays_close_to_the_engine():
    """Without the float64 cast: the engine as users run it, a few steps, rounding-level gaps."""
    cfg = SMALL.replace(steps=8, eval_every=4)
    runs = train_seeds(cfg, SEEDS)
    for seed in SEEDS:
        alone = engine.train(cfg.replace(seed=seed), record=False).metrics
        batched = runs.metrics[runs.metrics["seed"] == seed].reset_index(drop=True)
        for column in ("train_loss", "val_loss"):
            gap = (batched[column] - alone[column]).abs().max()
            assert gap <= 1e-5, f"seed {seed} {column}: {gap:.3g}"


def test_same_seed_gives_the_same_numbers_in_any_company():
    """A seed's metrics do not depend on which other seeds share the batch."""
    cfg = SMALL.replace(steps=10, eval_every=5)
    alone = train_seeds(cfg, (1,), dtype=torch.float64).metrics
    together = train_seeds(cfg, (0, 1, 2), dtype=torch.float64).metrics
    together = together[together["seed"] == 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone[COMPARED], together[COMPARED], rtol=0, atol=TOLERANCE)


def test_cnn_falls_back_to_a_loop_of_engine_runs():
    cfg = TrainConfig(model="cnn", depth=1, width=4, steps=3, eval_every=3)
    assert not batchable(cfg)
    runs = train_seeds(cfg, (0, 1))
    assert not runs.batched
    alone = engine.train(cfg.replace(seed=1), record=False).metrics
    batched = runs.metrics[runs.metrics["seed"] == 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(batched[COMPARED], alone[COMPARED])


def test_batch_norm_at_batch_size_one_is_refused_as_by_the_engine():
    with pytest.raises(ConfigError):
        train_seeds(SMALL.replace(batch_size=1), (0, 1))


def test_seeds_must_be_distinct():
    with pytest.raises(ValueError, match="distinct"):
        train_seeds(SMALL, (0, 0))


def test_final_values_leave_out_the_diverged_seeds():
    runs = train_seeds(DIVERGING, (0, 1, 2, 3))
    finished = set(runs.status.loc[runs.status["status"] == "finished", "seed"])
    values = runs.final_values("val_accuracy")
    assert set(values) == finished and 0 < len(finished) < 4


@pytest.mark.parametrize("norm", ["batch", "layer", "rms"])
def test_twin_holds_on_a_2d_toy_set_with_one_hidden_layer(engine_in_float64, norm):
    cfg = SMALL.replace(dataset="spirals", n_samples=300, depth=1, batch_size=32, norm=norm)
    error = max_twin_error(cfg)
    assert error <= TOLERANCE, f"max error {error:.3g}"
