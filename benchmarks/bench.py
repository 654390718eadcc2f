"""normlab against torch, side by side in one process: norm layers, then whole training steps.

    python benchmarks/bench.py [--quick] [--threads N] [--json PATH] [--profile]

(a) forward+backward of each from-scratch norm over torch's native one (DyT over its plain
    autograd formula), at a large and a small float32 input;
(b) one training step of the normlab engine (`normlab.train`, amortised over a whole run, so a
    snapshot every `record_every` steps is included) over a hand-written torch loop with
    torch.nn's norms: same model shape, weights, batches, optimizer and evaluation cadence;
(c) both again on the GPU when torch sees one.

Every number is a median over repeats; within a repeat the contenders take turns (the order
alternates between repeats) after a warm-up, so a drifting machine hurts them alike. Not a test:
nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout
import normlab  # noqa: E402
from normlab import TrainConfig, norms, train  # noqa: E402
from normlab.data import BatchStream, load_dataset  # noqa: E402
from normlab.models import build_model  # noqa: E402

SHAPES = ((2048, 1024), (64, 128))  # a wide activation, and one as small as the lab's MLP
TRAIN_NORMS = ("none", "batch", "layer", "rms")
GROUPS = 8  # GroupNorm groups, as the registry picks for 64 or 1024 channels


class PlainDyT(nn.Module):
    """DyT as the formula autograd differentiates: the reference for normlab's DyT."""

    def __init__(self, num_features: int, alpha_init_value: float = 0.5):
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(alpha_init_value))
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * torch.tanh(self.alpha * x) + self.bias


def norm_pairs(features: int) -> dict[str, tuple[nn.Module, nn.Module]]:
    """name -> (normlab layer, the torch layer it replaces), fresh and in training mode."""
    return {
        "BatchNorm1d": (norms.BatchNorm1d(features), nn.BatchNorm1d(features)),
        "LayerNorm": (norms.LayerNorm(features), nn.LayerNorm(features)),
        "RMSNorm": (norms.RMSNorm(features), nn.RMSNorm(features)),
        "GroupNorm": (norms.GroupNorm(GROUPS, features), nn.GroupNorm(GROUPS, features)),
        "DyT": (norms.DyT(features), PlainDyT(features)),
    }


def torch_norm(name: str, features: int) -> nn.Module:
    """torch.nn's own layer for a registry name, for the plain loop."""
    return {"none": nn.Identity, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm,
            "rms": nn.RMSNorm}[name](features)


# --- timing ----------------------------------------------------------------------------------
def synchronizer(device: str) -> Callable[[], None]:
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def interleaved_medians(contenders: dict[str, Callable[[], float | None]], repeats: int,
                        warmup: int = 1) -> tuple[dict[str, float], float]:
    """Median seconds of each contender, and the spread: the largest interquartile range over
    median among them (a busy machine shows up there). Each call returns its own time, or None
    to be timed here."""
    for call in contenders.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders.items())
    for repeat in range(repeats):
        for name, call in order if repeat % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            seconds = call()
            samples[name].append(seconds if seconds is not None else time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return medians, max(_relative_iqr(values) for values in samples.values())


def _relative_iqr(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / statistics.median(values)


def forward_backward(module: nn.Module, x: torch.Tensor, grad: torch.Tensor, calls: int,
                     sync: Callable[[], None]) -> Callable[[], float]:
    """A contender: `calls` forward+backward passes (gradients of x and every parameter)."""
    inputs = [x, *module.parameters()]

    def run() -> float:
        sync()
        start = time.perf_counter()
        for _ in range(calls):
            torch.autograd.grad(module(x), inputs, grad)
        sync()
        return (time.perf_counter() - start) / calls

    return run


def calls_for(module: nn.Module, x: torch.Tensor, grad: torch.Tensor, sync, target: float) -> int:
    """How many passes make one sample last about `target` seconds."""
    single = forward_backward(module, x, grad, 1, sync)
    single()  # first call pays for allocation
    return max(1, round(target / max(min(single() for _ in range(3)), 1e-7)))


# --- (a) norm layers ---------------------------------------------------------------------------
def bench_norms(device: str, repeats: int, target: float) -> list[dict]:
    sync, rows = synchronizer(device), []
    for shape in SHAPES:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(shape, generator=generator).to(device).requires_grad_()
        grad = torch.randn(shape, generator=generator).to(device)
        for name, (ours, theirs) in norm_pairs(shape[1]).items():
            ours, theirs = ours.to(device), theirs.to(device)
            calls = calls_for(theirs, x, grad, sync, target)
            medians, spread = interleaved_medians({
                "normlab": forward_backward(ours, x, grad, calls, sync),
                "torch": forward_backward(theirs, x, grad, calls, sync),
            }, repeats)
            rows.append({"device": device, "shape": list(shape), "norm": name,
                         "reference": "autograd formula" if name == "DyT" else "torch.nn",
                         "normlab_ms": medians["normlab"] * 1e3,
                         "torch_ms": medians["torch"] * 1e3,
                         "ratio": medians["normlab"] / medians["torch"], "spread": spread})
    return rows


def print_norms(rows: list[dict], repeats: int) -> None:
    device = rows[0]["device"]
    print(f"\n(a) forward+backward of one norm layer, float32, {device}, "
          f"median of {repeats} repeats")
    print(f"{'shape':<13} {'norm':<12} {'normlab ms':>11} {'torch ms':>10} {'ratio':>7} "
          f"{'spread':>7}  (target ratio <= 1.5x)")
    for row in rows:
        shape = "x".join(map(str, row["shape"]))
        note = "  vs the plain autograd formula" if row["norm"] == "DyT" else ""
        print(f"{shape:<13} {row['norm']:<12} {row['normlab_ms']:>11.4f} "
              f"{row['torch_ms']:>10.4f} {row['ratio']:>6.2f}x {row['spread']:>6.0%}{note}")


# --- (b) training steps ------------------------------------------------------------------------
def plain_loop(cfg: TrainConfig) -> Callable[[], tuple[float, float]]:
    """A hand-written loop over torch.nn's norms, built outside the clock like the engine's.

    Same data, batches, initial weights, optimizer and evaluation cadence as `normlab.train`;
    no recording, no divergence check, no running train metrics. Returns (seconds per step,
    final val loss) so the two loops can be checked to compute the same thing.
    """

    def run() -> tuple[float, float]:
        data = load_dataset(cfg.dataset, cfg.seed, cfg.n_samples, cfg.noise, cfg.val_fraction)
        data = data.to(cfg.device)
        reference = build_model(cfg, data.input_shape, data.num_classes)  # for its weights
        layers: list[nn.Module] = [nn.Flatten()]
        for block in reference.blocks:
            layers += [block.linear, torch_norm(cfg.norm, cfg.width), nn.ReLU()]
        model = nn.Sequential(*layers, reference.head).to(cfg.device)
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
        batches = BatchStream(len(data.y_train), cfg.batch_size, cfg.seed)

        def evaluate() -> float:
            with torch.no_grad():
                model.eval()
                logits = model(data.x_val)
                model.train()
                float((logits.argmax(1) == data.y_val).float().mean())
                return float(F.cross_entropy(logits, data.y_val))

        synchronizer(cfg.device)()
        start = time.perf_counter()
        val_loss = evaluate()
        for step in range(1, cfg.steps + 1):
            index = batches.next()
            loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % cfg.eval_every == 0 or step == cfg.steps:
                val_loss = evaluate()
        synchronizer(cfg.device)()
        return (time.perf_counter() - start) / cfg.steps, val_loss

    return run


def engine_loop(cfg: TrainConfig, record: bool, torch_norms: bool = False):
    """normlab.train; its wall_time already leaves out data loading and model building."""

    def run() -> tuple[float, float]:
        if torch_norms:  # the engine as it is, with torch.nn's layers in place of normlab's
            with mock.patch("normlab.models.build_norm", torch_norm):
                result = train(cfg, record=record)
        else:
            result = train(cfg, record=record)
        assert result.status == "finished", result.message
        return result.wall_time / result.step, result.final["val_loss"]

    return run


TRAIN_CONTENDERS = (  # key, column, what it is
    ("plain", "plain", "plain torch loop"),
    ("engine_torch_norms", "eng+torchN", "engine, record off, torch.nn norms"),
    ("engine", "engine", "engine, record off"),
    ("engine_record", "eng+rec", "engine, record on"),
)


def _keeping_val_loss(loop, val_loss: dict[str, float], key: str) -> Callable[[], float]:
    """The loop as a contender: returns its seconds per step, stores its final val loss."""

    def call() -> float:
        seconds, val_loss[key] = loop()
        return seconds

    return call


def bench_training(device: str, threads: int, steps: int, repeats: int) -> list[dict]:
    rows = []
    for norm in TRAIN_NORMS:
        cfg = TrainConfig(norm=norm, steps=steps, threads=threads, device=device)
        loops = {"plain": plain_loop(cfg),
                 "engine_torch_norms": engine_loop(cfg, record=False, torch_norms=True),
                 "engine": engine_loop(cfg, record=False),
                 "engine_record": engine_loop(cfg, record=True)}
        val_loss: dict[str, float] = {}
        medians, spread = interleaved_medians(
            {key: _keeping_val_loss(loop, val_loss, key) for key, loop in loops.items()}, repeats
        )
        row = {"device": device, "norm": norm, "steps": steps,
               **{f"{key}_ms": medians[key] * 1e3 for key in loops},
               "spread": spread,
               "val_loss_gap": max(abs(v - val_loss["plain"]) for v in val_loss.values())}
        row["record_over_plain"] = medians["engine_record"] / medians["plain"]
        row["engine_over_plain"] = medians["engine"] / medians["plain"]
        row["record_over_engine"] = medians["engine_record"] / medians["engine"]
        rows.append(row)
    return rows


def print_training(rows: list[dict], repeats: int) -> None:
    first = rows[0]
    cfg = TrainConfig()
    print(f"\n(b) one training step, {first['device']}: digits MLP depth {cfg.depth} width "
          f"{cfg.width}, batch {cfg.batch_size}, {cfg.optimizer} SGD, eval every "
          f"{cfg.eval_every}, snapshot every {cfg.record_every}; ms per step over "
          f"{first['steps']} steps, median of {repeats} repeats")
    labels = "  ".join(f"{column:>10}" for _, column, _ in TRAIN_CONTENDERS)
    print(f"{'norm':<6} {labels}  {'rec/plain':>9} {'eng/plain':>9} {'rec/eng':>8} "
          f"{'spread':>6} {'val gap':>8}  (target rec/plain <= 1.3x, aim 1.15x)")
    for row in rows:
        times = "  ".join(f"{row[f'{key}_ms']:>10.4f}" for key, _, _ in TRAIN_CONTENDERS)
        print(f"{row['norm']:<6} {times}  {row['record_over_plain']:>8.2f}x "
              f"{row['engine_over_plain']:>8.2f}x {row['record_over_engine']:>7.2f}x "
              f"{row['spread']:>6.0%} {row['val_loss_gap']:>8.1e}")
    print("  " + "; ".join(f"{column} = {label}" for _, column, label in TRAIN_CONTENDERS))
    print("  spread: largest interquartile range / median of the four")
    print("  val gap: largest |final val loss - plain's| (same math and batches: rounding only)")


def profile_engine(threads: int, steps: int, top: int = 15) -> None:
    """Where one recorded run of the default config spends its time (cProfile, by own time)."""
    import cProfile
    import pstats

    cfg = TrainConfig(steps=steps, threads=threads)
    train(cfg)  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    run = train(cfg)
    profiler.disable()
    print(f"\nprofile: normlab.train(TrainConfig(steps={steps})) with recording, "
          f"{run.wall_time * 1e3 / run.step:.3f} ms per step (slower under the profiler)")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def _load() -> str:
    """The 1-minute load average: other work on the machine makes every number noisier."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "unknown"


# --- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repeats and steps (smoke test)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument("--profile", action="store_true",
                        help="also profile one recorded run of the default config")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else 15
    train_repeats = 2 if args.quick else 7
    steps = 40 if args.quick else TrainConfig().steps
    target = 0.002 if args.quick else 0.02  # seconds per timing sample in (a)

    print(f"normlab {normlab.__version__}, torch {torch.__version__}, python "
          f"{platform.python_version()}, {platform.machine()} with {os.cpu_count()} cpus, "
          f"torch.set_num_threads({torch.get_num_threads()}), load average {_load()}")
    results: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                     "quick": args.quick, "norms": [], "training": []}
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    for device in devices:
        if device == "cuda":
            print(f"\n(c) GPU: {torch.cuda.get_device_name()}")
        norm_rows = bench_norms(device, repeats, target)
        print_norms(norm_rows, repeats)
        train_rows = bench_training(device, args.threads, steps, train_repeats)
        print_training(train_rows, train_repeats)
        results["norms"] += norm_rows
        results["training"] += train_rows
    if "cuda" not in devices:
        print("\n(c) GPU: skipped, torch sees no CUDA device here")
    print(f"\nload average at the end: {_load()}")
    if args.profile:
        profile_engine(args.threads, steps)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
