"""The transformer page's default experiment: CPU seconds per run and runs per result, the
defaults before issue 14 against today's, in thread CPU time, side by side.

    python benchmarks/transformer_bench.py [--repeats 5]

Each repeat trains one run of each setup (pre-LN layer norm, no warm-up; the order alternates
between repeats, after a warm-up run of each) with `normlab.lessons._common.fit`, the loop the
lesson uses. Prints the median and IQR of the per-run CPU seconds, the runs each page result
needs, and their product: the CPU seconds before a student sees that result. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout
from normlab.lessons import transformer as lesson  # noqa: E402
from normlab.lessons._common import fit  # noqa: E402

# The page before issue 14: 2 seeds, 100 steps, warm-up 50, three norms raced, 4 x 64, one
# button for everything: 2 x (4 settings + 2 budgets x 3 norms) = 20 runs before any result.
BEFORE = lesson.TRANSFORMER_QUICK.replace(width=64, steps=100, eval_every=25, record_every=25)
BEFORE_RUNS = {"first result (everything)": 2 * (4 + 2 * 3)}
AFTER = lesson.TRANSFORMER_QUICK
AFTER_RUNS = {"first result (warm-up)": 4 * lesson.SEEDS,
              "second button (race)": 2 * 3 * lesson.SEEDS}


def cpu_seconds(cfg) -> float:
    start = time.thread_time()
    fit(cfg)
    return time.thread_time() - start


def quartiles(values: list[float]) -> str:
    q1, median, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return f"{statistics.median(values):.2f} s [IQR {q1:.2f}, {q3:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"threads 1, load average {os.getloadavg()[0]:.1f}, {args.repeats} repeats")
    setups = {"before": BEFORE, "after": AFTER}
    for cfg in setups.values():
        fit(cfg.replace(steps=5))  # warm-up: torch's kernels, the data
    times = {name: [] for name in setups}
    for repeat in range(args.repeats):
        for name in (list(setups) if repeat % 2 == 0 else list(setups)[::-1]):
            times[name].append(cpu_seconds(setups[name]))
    for name, runs in (("before", BEFORE_RUNS), ("after", AFTER_RUNS)):
        cfg, per_run = setups[name], statistics.median(times[name])
        print(f"{name}: depth {cfg.depth}, width {cfg.width}, {cfg.steps} steps: "
              f"{quartiles(times[name])} CPU per run")
        for result, count in runs.items():
            print(f"  {result}: {count} runs, about {count * per_run:.0f} CPU s")
    ratios = [b / a for b, a in zip(times["before"], times["after"])]
    print(f"per-run ratio before/after (paired): {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
