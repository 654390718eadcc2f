"""The memory estimate: a pure function of the config, an upper bound on measured peak memory."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch.nn.functional as F

from normlab import budget
from normlab.config import TrainConfig
from normlab.defaults import DEFAULT_CONFIG
from normlab.engine import prepare
from normlab.recorder import Recorder

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30
# Moderate runs (100-400 MB, a second or two each): an MLP, a DyT one (the norm that keeps the
# most for backward), a CNN, and one whose evaluation of a large validation set is the peak.
MEASURED = ["depth=8,width=512,batch_size=512",
            "depth=8,width=256,batch_size=1024,norm=dyt,activation=tanh",
            "model=cnn,depth=4,width=64,batch_size=128,norm=layer",
            "dataset=spirals,n_samples=50000,val_fraction=0.9,depth=2,width=512,batch_size=64"]


def assert_upper_bound_within_2x(configs: list[str], timeout: float) -> None:
    """benchmarks/memory.py measures each config's peak: the estimate is 1-2x of it."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "memory.py"), "--json", "--cap-gb", "4",
         *configs], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for row in json.loads(result.stdout):
        ratio = row["estimate"] / row["growth"]
        assert 1.0 <= ratio <= 2.0, (row["config"], row["growth"] / 2**20, ratio)


@pytest.mark.slow
def test_estimate_is_an_upper_bound_within_2x_of_the_measured_peak():
    assert_upper_bound_within_2x(MEASURED, timeout=180)


def test_parts_add_up_to_the_estimate():
    parts = budget.peak_bytes_parts(DEFAULT_CONFIG)
    assert sum(parts.values()) == budget.estimate_peak_bytes(DEFAULT_CONFIG)
    assert all(value > 0 for value in parts.values())


@pytest.mark.parametrize("field", ["depth", "width", "batch_size"])
def test_estimate_grows_with_the_size_of_the_model_and_batch(field):
    cfg = TrainConfig(depth=8, width=128, batch_size=128)
    bigger = cfg.replace(**{field: 2 * getattr(cfg, field)})
    assert budget.estimate_peak_bytes(bigger) > budget.estimate_peak_bytes(cfg)


def test_the_hostile_link_is_estimated_in_gigabytes_and_the_default_in_megabytes():
    hostile = TrainConfig(depth=64, width=1024, batch_size=1024, steps=100_000)
    assert budget.estimate_peak_bytes(DEFAULT_CONFIG) < 0.2 * GIB
    assert budget.estimate_peak_bytes(hostile.replace(steps=2)) > 2 * GIB
    # Recording every 10th of 100,000 steps keeps 10,000 snapshots of 192 histograms.
    assert budget.peak_bytes_parts(hostile)["frames"] > 10 * GIB


def test_sampling_note_says_when_the_recorder_measures_a_sample():
    small = TrainConfig(model="cnn", depth=2, width=16, batch_size=64)  # 65,536 values a layer
    large = small.replace(width=128, batch_size=256)  # 2,097,152 values a layer
    assert budget.sampling_note(small) is None
    assert "random sample of 1,048,576 of its 2,097,152 values" in budget.sampling_note(large)
    for cfg in (small, large):
        cfg, data, model, _, batches = prepare(cfg)
        recorder = Recorder(model, cfg.bins, cfg.activation)
        recorder.begin(step=0)
        index = batches.next()
        F.cross_entropy(model(data.x_train[index]), data.y_train[index]).backward()
        recorder.end()
        assert bool(recorder.sampled) == (budget.sampling_note(cfg) is not None)


# Transformers of 100-450 MB: every norm, 2 to 16 heads, GELU, a deep narrow one.
TRANSFORMER_MEASURED = [
    "model=transformer,dataset=reverse,norm=rms,depth=4,width=256,batch_size=256,heads=4",
    "model=transformer,dataset=reverse,norm=dyt,depth=2,width=128,batch_size=512,heads=8,"
    "activation=gelu",
    "model=transformer,dataset=sort,norm=none,depth=8,width=64,batch_size=128,heads=16"]


@pytest.mark.slow
def test_the_transformer_estimate_is_an_upper_bound_within_2x_of_the_measured_peak():
    assert_upper_bound_within_2x(TRANSFORMER_MEASURED, timeout=600)


TRANSFORMER = TrainConfig(model="transformer", dataset="reverse", norm="layer")


def test_the_transformer_estimate_counts_the_models_own_parameters_and_sequences():
    from normlab import data

    assert (budget.TOKENS, budget.ANSWER, budget.VOCAB) == (
        2 * data.DIGITS, data.ANSWER_LENGTH["reverse"], data.VOCAB)
    for cfg in (TRANSFORMER, TRANSFORMER.replace(depth=3, width=96, heads=4, norm="none"),
                TRANSFORMER.replace(norm="dyt", norm_position="after")):
        model = prepare(cfg).model
        assert model(prepare(cfg).data.x_train[:2]).shape[1:] == (budget.VOCAB, budget.ANSWER)
        real = sum(p.numel() for p in model.parameters())
        assert real <= budget.parameter_count(cfg) <= 1.01 * real, (cfg.norm, real)


@pytest.mark.parametrize("field", ["depth", "width", "batch_size", "heads"])
def test_the_transformer_estimate_grows_with_blocks_width_batch_and_attention_heads(field):
    cfg = TRANSFORMER.replace(depth=4, width=128, batch_size=128, heads=2)
    bigger = cfg.replace(**{field: 2 * getattr(cfg, field)})
    assert budget.estimate_peak_bytes(bigger) > budget.estimate_peak_bytes(cfg)
    assert budget.peak_bytes_parts(bigger)["step"] > budget.peak_bytes_parts(cfg)["step"]
