"""Runs are paired: every lesson compares norms "from the same seed", so whatever the norm,
`engine.prepare` must start from the same data, the same initial Linear/Conv weights and the
same stream of batch indices. Checked through the engine, not through BatchStream alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from normlab.config import TrainConfig
from normlab.engine import prepare
from normlab.registry import NORMS

BATCHES = 200  # more than two epochs of digits at batch size 16: permutations are redrawn too


def start(cfg: TrainConfig):
    """(training inputs, {layer name: weights}, batch indices) that a run of cfg starts from."""
    setup = prepare(cfg)
    weights = {name: [p.detach().clone() for p in module.parameters()]
               for name, module in setup.model.named_modules()
               if isinstance(module, nn.Linear | nn.Conv2d)}
    batches = [setup.batches.next() for _ in range(BATCHES)]
    return setup.data.x_train, weights, batches


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("position", ["before", "after"])
def test_same_seed_same_data_weights_and_batches_whatever_the_norm(model, position):
    base = TrainConfig(model=model, norm="none", norm_position=position, depth=3, width=8,
                       batch_size=16, steps=5, seed=7)
    x_ref, weights_ref, batches_ref = start(base)
    assert weights_ref and all(len(w) for w in weights_ref.values())
    for norm in NORMS:
        x, weights, batches = start(base.replace(norm=norm))
        assert torch.equal(x, x_ref), f"{norm}: other training data"
        assert weights.keys() == weights_ref.keys(), norm
        for name, params in weights.items():
            for p, p_ref in zip(params, weights_ref[name], strict=True):
                assert p.shape == p_ref.shape and torch.equal(p, p_ref), (
                    f"{norm}: {name} starts elsewhere, max diff {(p - p_ref).abs().max():.3g}")
        differ = [i for i, (b, b_ref) in enumerate(zip(batches, batches_ref)) if
                  not torch.equal(b, b_ref)]
        assert not differ, f"{norm}: batch {differ[0]} differs from the unnormalised run's"


def test_another_seed_changes_weights_and_batches():
    """The check above can fail: the seed does reach both."""
    base = TrainConfig(depth=2, width=8, batch_size=16, steps=5)
    _, weights, batches = start(base)
    _, weights_other, batches_other = start(base.replace(seed=1))
    assert not torch.equal(batches[0], batches_other[0])
    assert not all(torch.equal(a[0], b[0]) for a, b in
                   zip(weights.values(), weights_other.values()))
