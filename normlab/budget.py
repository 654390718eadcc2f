"""The memory a run needs, estimated from its config alone, so a server can refuse or scale down
a config before it starts (the time estimate is `appkit.estimated_seconds`).

`estimate_peak_bytes(cfg)` is an upper bound on how far one run raises a warm server's resident
memory (torch imported, the dataset loaded once): `peak_bytes_parts(cfg)` says where it goes.
The coefficients are measured (benchmarks/memory.py, fresh processes, peak RSS growth) on MLPs
and CNNs from the default to 1.5 GB (depth 64 x width 1024 x batch 1024); the estimate stays above
the measurement by at most 2x (tests/test_budget.py; 1.1-1.7x over 39 configs); the
transformer's on 10 transformers up to 3.9 GB (1.13-1.83x). The bytes per frame row were
measured with tracemalloc.
"""

from __future__ import annotations

import math

from normlab import recorder
from normlab.config import IMAGE_DATASETS, TrainConfig

FLOAT = 4  # bytes of a float32: parameters, activations and data are all float32
DIGITS = (1797, 64)  # examples and pixels (8 x 8) of the one image dataset
CLASSES = 10  # the most any dataset has (digits)
# Float tensors per parameter the optimizer keeps (momentum; Adam's two moments) or makes in a
# step (Adam: one temporary, measured).
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 3}
# Float tensors of one block's size that autograd keeps for backward or the backward pass holds
# at its peak, per norm (measured 1.3-2.6 none, 2.8-4.4 batch, 3.0-5.3 layer/rms/group, 4.6-7.3
# DyT, over MLPs and CNNs), one more for GELU, which keeps its input.
TENSORS_PER_BLOCK = {"none": 2.5, "batch": 4.0, "layer": 4.5, "rms": 4.5, "group": 4.5,
                     "dyt": 7.5}
GELU_TENSORS = 1.0
EVAL_TENSORS = 5  # tensors of the validation set's size alive at once in an evaluation
# (measured 3.9-4.2)
RECORDER_BYTES_PER_VALUE = 36  # the recorder's work on a group of values (float32 and float64
# copies, sorted rows, bin indices, masks), beside the group's tensors it holds (float32)
HISTOGRAM_ROW_BYTES = 180  # one histogram row kept as Python lists plus its DataFrame
STATS_ROW_BYTES = 420  # one layer-statistics row, the same way
FIXED_BYTES = 48 * 2**20  # allocator arenas, first-call buffers: measured 32 MB at the default
# The transformer's sequences (normlab.data: a prompt of 8 digits, "=", the answer but its last
# token; 11 tokens; 8 answer logits), kept here so that the app's limits need no torch.
TOKENS, ANSWER, VOCAB = 16, 8, 11
# The transformer, fitted on 10 configs (benchmarks/memory.py; depth 2-8, width 64-512, batch
# 8-512, 2-16 heads, every norm, 200-50,000 sequences) so that the estimate is 1.13-1.83x the
# measured peak: (batch, tokens, width) tensors a block keeps for backward or holds at the
# peak of backward (norms, q, k, v, the residual sums, the 4x-wide feed-forward: 2 of them
# each), and (batch, heads, tokens, tokens) attention-score tensors a block keeps.
TRANSFORMER_TENSORS_PER_BLOCK = {"none": 20.0, "layer": 22.0, "rms": 22.0, "dyt": 24.0}
ATTENTION_SCORES = 1.0
# (validation, tokens, width) tensors of an evaluation of the whole validation set, which
# runs with autograd on (engine.evaluate), so the forward's saved tensors stay alive
TRANSFORMER_EVAL_TENSORS = 20
# The recorder holds views of tensors autograd keeps anyway and measures one group at a time:
# three quarters of what recorder_bytes counts for an MLP covers its work (measured).
TRANSFORMER_RECORDER_SHARE = 0.75


def values_per_example(cfg: TrainConfig) -> int:
    """Values one example leaves at one (layer, point): its width, times 64 pixels in a CNN,
    times its tokens in a transformer (the feed-forward's activation is 4x wider)."""
    return cfg.width * {"cnn": DIGITS[1], "transformer": TOKENS}.get(cfg.model, 1)


def dataset_shape(cfg: TrainConfig) -> tuple[int, int]:
    """Examples and input features of the config's dataset."""
    return DIGITS if cfg.dataset in IMAGE_DATASETS else (cfg.n_samples, 2)


def parameter_count(cfg: TrainConfig) -> int:
    """Weights and biases of the model (norm parameters counted generously: two per value)."""
    _, features = dataset_shape(cfg)
    if cfg.model == "transformer":
        width = cfg.width
        # qkv, proj, expand, linear (12 C^2 + 13 C), two norms per block; embeddings, head
        block = 12 * width * width + 13 * width + (0 if cfg.norm == "none" else 4 * width)
        return (cfg.depth * block + (VOCAB + TOKENS) * width + 2 * width
                + (width + 1) * VOCAB)
    if cfg.model == "cnn":
        first, hidden = 9 * 1 * cfg.width, 9 * cfg.width * cfg.width  # 3x3 kernels
    else:
        first, hidden = features * cfg.width, cfg.width * cfg.width
    layers = first + (cfg.depth - 1) * hidden + cfg.depth * cfg.width
    norms = 0 if cfg.norm == "none" else 2 * cfg.depth * values_per_example(cfg)
    return layers + norms + (cfg.width + 1) * CLASSES


def snapshots(cfg: TrainConfig) -> int:
    """Recorded steps: every record_every-th and the last (as `engine.stream`)."""
    return math.ceil(cfg.steps / cfg.record_every) + ((cfg.steps - 1) % cfg.record_every != 0)


def recorder_bytes(cfg: TrainConfig) -> int:
    """The recorder's most: a group of (layer, point) tensors it holds until it measures them,
    and its work on them (recorder.GROUP_VALUES measured values at most)."""
    size = cfg.batch_size * values_per_example(cfg)
    if cfg.model == "transformer":  # the norms' outputs, then the 4x-wide activations
        return max(_group_bytes(size, 2 * cfg.depth), _group_bytes(4 * size, cfg.depth))
    return _group_bytes(size, 3 * cfg.depth)


def _group_bytes(size: int, tensors: int) -> int:
    """The recorder's most for `tensors` held tensors of `size` values each."""
    rows = min(tensors, recorder.rows_per_group(size))
    measured = min(size, recorder.MEASURED_VALUES)
    return rows * (size * FLOAT + measured * RECORDER_BYTES_PER_VALUE)


def peak_bytes_parts(cfg: TrainConfig) -> dict[str, int]:
    """The estimate's parts in bytes; their sum is `estimate_peak_bytes(cfg)`.

    - parameters: weights, their gradients, the optimizer's state and the recorder's copy of
      the weights before each recorded step;
    - step: the larger of a recorded training step (activations kept for backward, the
      recorder's group of tensors and its work on them) and an evaluation of the validation
      set;
    - frames: the recorded statistics and histograms, kept for the whole run;
    - data: the dataset and one batch;
    - fixed: what any run adds (allocator, first-call buffers).
    """
    cfg = cfg.validated()
    if cfg.model == "transformer":
        return transformer_parts(cfg)
    examples, features = dataset_shape(cfg)
    per_example = values_per_example(cfg)
    params = parameter_count(cfg) * FLOAT * (3 + OPTIMIZER_STATES[cfg.optimizer])
    activations = cfg.depth * cfg.batch_size * per_example * FLOAT
    tensors = TENSORS_PER_BLOCK[cfg.norm] + GELU_TENSORS * (cfg.activation == "gelu")
    training = round(activations * tensors) + recorder_bytes(cfg)
    validation = max(1, round(examples * cfg.val_fraction))
    evaluation = validation * per_example * FLOAT * EVAL_TENSORS
    rows = 3 * cfg.depth * snapshots(cfg)
    frames = rows * (cfg.bins * HISTOGRAM_ROW_BYTES + STATS_ROW_BYTES)
    data = (examples + cfg.batch_size) * (features * FLOAT + 8)  # inputs and int64 labels
    return {"parameters": params, "step": max(training, evaluation), "frames": frames,
            "data": data, "fixed": FIXED_BYTES}


def transformer_parts(cfg: TrainConfig) -> dict[str, int]:
    """peak_bytes_parts for the transformer: the step keeps each block's (batch, tokens, width)
    tensors and its attention scores (batch, heads, tokens, tokens); an evaluation runs the
    whole validation set at once; the data are token ids (int64)."""
    params = parameter_count(cfg) * FLOAT * (3 + OPTIMIZER_STATES[cfg.optimizer])
    tokens = cfg.batch_size * TOKENS * cfg.width  # one (batch, tokens, width) tensor's values
    scores = cfg.batch_size * cfg.heads * TOKENS * TOKENS
    tensors = TRANSFORMER_TENSORS_PER_BLOCK[cfg.norm] + 4 * GELU_TENSORS * (cfg.activation
                                                                            == "gelu")
    training = (cfg.depth * FLOAT * round(tokens * tensors + scores * ATTENTION_SCORES)
                + round(TRANSFORMER_RECORDER_SHARE * recorder_bytes(cfg)))
    validation = max(1, round(cfg.n_samples * cfg.val_fraction))
    evaluation = validation * FLOAT * (TOKENS * cfg.width * TRANSFORMER_EVAL_TENSORS
                                       + cfg.heads * TOKENS * TOKENS * ATTENTION_SCORES)
    rows = 3 * cfg.depth * snapshots(cfg)
    frames = rows * (cfg.bins * HISTOGRAM_ROW_BYTES + STATS_ROW_BYTES)
    data = (cfg.n_samples + cfg.batch_size) * (TOKENS + ANSWER) * 8  # int64 tokens
    return {"parameters": params, "step": max(training, evaluation), "frames": frames,
            "data": data, "fixed": FIXED_BYTES}


def estimate_peak_bytes(cfg: TrainConfig) -> int:
    """Upper bound on the resident memory one run of `cfg` adds to a warm server, in bytes."""
    return sum(peak_bytes_parts(cfg).values())


def sampling_note(cfg: TrainConfig) -> str | None:
    """What the app can show when the recorder will measure a sample, not every value."""
    values = cfg.batch_size * values_per_example(cfg)
    if values <= recorder.MEASURED_VALUES:
        return None
    return (f"Each layer's statistics and histograms come from a random sample of "
            f"{recorder.MEASURED_VALUES:,} of its {values:,} values per snapshot (saturated and "
            f"dead fractions count every value).")
