"""What one run may cost on a shared class server: the time and memory estimates, the per-run
budget that cuts a run's batch or steps, and the server's caps (trainings at once, runs held
in memory, runs kept, redraws). Pure.

Other modules read these as `limits.NAME` at call time, so a test can patch one in one place.
"""

from __future__ import annotations

import dataclasses
import math
import os

from normlab.budget import estimate_peak_bytes
from normlab.config import ConfigError, TrainConfig
from normlab.defaults import with_cadence

# Caps. A run's cost is estimated from measurements on one CPU thread (see `estimated_seconds`).
BUDGET_SECONDS = 30.0
# The estimate above can be several times off for deep, wide runs: training stops for good
# once a run has actually trained this long.
HARD_LIMIT_SECONDS = 2 * BUDGET_SECONDS
MAX_CONCURRENT_TRAININGS = int(os.environ.get("NORMLAB_MAX_TRAININGS", os.cpu_count() or 2))
# Memory. One run may need at most this much at its peak (normlab.budget's estimate, an upper
# bound: measured 1.1-1.7x the real peak): a larger config has its batch size cut, with a note.
MAX_RUN_BYTES = int(float(os.environ.get("NORMLAB_MAX_RUN_GB", "1")) * 2**30)
# Runs held in memory at once (training, waiting for a turn, or paused), server-wide: a default
# run holds ~60 MB, so 64 of them fit on a 4 GB machine.
MAX_RUNS_HELD = int(os.environ.get("NORMLAB_MAX_RUNS_HELD", "64"))
# ... and their estimated peaks together; past it a new run is refused for a few seconds.
MAX_HELD_BYTES = int(float(os.environ.get("NORMLAB_MAX_HELD_GB", "8")) * 2**30)
STORE_CAPACITY = 48  # finished runs kept for replay, server-wide
REDRAWS_PER_SECOND = 8.0


def estimated_seconds(cfg: TrainConfig) -> float:
    """Rough single-thread time of a run: multiply-adds at ~6 GFLOP/s plus ~0.5 ms per layer-step.

    Measured on a 2-core CPU: an MLP of 6 x 512 at batch 512 ran 50 steps in 6.6 s; 64 layers
    of 64 units ran 100 steps in 3.5 s; the CNN's 3x3 convolutions over 8x8 images cost 576x
    an MLP layer of the same width.
    """
    multiply_adds = cfg.batch_size * cfg.depth * cfg.width**2 * (576 if cfg.model == "cnn" else 1)
    per_step = multiply_adds / 6e9 + cfg.depth * (1e-3 if cfg.model == "cnn" else 5e-4)
    return cfg.steps * per_step


def step_seconds(cfg: TrainConfig) -> float:
    """The estimated time of one step of `cfg` (a step cannot be cut short by fewer steps)."""
    return estimated_seconds(dataclasses.replace(cfg, steps=1))


def within_budget(cfg: TrainConfig) -> tuple[TrainConfig, str | None]:
    """`cfg` cut to fit one run's budgets, and a note saying what was cut (None if it fit).

    The batch size is halved while the run's peak memory would pass MAX_RUN_BYTES or one step
    alone would take more than a tenth of BUDGET_SECONDS (a step cannot be cut), then the width
    while the memory still passes (the weights themselves are too big); then the steps are cut
    to fit BUDGET_SECONDS.
    """
    try:
        cfg.validated()
    except ConfigError:
        return cfg, None  # it will not train: the page says why when it tries
    notes = []
    batch = cfg.batch_size
    while cfg.batch_size > 2 and (estimate_peak_bytes(cfg) > MAX_RUN_BYTES
                                  or step_seconds(cfg) > BUDGET_SECONDS / 10):
        cfg = dataclasses.replace(cfg, batch_size=cfg.batch_size // 2)
    if cfg.batch_size != batch:
        notes.append(f"batch size cut from {batch} to {cfg.batch_size}: each run may use "
                     f"{MAX_RUN_BYTES / 2**30:.0f} GB of memory and a tenth of its "
                     f"{BUDGET_SECONDS:.0f} s in one step")
    width = cfg.width
    while cfg.width > 8 and estimate_peak_bytes(cfg) > MAX_RUN_BYTES:  # the weights themselves
        cfg = dataclasses.replace(cfg, width=cfg.width // 2)
    if cfg.width != width:
        notes.append(f"width cut from {width} to {cfg.width}: the weights alone would pass "
                     f"the {MAX_RUN_BYTES / 2**30:.0f} GB each run may use")
    seconds = estimated_seconds(cfg)
    if seconds > BUDGET_SECONDS:
        steps = max(1, math.floor(cfg.steps * BUDGET_SECONDS / seconds))
        notes.append(f"steps cut from {cfg.steps} to {steps}: each run may take about "
                     f"{BUDGET_SECONDS:.0f} s of compute (this one was estimated at "
                     f"{seconds:.0f} s)")
        cfg = dataclasses.replace(cfg, steps=steps)
    if not notes:
        return cfg, None
    return with_cadence(cfg), "; ".join(notes)
