"""What one run may cost on a shared class server: the cost estimate, the per-run budget that
cuts a run's steps, and the server's caps (trainings at once, runs kept, redraws). Pure.

Other modules read these as `limits.NAME` at call time, so a test can patch one in one place.
"""

from __future__ import annotations

import dataclasses
import math
import os

from normlab.config import TrainConfig
from normlab.defaults import with_cadence

# Caps. A run's cost is estimated from measurements on one CPU thread (see `estimated_seconds`).
BUDGET_SECONDS = 30.0
# The estimate above can be several times off for deep, wide runs: training stops for good
# once a run has actually trained this long.
HARD_LIMIT_SECONDS = 2 * BUDGET_SECONDS
MAX_CONCURRENT_TRAININGS = int(os.environ.get("NORMLAB_MAX_TRAININGS", os.cpu_count() or 2))
STORE_CAPACITY = 48  # finished runs kept for replay, server-wide
REDRAWS_PER_SECOND = 8.0


def estimated_seconds(cfg: TrainConfig) -> float:
    """Rough single-thread time of a run: multiply-adds at ~6 GFLOP/s plus ~0.5 ms per layer-step.

    Measured on a 2-core CPU: an MLP of 6 x 512 at batch 512 ran 50 steps in 6.6 s; 64 layers
    of 64 units ran 100 steps in 3.5 s; the CNN's 3x3 convolutions over 8x8 images cost 576x
    an MLP layer of the same width.
    """
    if cfg.model == "transformer":  # 16 tokens, 12 width² per token and block (attention 4,
        # feed-forward 8); ~3 ms per block-step of overhead (measured: 4 blocks of 64 at batch 32
        # ran 150 steps in 3-6 s, 6 blocks at batch 64 ran 200 in 17-22 s, on a shared 2-core CPU)
        multiply_adds = cfg.batch_size * 16 * cfg.depth * 12 * cfg.width**2
        return cfg.steps * (multiply_adds / 6e9 + cfg.depth * 3e-3)
    multiply_adds = cfg.batch_size * cfg.depth * cfg.width**2 * (576 if cfg.model == "cnn" else 1)
    per_step = multiply_adds / 6e9 + cfg.depth * (1e-3 if cfg.model == "cnn" else 5e-4)
    return cfg.steps * per_step


def within_budget(cfg: TrainConfig) -> tuple[TrainConfig, str | None]:
    """`cfg` with its steps cut to fit BUDGET_SECONDS, and a note saying so (None if it fit)."""
    seconds = estimated_seconds(cfg)
    if seconds <= BUDGET_SECONDS:
        return cfg, None
    steps = max(1, math.floor(cfg.steps * BUDGET_SECONDS / seconds))
    note = (f"steps cut from {cfg.steps} to {steps}: each run may take about "
            f"{BUDGET_SECONDS:.0f} s of compute (this one was estimated at {seconds:.0f} s)")
    return with_cadence(dataclasses.replace(cfg, steps=steps)), note
