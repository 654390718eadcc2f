"""normlab against torch, side by side in one process: norm layers, training steps, a live run.

    python benchmarks/bench.py [--quick] [--threads N] [--json PATH] [--profile]

(a) forward+backward of each from-scratch norm over torch's native one (DyT over its plain
    autograd formula), at a large and a small float32 input;
(b) one training step of the normlab engine (`normlab.train`, amortised over a whole run, so a
    snapshot every `record_every` steps is included) over a hand-written torch loop with
    torch.nn's norms: same model shape, weights, batches, optimizer (the config's, built as
    the engine builds it) and evaluation cadence;
(c) both again on the GPU when torch sees one;
(d) the CPU seconds of one default live run: training, recording, building the live lab's
    figures at every snapshot and serializing them as Streamlit does;
(e) the multi-seed speed-up: `normlab.seeds.train_seeds` with 8 seeds over one engine run.

Timing is thread CPU time (`time.thread_time`; wall time with a synchronize on the GPU): on a
shared machine other processes then cost noise, not time. Within a repeat the contenders take
turns (the order alternates between repeats) after a warm-up, so a drifting machine hurts them
alike; every figure is a median with its interquartile range, and ratios are taken within a
repeat (paired). Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import plotly.io as pio
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout
from seeds_bench import whole_run_times  # noqa: E402  (benchmarks/ is on the path: reuse it)

import normlab  # noqa: E402
from normlab import TrainConfig, engine, norms, plots, stream, train  # noqa: E402
from normlab.data import BatchStream, load_dataset  # noqa: E402
from normlab.engine import build_optimizer  # noqa: E402
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


def clock(device: str) -> Callable[[], float]:
    """Thread CPU seconds on the CPU; wall seconds on the GPU (its kernels use no CPU time)."""
    return time.perf_counter if device == "cuda" else time.thread_time


def lockstep(contenders: dict[str, Callable[[], float | None]], repeats: int, warmup: int = 1,
             timer: Callable[[], float] = time.thread_time) -> dict[str, list[float]]:
    """Seconds of each contender in every repeat, in turns (the order alternates between
    repeats). Each call returns its own time, or None to be timed here with `timer`."""
    for call in contenders.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders.items())
    for repeat in range(repeats):
        for name, call in order if repeat % 2 == 0 else order[::-1]:
            start = timer()
            seconds = call()
            samples[name].append(seconds if seconds is not None else timer() - start)
    return samples


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile)."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def ratios(samples: dict[str, list[float]], top: str, bottom: str) -> list[float]:
    """top / bottom within each repeat: a paired ratio, immune to drift between repeats."""
    return [a / b for a, b in zip(samples[top], samples[bottom], strict=True)]


def summary(values: list[float], scale: float = 1.0) -> dict:
    q1, median, q3 = quartiles(values)
    return {"median": median * scale, "q1": q1 * scale, "q3": q3 * scale}


def forward_backward(module: nn.Module, x: torch.Tensor, grad: torch.Tensor, calls: int,
                     device: str) -> Callable[[], float]:
    """A contender: `calls` forward+backward passes (gradients of x and every parameter)."""
    inputs, sync, timer = [x, *module.parameters()], synchronizer(device), clock(device)

    def run() -> float:
        sync()
        start = timer()
        for _ in range(calls):
            torch.autograd.grad(module(x), inputs, grad)
        sync()
        return (timer() - start) / calls

    return run


def calls_for(module: nn.Module, x: torch.Tensor, grad: torch.Tensor, device: str,
              target: float) -> int:
    """How many passes make one sample last about `target` seconds."""
    single = forward_backward(module, x, grad, 1, device)
    single()  # first call pays for allocation
    return max(1, round(target / max(min(single() for _ in range(3)), 1e-7)))


# --- (a) norm layers ---------------------------------------------------------------------------
def bench_norms(device: str, repeats: int, target: float) -> list[dict]:
    rows = []
    for shape in SHAPES:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(shape, generator=generator).to(device).requires_grad_()
        grad = torch.randn(shape, generator=generator).to(device)
        for name, (ours, theirs) in norm_pairs(shape[1]).items():
            ours, theirs = ours.to(device), theirs.to(device)
            calls = calls_for(theirs, x, grad, device, target)
            samples = lockstep({"normlab": forward_backward(ours, x, grad, calls, device),
                                "torch": forward_backward(theirs, x, grad, calls, device)},
                               repeats)
            rows.append({"device": device, "shape": list(shape), "norm": name,
                         "reference": "autograd formula" if name == "DyT" else "torch.nn",
                         "normlab_ms": summary(samples["normlab"], 1e3),
                         "torch_ms": summary(samples["torch"], 1e3),
                         "ratio": summary(ratios(samples, "normlab", "torch"))})
    return rows


def print_norms(rows: list[dict], repeats: int) -> None:
    device = rows[0]["device"]
    unit = "wall" if device == "cuda" else "thread CPU"
    print(f"\n(a) forward+backward of one norm layer, float32, {device}, {unit} ms, median "
          f"[IQR] of {repeats} lockstep repeats; ratio paired within a repeat")
    print(f"{'shape':<13} {'norm':<12} {'normlab ms':>11} {'torch ms':>10} {'ratio':>7} "
          f"{'ratio IQR':>14}  (target ratio <= 1.5x)")
    for row in rows:
        shape = "x".join(map(str, row["shape"]))
        note = "  vs the plain autograd formula" if row["norm"] == "DyT" else ""
        ratio = row["ratio"]
        print(f"{shape:<13} {row['norm']:<12} {row['normlab_ms']['median']:>11.4f} "
              f"{row['torch_ms']['median']:>10.4f} {ratio['median']:>6.2f}x "
              f"[{ratio['q1']:.2f}, {ratio['q3']:.2f}]{note}")


# --- (b) training steps ------------------------------------------------------------------------
def plain_loop(cfg: TrainConfig) -> Callable[[], tuple[float, float]]:
    """A hand-written loop over torch.nn's norms, built outside the clock like the engine's.

    Same data, batches, initial weights, optimizer (the config's, as `build_optimizer` makes
    it for the engine) and evaluation cadence as `normlab.train`; no recording, no divergence
    check, no running train metrics. Returns (seconds per step, final val loss) so the two
    loops can be checked to compute the same thing.
    """
    timer = clock(cfg.device)

    def run() -> tuple[float, float]:
        data = load_dataset(cfg.dataset, cfg.seed, cfg.n_samples, cfg.noise, cfg.val_fraction)
        data = data.to(cfg.device)
        reference = build_model(cfg, data.input_shape, data.num_classes)  # for its weights
        layers: list[nn.Module] = [nn.Flatten()]
        for block in reference.blocks:
            layers += [block.linear, torch_norm(cfg.norm, cfg.width), nn.ReLU()]
        model = nn.Sequential(*layers, reference.head).to(cfg.device)
        optimizer = build_optimizer(cfg, model.parameters())
        batches = BatchStream(len(data.y_train), cfg.batch_size, cfg.seed)

        def evaluate() -> float:
            with torch.no_grad():
                model.eval()
                logits = model(data.x_val)
                model.train()
                float((logits.argmax(1) == data.y_val).float().mean())
                return float(F.cross_entropy(logits, data.y_val))

        synchronizer(cfg.device)()
        start = timer()
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
        return (timer() - start) / cfg.steps, val_loss

    return run


def engine_clock(device: str):
    """The engine's clock swapped for `clock(device)`: Run.wall_time becomes thread CPU time
    on the CPU, still leaving out data loading, model building and the consumer's pauses."""
    return mock.patch.object(engine, "time", types.SimpleNamespace(perf_counter=clock(device)))


def engine_loop(cfg: TrainConfig, record: bool, torch_norms: bool = False):
    """normlab.train; its wall_time already leaves out data loading and model building."""

    def run() -> tuple[float, float]:
        with engine_clock(cfg.device):
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
        samples = lockstep(
            {key: _keeping_val_loss(loop, val_loss, key) for key, loop in loops.items()}, repeats,
            timer=clock(device))
        row = {"device": device, "norm": norm, "steps": steps,
               **{f"{key}_ms": summary(samples[key], 1e3) for key in loops},
               "record_over_plain": summary(ratios(samples, "engine_record", "plain")),
               "engine_over_plain": summary(ratios(samples, "engine", "plain")),
               "record_over_engine": summary(ratios(samples, "engine_record", "engine")),
               "val_loss_gap": max(abs(v - val_loss["plain"]) for v in val_loss.values())}
        rows.append(row)
    return rows


def print_training(rows: list[dict], repeats: int) -> None:
    first = rows[0]
    cfg = TrainConfig()
    unit = "wall" if first["device"] == "cuda" else "thread CPU"
    print(f"\n(b) one training step, {first['device']}: digits MLP depth {cfg.depth} width "
          f"{cfg.width}, batch {cfg.batch_size}, optimizer {cfg.optimizer} (both loops), eval "
          f"every {cfg.eval_every}, snapshot every {cfg.record_every}; {unit} ms per step over "
          f"{first['steps']} steps, median of {repeats} lockstep repeats, ratios paired")
    labels = "  ".join(f"{column:>10}" for _, column, _ in TRAIN_CONTENDERS)
    print(f"{'norm':<6} {labels}  {'rec/plain':>9} {'eng/plain':>9} {'rec/eng':>8} "
          f"{'rec/plain IQR':>14} {'val gap':>8}  (target rec/plain <= 1.3x, goal 1.2x)")
    for row in rows:
        times = "  ".join(f"{row[f'{key}_ms']['median']:>10.4f}" for key, _, _ in TRAIN_CONTENDERS)
        headline = row["record_over_plain"]
        headline_iqr = f"[{headline['q1']:.2f}, {headline['q3']:.2f}]"
        print(f"{row['norm']:<6} {times}  {headline['median']:>8.2f}x "
              f"{row['engine_over_plain']['median']:>8.2f}x "
              f"{row['record_over_engine']['median']:>7.2f}x "
              f"{headline_iqr:>14} "
              f"{row['val_loss_gap']:>8.1e}")
    print("  " + "; ".join(f"{column} = {label}" for _, column, label in TRAIN_CONTENDERS))
    print("  time IQRs: " + "; ".join(
        f"{row['norm']} plain [{row['plain_ms']['q1']:.3f}, {row['plain_ms']['q3']:.3f}] "
        f"rec [{row['engine_record_ms']['q1']:.3f}, {row['engine_record_ms']['q3']:.3f}]"
        for row in rows))
    print("  val gap: largest |final val loss - plain's| (same math and batches: rounding only)")


# --- (d) a live run --------------------------------------------------------------------------
LIVE_CHARTS = ("loss_curves", "accuracy_curves", "percentile_bands", "gradient_heatmap",
               "update_ratio_heatmap")


def live_figures(run, redraw: int, builders: dict) -> list:
    """The figures pages/live_lab.py draws at one redraw: loss and accuracy every time, the
    per-layer charts every other redraw and at the end."""
    metrics = run.metrics.assign(norm=run.config.norm)
    figures = [builders["loss_curves"](metrics), builders["accuracy_curves"](metrics)]
    if not run.layer_stats.empty and (redraw % 2 == 0 or run.status != "running"):
        figures += [builders["percentile_bands"](run.layer_stats, run.config.norm),
                    builders["gradient_heatmap"](run.gradients),
                    builders["update_ratio_heatmap"](run.gradients)]
    return figures


def as_streamlit_sends(fig) -> str:
    """What st.plotly_chart does with a Figure: to_dict(), then plotly.io.to_json."""
    return pio.to_json(fig.to_dict(), validate=False)


def live_run(cfg: TrainConfig) -> dict[str, float]:
    """Thread CPU seconds of one live run, by part: training and recording (the engine's own
    clock), building the live lab's figures at every snapshot and serializing them."""
    parts = {"figures": 0.0, "serialize": 0.0}
    builders = {name: getattr(plots, name) for name in LIVE_CHARTS}
    with engine_clock("cpu"):
        for redraw, run in enumerate(stream(cfg)):
            start = time.thread_time()
            figures = live_figures(run, redraw, builders)
            built = time.thread_time()
            for fig in figures:
                as_streamlit_sends(fig)
            parts["figures"] += built - start
            parts["serialize"] += time.thread_time() - built
    return {"train_record": run.wall_time, **parts, "redraws": redraw + 1}


def bench_live_run(steps: int, repeats: int) -> dict:
    """A default live run against the same run unrecorded: recording = the difference."""
    cfg = TrainConfig(steps=steps)
    kept: list[dict] = []

    def train_only() -> float:
        with engine_clock("cpu"):
            return train(cfg, record=False).wall_time

    def recorded() -> float:
        kept.append(live_run(cfg))
        return kept[-1]["train_record"]

    samples = lockstep({"train": train_only, "live": recorded}, repeats)
    kept = kept[1:]  # the warm-up
    parts = {"training": samples["train"],
             "recording": [k["train_record"] - t for k, t in zip(kept, samples["train"])],
             "figures": [k["figures"] for k in kept], "serialize": [k["serialize"] for k in kept]}
    parts["total"] = [sum(values) for values in zip(*parts.values())]
    return {"steps": steps, "redraws": kept[0]["redraws"],
            **{name: summary(values) for name, values in parts.items()}}


def print_live_run(result: dict, repeats: int) -> None:
    print(f"\n(d) one default live run ({result['steps']} steps, {result['redraws']} redraws "
          f"of the live lab's figures), thread CPU seconds, median [IQR] of {repeats} repeats")
    for part in ("training", "recording", "figures", "serialize", "total"):
        row = result[part]
        print(f"  {part:<10} {row['median']:.3f} s [{row['q1']:.3f}, {row['q3']:.3f}]")
    print("  figures: the live lab's five charts at every snapshot, built by normlab.plots' "
          "builders; serialize: Figure.to_dict + plotly.io.to_json")


# --- (e) many seeds --------------------------------------------------------------------------
def bench_seeds(steps: int, repeats: int, looped: bool, seeds: int = 8) -> dict:
    times = whole_run_times(TrainConfig(steps=steps), seeds, repeats, looped=looped)
    one, batched, *rest = times
    result = {"seeds": seeds, "steps": steps,
              **{name: summary(values) for name, values in times.items()},
              "batched_over_one": summary(ratios(times, batched, one))}
    if rest:
        result["looped_over_batched"] = summary(ratios(times, rest[0], batched))
    return result


def print_seeds(result: dict, repeats: int) -> None:
    print(f"\n(e) {result['seeds']} seeds at the defaults ({result['steps']} steps), "
          f"thread CPU seconds, median [IQR] of {repeats} lockstep repeats")
    for name, row in result.items():
        if isinstance(row, dict):
            unit = "x" if "_over_" in name else " s"
            print(f"  {name:<30} {row['median']:>7.3f}{unit} [{row['q1']:.3f}, {row['q3']:.3f}]")


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
    train_repeats = 2 if args.quick else 9
    live_repeats = 2 if args.quick else 5
    steps = 40 if args.quick else TrainConfig().steps
    target = 0.002 if args.quick else 0.02  # seconds per timing sample in (a)

    print(f"normlab {normlab.__version__}, torch {torch.__version__}, python "
          f"{platform.python_version()}, {platform.machine()} with {os.cpu_count()} cpus, "
          f"torch.set_num_threads({torch.get_num_threads()}), load average {_load()}")
    results: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                     "quick": args.quick, "norms": [], "training": []}
    if not args.quick:
        # a fresh process's first digits run pays for warm-ups none of the contenders should
        train(TrainConfig(steps=20))
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
    results["live_run"] = bench_live_run(steps, live_repeats)
    print_live_run(results["live_run"], live_repeats)
    results["seeds"] = bench_seeds(steps, live_repeats, looped=not args.quick)
    print_seeds(results["seeds"], live_repeats)
    print(f"\nload average at the end: {_load()}")
    if args.profile:
        profile_engine(args.threads, steps)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
