"""The tiny transformer: its contract with the engine, causality, norm placement, what it
refuses, warm-up, the recorder on its blocks, and the CLI that trains it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from normlab import norms
from normlab.config import ConfigError, TrainConfig
from normlab.data import ANSWER_LENGTH, SEPARATOR, VOCAB, load_dataset
from normlab.defaults import fit_to_dataset, fit_to_model
from normlab.engine import build_optimizer, set_learning_rate, train
from normlab.models import Transformer, build_model

TINY = TrainConfig(model="transformer", dataset="reverse", norm="layer", depth=2, width=32,
                   heads=2, optimizer="adam", lr=3e-3, batch_size=16, steps=20, eval_every=10,
                   record_every=10)
ROOT = Path(__file__).resolve().parents[1]


def model_and_batch(cfg=TINY):
    data = load_dataset(cfg.dataset, cfg.seed, cfg.n_samples)
    return build_model(cfg, data.input_shape, data.num_classes), data.x_train[:8], data.y_train[:8]


def test_sequences_are_prompt_separator_and_the_answer_shifted():
    data = load_dataset("reverse", seed=0)
    x, y = data.x_train[0], data.y_train[0]
    prompt = x[:8]
    assert x[8] == SEPARATOR and torch.equal(y, prompt.flip(0))
    assert torch.equal(x[9:], y[:-1])  # teacher forcing: the true previous answer digits
    assert data.num_classes == VOCAB and data.input_shape == (16,)
    assert torch.equal(load_dataset("sort", seed=0).y_train[0],
                       load_dataset("sort", seed=0).x_train[0, :8].sort().values)


def test_logits_have_classes_in_dim_1_for_each_answer_position():
    model, x, y = model_and_batch()
    logits = model(x)
    assert logits.shape == (8, VOCAB, ANSWER_LENGTH["reverse"]) == (8, VOCAB, y.shape[1])
    torch.nn.functional.cross_entropy(logits, y)  # what engine.train_step computes


@pytest.mark.parametrize("position", ["before", "after"])
def test_a_later_token_never_changes_an_earlier_prediction(position):
    model, x, _ = model_and_batch(TINY.replace(norm_position=position))
    changed = x.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 10  # the input of the last answer position only
    torch.testing.assert_close(model(x)[:, :, :-1], model(changed)[:, :, :-1])
    assert not torch.allclose(model(x)[:, :, -1], model(changed)[:, :, -1])


def test_post_ln_blocks_end_on_the_norm_and_pre_ln_blocks_do_not():
    for position, normalised in (("after", True), ("before", False)):
        model, x, _ = model_and_batch(TINY.replace(norm_position=position, init_gain=3.0))
        h = model.tokens(x) + model.positions(torch.arange(x.shape[1]))
        out = model.blocks[0](h)  # (B, T, C)
        per_token_std = out.std(-1, unbiased=False)
        assert torch.allclose(per_token_std, torch.ones_like(per_token_std), atol=1e-3) == \
            normalised
        assert isinstance(model.final_norm, norms.LayerNorm) != normalised  # pre-LN ends on one


@pytest.mark.parametrize("norm, kind", [("layer", norms.LayerNorm), ("rms", norms.RMSNorm),
                                        ("dyt", norms.DyT), ("none", torch.nn.Identity)])
def test_each_block_takes_the_registry_norm(norm, kind):
    model, _, _ = model_and_batch(TINY.replace(norm=norm))
    assert isinstance(model, Transformer)
    assert all(isinstance(b.norm, kind) and isinstance(b.attention_norm, kind)
               for b in model.blocks)


@pytest.mark.parametrize("norm", ["batch", "group"])
def test_batch_and_group_norm_are_refused_with_a_reason(norm):
    with pytest.raises(ConfigError, match="later tokens"):
        TINY.replace(norm=norm)


def test_models_and_datasets_must_match_and_heads_divide_the_width():
    with pytest.raises(ConfigError, match="token sequences"):
        TINY.replace(dataset="digits")
    with pytest.raises(ConfigError, match="token sequences"):
        TrainConfig(dataset="sort").validated()
    with pytest.raises(ConfigError, match="divisible by heads"):
        TINY.replace(heads=3)


def test_choosing_the_transformer_fits_the_dataset_and_norm():
    cfg, notes = fit_to_model(TrainConfig(model="transformer"))  # batch norm on digits
    assert (cfg.dataset, cfg.norm) == ("reverse", "layer") and len(notes) == 2
    cfg.validated()
    assert fit_to_dataset(TrainConfig(dataset="sort"))[0].model == "transformer"
    assert fit_to_dataset(TINY.replace(dataset="sort"))[1] == []
    assert fit_to_model(TrainConfig()) == (TrainConfig(), [])  # the MLP's configs untouched


def test_warm_up_raises_the_learning_rate_linearly_then_holds():
    cfg = TINY.replace(warmup_steps=4, lr=0.01)
    model, _, _ = model_and_batch(cfg)
    optimizer = build_optimizer(cfg, model.parameters())
    seen = []
    for step in range(6):
        set_learning_rate(optimizer, cfg, step)
        seen.append(optimizer.param_groups[0]["lr"])
    assert seen == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01])
    set_learning_rate(optimizer, TINY.replace(lr=0.01), 0)  # no warm-up: untouched
    assert optimizer.param_groups[0]["lr"] == 0.01


def test_same_seed_same_transformer_run():
    a, b = train(TINY, record=False), train(TINY, record=False)
    assert a.metrics.drop(columns="wall_time").equals(b.metrics.drop(columns="wall_time"))


def test_the_recorder_measures_every_block_like_an_mlp_layer():
    run = train(TINY.replace(depth=3, activation="relu"))
    stats, grads = run.layer_stats, run.gradients
    assert set(stats["layer"]) == {0, 1, 2}
    assert set(stats["point"]) == {"pre_norm", "post_norm", "activation"}
    assert len(stats) == 3 * 3 * len(set(stats["step"]))
    assert stats.loc[stats["point"] == "activation", "dead"].between(0, 1).all()
    assert set(grads["layer"]) == {0, 1, 2} and grads["weight_grad_norm"].gt(0).all()
    assert not run.histograms.empty
    assert run.metrics["train_accuracy"].dropna().between(0, 1).all()  # per answer digit


def test_the_default_transformer_learns_to_reverse_in_seconds():
    run = train(TINY.replace(steps=150, depth=2, width=64), record=False)
    assert run.final["val_accuracy"] > 0.9, run.final


def test_cli_trains_a_transformer_with_rms_norm():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "normlab", "train", "--model", "transformer", "--norm", "rms",
         "--steps", "200", "--depth", "2", "--json"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "finished" and summary["steps_run"] == 200
    assert summary["config"]["dataset"] == "reverse"  # chosen for the transformer, and said so
    assert "used reverse" in done.stderr
    assert summary["final_val_accuracy"] > 0.5
