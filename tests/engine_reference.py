"""The training loop of normlab/engine.py as it was at commit 1a410f0 (before the leaner loop),
frozen: the twin that tests/test_engine_twin.py checks every frame of the current loop against.
Only the loop and the optimizer are copied; the Run, the recorder and `prepare`'s data, model
and batches are the current ones. Do not edit."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F

from normlab.config import TrainConfig
from normlab.engine import Interrupted, Run, _divergence_message, evaluate, interruptible, prepare
from normlab.recorder import Recorder


def build_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """SGD, SGD with momentum 0.9, or Adam, at cfg.lr."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9 if cfg.optimizer == "momentum" else 0.0)


class Step(NamedTuple):
    logits: torch.Tensor
    loss: torch.Tensor
    finite: bool


def train_step(model, optimizer, x, y) -> Step:
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    if not torch.isfinite(loss):
        return Step(logits, loss, False)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return Step(logits, loss, True)


def stream(cfg: TrainConfig, record: bool = True,
           should_stop: Callable[[], bool] | None = None) -> Iterator[Run]:
    setup = prepare(cfg)
    cfg, data, model, _, batches = setup
    optimizer = build_optimizer(cfg, model.parameters())  # the old one; no state yet
    run = Run(cfg, num_params=sum(p.numel() for p in model.parameters()))
    recorder = Recorder(model, cfg.bins, cfg.activation) if record else None
    if recorder is not None:
        run._recorder_tables = {"stats": recorder.stats, "histograms": recorder.histograms,
                                "gradients": recorder.gradients}
    start = time.perf_counter()
    losses = torch.zeros((), device=cfg.device)
    correct = torch.zeros((), device=cfg.device)
    seen = 0

    paused = 0.0

    def elapsed() -> float:
        return time.perf_counter() - start - paused

    def log_metrics(step: int) -> None:
        val_loss, val_accuracy = evaluate(model, data.x_val, data.y_val)
        run._metrics.append(
            step=step, examples=step * batches.batch_size,
            train_loss=float(losses) / seen if seen else math.nan,
            train_accuracy=float(correct) / (seen * batches.batch_size) if seen else math.nan,
            val_loss=val_loss, val_accuracy=val_accuracy,
            wall_time=elapsed(),
        )

    try:
        try:
            with interruptible(model, should_stop):
                log_metrics(0)
                for step in range(cfg.steps):
                    snapshot = recorder is not None and (step % cfg.record_every == 0
                                                         or step == cfg.steps - 1)
                    if snapshot:
                        recorder.begin(step)
                    index = batches.next()
                    x, y = data.x_train[index], data.y_train[index]
                    logits, loss, finite = train_step(model, optimizer, x, y)
                    if snapshot:
                        recorder.end()
                    if not finite:
                        run.status, run.diverged_at = "diverged", step
                        run.message = _divergence_message(cfg, step, loss.item())
                        if seen:
                            log_metrics(step)
                        break
                    run.step = step + 1
                    losses += loss.detach()
                    correct += (logits.detach().argmax(1) == y).sum()
                    seen += 1
                    if run.step % cfg.eval_every == 0 or run.step == cfg.steps:
                        log_metrics(run.step)
                        losses.zero_(), correct.zero_()
                        seen = 0
                    if snapshot and run.step < cfg.steps:
                        run.wall_time = elapsed()
                        handed_over = time.perf_counter()
                        yield run
                        paused += time.perf_counter() - handed_over
                else:
                    run.status = "finished"
        except Interrupted:
            run.status, run.message = "stopped", f"Stopped after {run.step} steps."
        run.wall_time = elapsed()
        yield run
    finally:
        if recorder is not None:
            recorder.remove()
            recorder.clear()
        if run.status == "running":
            run.status, run.message = "stopped", f"Stopped after {run.step} steps."


def train(cfg: TrainConfig, record: bool = True) -> Run:
    *_, run = stream(cfg, record=record)
    return run
