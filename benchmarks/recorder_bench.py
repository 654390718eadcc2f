"""`Recorder.end` before and after: both recorders watch the same training steps of one model,
and their `end()` calls alternate (A B, then B A) so both see the same load on a shared machine.

    PYTHONPATH=$PWD python benchmarks/recorder_bench.py depth=10 width=128 --steps 60

Prints the median and interquartile range of thread CPU time per `end()`, and checks that the
two recorders produced equal frames. The "before" recorder is tests/recorder_reference.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from normlab.defaults import DEFAULT_CONFIG
from normlab.engine import prepare
from normlab.recorder import Recorder

ROOT = Path(__file__).resolve().parents[1]


def reference_recorder() -> type:
    """The recorder as it was before the lean one (frozen in the tests)."""
    spec = importlib.util.spec_from_file_location("recorder_reference",
                                                  ROOT / "tests" / "recorder_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Recorder


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = statistics.quantiles(values, n=4)
    return median, q1, q3


def compare(cfg, steps: int) -> dict[str, list[float]]:
    """Thread CPU milliseconds of each recorder's `end()` over `steps` recorded steps."""
    cfg, data, model, optimizer, batches = prepare(cfg)
    recorders = {"before": reference_recorder()(model, cfg.bins, cfg.activation),
                 "after": Recorder(model, cfg.bins, cfg.activation)}
    times: dict[str, list[float]] = {name: [] for name in recorders}
    for step in range(steps):
        for recorder in recorders.values():
            recorder.begin(step)
        index = batches.next()
        loss = F.cross_entropy(model(data.x_train[index]), data.y_train[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        order = list(recorders) if step % 2 == 0 else list(reversed(recorders))
        for name in order:
            started = time.thread_time_ns()
            recorders[name].end()
            times[name].append((time.thread_time_ns() - started) / 1e6)
    for table in ("stats", "histograms", "gradients"):
        pd.testing.assert_frame_equal(getattr(recorders["before"], table).frame,
                                      getattr(recorders["after"], table).frame, check_exact=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fields", nargs="*", help="config changes as NAME=VALUE, e.g. depth=10")
    parser.add_argument("--steps", type=int, default=60, help="recorded steps to time")
    args = parser.parse_args()
    changes = {}
    for field in args.fields:
        name, _, value = field.partition("=")
        kind = type(getattr(DEFAULT_CONFIG, name))
        changes[name] = kind(value) if kind is not type(None) else value
    cfg = dataclasses.replace(DEFAULT_CONFIG, **changes)
    torch.set_num_threads(1)
    times = compare(cfg, args.steps)
    for name, values in times.items():
        median, q1, q3 = quartiles(values[2:])  # the first two warm up
        print(f"{name:>7}: recorder.end {median:6.2f} ms (IQR {q1:.2f}-{q3:.2f})")
    print("frames equal (check_exact)")


if __name__ == "__main__":
    main()
