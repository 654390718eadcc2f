"""The training loop: `stream(cfg)` yields the growing Run at each snapshot; `train` runs it out."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd
import torch
import torch.nn.functional as F

from normlab.config import ConfigError, TrainConfig
from normlab.data import BatchStream, Dataset, load_dataset
from normlab.models import build_model
from normlab.recorder import Recorder, Table

METRIC_COLUMNS = ("step", "examples", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                  "wall_time")


@dataclass
class Run:
    """What a run produced: tidy frames, how it ended and why.

    status is "running" while `stream` is still going, then "finished", "diverged" (the loss
    became NaN or infinite at `diverged_at`; `message` says what to try) or "stopped" (the
    consumer closed the stream early). Frames grow while the run streams.
    """

    config: TrainConfig
    status: str = "running"
    step: int = 0  # optimizer updates done so far
    diverged_at: int | None = None
    message: str = ""
    wall_time: float = 0.0  # training seconds: not data loading, model building, or the time
    # the consumer of `stream` spent between snapshots (drawing charts)
    num_params: int = 0
    _metrics: Table = field(default_factory=lambda: Table(METRIC_COLUMNS))
    _recorder_tables: dict = field(default_factory=dict)

    def detached(self) -> Run:
        """A copy of the run as it is now, which the training thread's later steps do not
        change: what a page draws while the run trains on elsewhere."""
        return dataclasses.replace(
            self, _metrics=self._metrics.copy(),
            _recorder_tables={name: t.copy() for name, t in self._recorder_tables.items()})

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per evaluation: step, examples seen, train loss/accuracy since the last row,
        validation loss and accuracy (eval mode), wall_time in seconds since the start."""
        return self._metrics.frame

    @property
    def layer_stats(self) -> pd.DataFrame:
        """One row per (step, layer, point): mean, std, p15/p50/p85, saturated, dead, ..."""
        return self._table("stats", ("step", "layer", "point"))

    @property
    def histograms(self) -> pd.DataFrame:
        """One row per (step, layer, point, bin): bin_left, bin_right, count."""
        return self._table("histograms", ("step", "layer", "point", "bin_left", "count"))

    @property
    def gradients(self) -> pd.DataFrame:
        """One row per (step, layer): weight and output gradient norms, update:data ratio."""
        return self._table("gradients", ("step", "layer", "weight_grad_norm"))

    def _table(self, name: str, columns: tuple[str, ...]) -> pd.DataFrame:
        table = self._recorder_tables.get(name)
        return table.frame if table is not None else pd.DataFrame(columns=list(columns))

    @property
    def final(self) -> dict:
        """The last evaluation as a dict (empty before the first one)."""
        frame = self.metrics
        return {} if frame.empty else frame.iloc[-1].to_dict()

    def at_chance(self) -> bool:
        """The last evaluation is no better than guessing: validation loss within 10% of
        ln(classes) (a uniform guess) and accuracy within 10 points of 1/classes."""
        from normlab.data import NUM_CLASSES

        final, classes = self.final, NUM_CLASSES.get(self.config.dataset)
        if not final or classes is None or math.isnan(final.get("val_loss", math.nan)):
            return False
        return (final["val_loss"] >= 0.9 * math.log(classes)
                and final["val_accuracy"] <= 1 / classes + 0.1)

    def summary(self) -> dict:
        final = self.final
        return {
            "status": self.status,
            "steps_run": self.step,
            "diverged": self.status == "diverged",
            "diverged_at": self.diverged_at,
            "message": self.message,
            "final_val_accuracy": final.get("val_accuracy"),
            "final_val_loss": final.get("val_loss"),
            "final_train_loss": final.get("train_loss"),
            "wall_time": round(self.wall_time, 4),
            "num_params": self.num_params,
        }


def build_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """SGD, SGD with momentum 0.9, or Adam, at cfg.lr.

    foreach: one call per op for all parameters instead of a Python loop over them, the same
    elementwise math bit for bit (torch picks it by default on CUDA only; `fused` is not
    bit-identical).
    """
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, foreach=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9 if cfg.optimizer == "momentum" else 0.0,
                           foreach=True)


def set_learning_rate(optimizer: torch.optim.Optimizer, cfg: TrainConfig, step: int) -> None:
    """Linear warm-up: lr * (step + 1) / warmup_steps for the first warmup_steps updates, then
    lr. With warmup_steps 0 the optimizer is left as it was built."""
    if cfg.warmup_steps and step <= cfg.warmup_steps:
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps)


def set_threads(threads: int) -> None:
    """Pin torch's CPU threads for this run (0 leaves torch's default)."""
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Loss and accuracy in eval mode (batch norm uses its running statistics)."""
    was_training = model.training
    model.eval()
    logits = model(x)
    model.train(was_training)
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


class Setup(NamedTuple):
    config: TrainConfig  # validated
    data: Dataset  # on the config's device
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    batches: BatchStream


def prepare(cfg: TrainConfig) -> Setup:
    """What a run of `cfg` starts from: the same data, initial weights and batches for every
    consumer (the engine, the lessons), with torch's threads set.

    Raises:
        ConfigError: the config cannot train, or asks for a GPU that torch does not see.
    """
    cfg = cfg.validated()
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for, but torch sees no GPU here: use cpu")
    set_threads(cfg.threads)
    data = load_dataset(cfg.dataset, cfg.seed, cfg.n_samples, cfg.noise, cfg.val_fraction)
    data = data.to(cfg.device)
    model = build_model(cfg, data.input_shape, data.num_classes).to(cfg.device)
    optimizer = build_optimizer(cfg, model.parameters())
    return Setup(cfg, data, model, optimizer, BatchStream(len(data.y_train), cfg.batch_size,
                                                          cfg.seed))


class Interrupted(Exception):
    """Raised between two layers when a run's `should_stop` says so (see `interruptible`)."""


@contextlib.contextmanager
def interruptible(model: torch.nn.Module, should_stop: Callable[[], bool] | None):
    """Check `should_stop()` after every layer's forward and backward while inside, raising
    Interrupted: a Stop or a time limit reaches a run within one layer's time, even in a step
    that takes minutes. With should_stop None, nothing is hooked."""
    if should_stop is None:
        yield
        return

    def check(*_) -> None:
        if should_stop():
            raise Interrupted

    def after_forward(module, inputs, output) -> None:
        check()
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(check)  # runs when backward reaches this layer

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(after_forward) for m in leaves]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class Step(NamedTuple):
    logits: torch.Tensor  # (B, classes), or (B, vocab, A) for the transformer's A answer tokens
    loss: torch.Tensor  # the batch's mean cross-entropy
    finite: bool  # False: the loss was NaN or infinite, and no update was made


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
               y: torch.Tensor) -> Step:
    """One optimizer update on the batch (x, y): the only place a training step is written.

    `stream` and the lessons that need the trained model (normlab.lessons) both call it, so a
    change to how a step trains lands in every one of them.
    """
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    if not math.isfinite(loss.item()):  # one number out: cheaper than a torch.isfinite op
        return Step(logits, loss, False)
    for group in optimizer.param_groups:  # zero_grad(set_to_none=True) without its overhead
        for p in group["params"]:
            p.grad = None
    loss.backward()
    optimizer.step()
    return Step(logits, loss, True)


def stream(cfg: TrainConfig, record: bool = True,
           should_stop: Callable[[], bool] | None = None) -> Iterator[Run]:
    """Train `cfg`, yielding the same growing Run after every snapshot and at the end.

    A snapshot is taken every `record_every` steps (the training forward/backward of that step
    is instrumented) and validation runs every `eval_every` steps. Closing the generator stops
    training between snapshots and marks the run "stopped"; the frames so far are kept. With
    `should_stop`, it is also asked after every layer (forward and backward): once it says True
    the run ends "stopped" and is yielded a last time, within one layer's time.

    Raises:
        ConfigError: the config cannot train (e.g. batch norm with batch size 1).
    """
    cfg, data, model, optimizer, batches = prepare(cfg)
    run = Run(cfg, num_params=sum(p.numel() for p in model.parameters()))
    recorder = Recorder(model, cfg.bins, cfg.activation) if record else None
    if recorder is not None:
        run._recorder_tables = {"stats": recorder.stats, "histograms": recorder.histograms,
                                "gradients": recorder.gradients}
    start = time.perf_counter()
    losses = torch.zeros((), device=cfg.device)
    correct = torch.zeros((), device=cfg.device)
    seen = labels = 0  # batches and targets (one per example; A per sequence) since the last row

    paused = 0.0  # time the consumer held the generator between snapshots: not training time

    def elapsed() -> float:
        return time.perf_counter() - start - paused

    def log_metrics(step: int) -> None:
        val_loss, val_accuracy = evaluate(model, data.x_val, data.y_val)
        run._metrics.append(
            step=step, examples=step * batches.batch_size,
            train_loss=float(losses) / seen if seen else math.nan,
            train_accuracy=float(correct) / labels if seen else math.nan,
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
                    set_learning_rate(optimizer, cfg, step)
                    logits, loss, finite = train_step(model, optimizer, x, y)
                    if snapshot:
                        recorder.end()  # diverged: the exploded activations are the evidence
                    if not finite:
                        run.status, run.diverged_at = "diverged", step
                        run.message = _divergence_message(cfg, step, loss.item())
                        if seen:
                            log_metrics(step)  # the finite losses since the last row
                        break
                    run.step = step + 1
                    losses += loss.detach()
                    correct += (logits.detach().argmax(1) == y).sum()
                    seen, labels = seen + 1, labels + y.numel()
                    if run.step % cfg.eval_every == 0 or run.step == cfg.steps:
                        log_metrics(run.step)
                        losses.zero_(), correct.zero_()
                        seen = labels = 0
                    if snapshot and run.step < cfg.steps:
                        run.wall_time = elapsed()
                        handed_over = time.perf_counter()
                        yield run
                        paused += time.perf_counter() - handed_over
                else:
                    run.status = "finished"
        except Interrupted:  # should_stop said so, between two layers of a step
            run.status, run.message = "stopped", f"Stopped after {run.step} steps."
        run.wall_time = elapsed()
        yield run
    finally:
        if recorder is not None:
            recorder.remove()
            recorder.clear()
        if run.status == "running":
            run.status, run.message = "stopped", f"Stopped after {run.step} steps."


def _divergence_message(cfg: TrainConfig, step: int, loss: float) -> str:
    return (
        f"Training diverged at step {step}: the loss became {loss}. The updates grew too large "
        f"for the weights to recover. Try a smaller learning rate (now {cfg.lr:g}), a smaller "
        f"init gain (now {cfg.init_gain:g}), or a norm layer."
    )


def train(cfg: TrainConfig, record: bool = True) -> Run:
    """Train `cfg` to the end (or to divergence) and return the Run. See `stream`."""
    *_, run = stream(cfg, record=record)
    return run
