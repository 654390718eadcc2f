"""normlab's norm layers against torch's and against an older normlab, fwd+bwd, in lockstep.

    python benchmarks/norms_bench.py [--repeats 41] [--old REV] [--target-ms 20]

For BatchNorm1d, LayerNorm and RMSNorm at (64, 128), the lab's default width, and (2048, 1024),
float32, one forward + backward pass (gradients of the input and of every parameter) of:
``native`` (torch.nn), ``new`` (this checkout's normlab) and ``old`` (normlab.functional and
normlab.norms as of git revision REV, default ``main``). Also the floor every hand-written
backward pays: an autograd Function whose forward and backward do nothing.

Timing: thread CPU time (``time.thread_time_ns``), one thread, so other processes on a shared
machine cost nothing but noise. The contenders take turns inside each repeat (the order rotates)
and each sample is many calls long; a figure is the median over repeats, with the interquartile
range. Ratios are taken within a repeat (paired), then summarised the same way.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmark this checkout
from normlab import norms  # noqa: E402

SHAPES = ((64, 128), (2048, 1024))
NORMS = ("BatchNorm1d", "LayerNorm", "RMSNorm")


def old_norms(rev: str) -> types.ModuleType | None:
    """normlab.norms as of git revision `rev`, running on that revision's functional.py."""

    def module_at(path: str, name: str, replacements: dict[str, str]) -> types.ModuleType:
        source = subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        for old, new in replacements.items():
            source = source.replace(old, new)
        module = types.ModuleType(name)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name
        exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
        return module

    try:
        module_at("normlab/functional.py", "old_functional", {})
        return module_at(
            "normlab/norms.py",
            "old_norms",
            {"from normlab import functional as NF": "import old_functional as NF"},
        )
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        print(f"(no old implementation: {error})")
        return None


class NoOp(torch.autograd.Function):
    """Forward and backward that do nothing: what any autograd Function costs at the least."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class NoOpLayer(nn.Module):
    def forward(self, x):
        return NoOp.apply(x)


def fwd_bwd(
    layer: nn.Module, x: torch.Tensor, grad: torch.Tensor, calls: int
) -> Callable[[], float]:
    """A contender: `calls` forward+backward passes; returns thread CPU seconds per pass."""
    inputs = [x, *layer.parameters()]

    def run() -> float:
        start = time.thread_time_ns()
        for _ in range(calls):
            torch.autograd.grad(layer(x), inputs, grad)
        return (time.thread_time_ns() - start) * 1e-9 / calls

    return run


def forward_no_grad(layer: nn.Module, x: torch.Tensor, grad, calls: int) -> Callable[[], float]:
    """A contender: `calls` forward passes in eval mode under torch.no_grad (evaluation)."""

    def run() -> float:
        layer.eval()
        start = time.thread_time_ns()
        with torch.no_grad():
            for _ in range(calls):
                layer(x)
        seconds = (time.thread_time_ns() - start) * 1e-9 / calls
        layer.train()
        return seconds

    return run


def lockstep(contenders: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Per-pass seconds of every contender in every repeat; the order rotates each repeat."""
    for run in contenders.values():
        run()  # warm-up: allocator, first-call caches
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(contenders[name]())
    return samples


def median_iqr(values: list[float]) -> tuple[float, float]:
    q1, median, q3 = statistics.quantiles(values, n=4)
    return median, q3 - q1


def calls_for(run_once: Callable[[], float], target: float) -> int:
    """How many passes make one sample last about `target` seconds."""
    run_once()
    return max(1, round(target / max(min(run_once() for _ in range(3)), 1e-7)))


def layers(name: str, features: int, old: types.ModuleType | None) -> dict[str, nn.Module]:
    made = {"native": getattr(nn, name)(features), "new": getattr(norms, name)(features)}
    if old is not None:
        made["old"] = getattr(old, name)(features)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument("--old", default="main", help="git revision of the 'old' normlab")
    parser.add_argument("--target-ms", type=float, default=20.0, help="length of one sample")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    old = old_norms(args.old)
    print(
        f"torch {torch.__version__}, torch.set_num_threads(1), thread CPU time, "
        f"{args.repeats} repeats in lockstep; median [IQR]"
    )
    print(
        f"{'shape':<10} {'norm, pass':<21} {'native us':>16} {'new us':>16} {'old us':>16} "
        f"{'new/native':>14} {'old/native':>14} {'new/old':>14}"
    )
    for shape in SHAPES:
        x = torch.randn(shape, requires_grad=True)
        grad = torch.randn(shape)
        floor = NoOpLayer()
        once = fwd_bwd(floor, x, grad, 1)
        samples = lockstep(
            {"noop": fwd_bwd(floor, x, grad, calls_for(once, args.target_ms / 1e3))}, args.repeats
        )
        med, iqr = median_iqr(samples["noop"])
        print(
            f"{'x'.join(map(str, shape)):<10} {'no-op Function fwd+bwd':<21} {med * 1e6:>9.1f} "
            f"[{iqr * 1e6:4.1f}]"
        )
        for name in NORMS:
            for pass_name, contender in (("fwd+bwd", fwd_bwd), ("eval fwd", forward_no_grad)):
                contenders = {}
                for label, layer in layers(name, shape[1], old).items():
                    calls = calls_for(contender(layer, x, grad, 1), args.target_ms / 1e3)
                    contenders[label] = contender(layer, x, grad, calls)
                print_row(shape, f"{name} {pass_name}", lockstep(contenders, args.repeats))


def print_row(shape: tuple[int, int], what: str, samples: dict[str, list[float]]) -> None:
    cells = []
    for label in ("native", "new", "old"):
        if label in samples:
            med, iqr = median_iqr(samples[label])
            cells.append(f"{med * 1e6:>9.1f} [{iqr * 1e6:4.1f}]")
        else:
            cells.append(f"{'-':>16}")
    for top, bottom in (("new", "native"), ("old", "native"), ("new", "old")):
        if top in samples and bottom in samples:
            ratios = [a / b for a, b in zip(samples[top], samples[bottom])]
            med, iqr = median_iqr(ratios)
            cells.append(f"{med:>6.2f}x [{iqr:4.2f}]")
        else:
            cells.append(f"{'-':>14}")
    print(f"{'x'.join(map(str, shape)):<10} {what:<21} " + " ".join(cells))


if __name__ == "__main__":
    main()
