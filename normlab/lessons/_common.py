"""What the lessons share: sweep bookkeeping, tidy frames, training a config to the end."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from normlab.config import TrainConfig
from normlab.data import Dataset
from normlab.engine import Run, prepare, set_learning_rate, stream, train_step

Progress = Callable[..., None] | None  # progress(fraction) or progress(fraction, partial)
ShouldStop = Callable[[], bool] | None

# A small network that learns digits in a few hundred steps: the base of the training sweeps.
QUICK = TrainConfig(depth=3, width=64, steps=200, eval_every=50, record_every=50)


class Sweep:
    """Progress and stop bookkeeping shared by every sweep."""

    def __init__(self, total: int, progress: Progress, should_stop: ShouldStop):
        self.total, self.done = max(total, 1), 0
        self.progress, self.should_stop = progress, should_stop

    def stopped(self) -> bool:
        return self.should_stop is not None and bool(self.should_stop())

    def advance(self, partial: Callable[[], object] | None = None) -> None:
        """One more done; `partial()`, if given, builds the result so far (a page draws it
        live), called only when there is a progress callback to report it to."""
        self.done += 1
        if self.progress is not None:
            fraction = min(self.done / self.total, 1.0)
            self.progress(fraction) if partial is None else self.progress(fraction, partial())


def frame(rows: list[dict], columns: Sequence[str]) -> pd.DataFrame:
    """A frame with these columns in this order, even when there are no rows."""
    return pd.DataFrame(rows, columns=list(columns))


def train_until_stopped(cfg: TrainConfig, should_stop: ShouldStop = None,
                        record: bool = True) -> Run:
    """engine.stream run out, closed early (status "stopped") when `should_stop()` says so."""
    runs = stream(cfg, record=record)
    run = None
    for run in runs:
        if should_stop is not None and should_stop() and run.status == "running":
            runs.close()
            break
    return run



@dataclass
class Fit:
    """A trained model with its data: what engine.train does not hand back."""

    model: nn.Module
    data: Dataset
    status: str  # finished, diverged or stopped
    losses: list[float]  # one per update
    wall_time: float
    message: str = ""
    cpu_time: float = 0.0  # thread CPU seconds: other jobs on the machine do not inflate them


def fit(cfg: TrainConfig, should_stop: ShouldStop = None,
        max_seconds: float | None = None) -> Fit:
    """Train `cfg` as engine.stream does (same setup, same `train_step`), and keep the model.

    No recorder and no periodic validation, so the model can be evaluated afterwards in both
    modes and every update's loss is kept. `should_stop()` is asked every 50 steps. With
    `max_seconds`, training also ends (status "finished") once it has used that many seconds
    of this thread's CPU time: the runs of an equal-time comparison, which on a shared machine
    wall time would hand to whichever run the other jobs slowed least.
    """
    cfg, data, model, optimizer, batches = prepare(cfg)
    losses: list[torch.Tensor] = []
    status, message = "finished", ""
    start, cpu_start = time.perf_counter(), time.thread_time()
    for step in range(cfg.steps):
        if should_stop is not None and step % 50 == 0 and should_stop():
            status = "stopped"
            break
        if max_seconds is not None and time.thread_time() - cpu_start >= max_seconds:
            break
        index = batches.next()
        set_learning_rate(optimizer, cfg, step)
        _, loss, finite = train_step(model, optimizer, data.x_train[index], data.y_train[index])
        if not finite:
            status, message = "diverged", f"the loss became {loss.item()} at step {step}"
            break
        losses.append(loss.detach())
    wall_time, cpu_time = time.perf_counter() - start, time.thread_time() - cpu_start
    return Fit(model, data, status, [float(v) for v in losses], wall_time, message, cpu_time)


def number(value) -> float:
    """None (a run that never evaluated) as NaN."""
    return math.nan if value is None else float(value)



def join(items, word: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"

