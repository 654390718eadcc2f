"""What one live-lab redraw costs: building its five figures and serializing them, in lockstep.

    PYTHONPATH=$PWD python benchmarks/plots_bench.py [--repeats 21] [--old REV] [--steps 300]

A default run is trained once and its frames kept at every snapshot; a redraw is the live
lab's five charts (loss, accuracy, percentile bands, gradient and update-ratio heatmaps) built
from one snapshot's frames and serialized as st.plotly_chart does (Figure.to_dict, then
plotly.io.to_json). Contenders: `old` (normlab/plots/runs.py at git revision REV, default the
commit before the spec builders), `builders` (this checkout's), and `Redraw` (this checkout's
figures kept between redraws, data replaced). Each sample redraws every snapshot in turn; thread
CPU time, the contenders in lockstep (the order alternates), medians and IQRs per redraw, ratios
paired within a repeat.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import plotly.io as pio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmark this checkout
from normlab import TrainConfig, plots, stream  # noqa: E402

LIVE = ("loss_curves", "accuracy_curves", "percentile_bands", "gradient_heatmap",
        "update_ratio_heatmap")


def old_runs(rev: str) -> types.ModuleType:
    """normlab/plots/runs.py as of git revision `rev` (on this checkout's style.py)."""
    source = subprocess.run(["git", "show", f"{rev}:normlab/plots/runs.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("old_runs")
    exec(compile(source, f"{rev}:normlab/plots/runs.py", "exec"), module.__dict__)
    return module


def frames_of(run) -> dict[str, tuple]:
    metrics = run.metrics.assign(norm=run.config.norm)
    return {"loss_curves": (metrics,), "accuracy_curves": (metrics,),
            "percentile_bands": (run.layer_stats, run.config.norm),
            "gradient_heatmap": (run.gradients,), "update_ratio_heatmap": (run.gradients,)}


def sent(fig) -> str:
    """What st.plotly_chart does with a Figure."""
    return pio.to_json(fig.to_dict(), validate=False)


def redraws(builders: dict, snapshots: list[dict]):
    """A contender: every snapshot redrawn once; returns (build, serialize) seconds."""

    def run() -> tuple[float, float]:
        build = serialize = 0.0
        for frames in snapshots:
            for name, builder in builders.items():
                start = time.thread_time()
                fig = builder(*frames[name])
                built = time.thread_time()
                sent(fig)
                build += built - start
                serialize += time.thread_time() - built
        return build, serialize

    return run


def quartiles(values: list[float]) -> str:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return f"{median:7.3f}  [{q1:.3f}, {q3:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--old", default="4589fd5", help="git revision of the old builders")
    parser.add_argument("--steps", type=int, default=TrainConfig().steps)
    args = parser.parse_args()
    snapshots = [frames_of(run.detached()) for run in stream(TrainConfig(steps=args.steps))]
    old = old_runs(args.old)
    contenders = {
        f"old ({args.old})": redraws({n: getattr(old, n) for n in LIVE}, snapshots),
        "builders": redraws({n: getattr(plots, n) for n in LIVE}, snapshots),
        "Redraw": redraws({n: plots.Redraw(getattr(plots, f"{n}_spec")) for n in LIVE},
                          snapshots),
    }
    for call in contenders.values():
        call()  # warm-up
    samples = {name: [] for name in contenders}
    order = list(contenders.items())
    for repeat in range(args.repeats):
        for name, call in order if repeat % 2 == 0 else order[::-1]:
            samples[name].append(call())
    count = len(snapshots)
    print(f"one live-lab redraw (5 figures) over the {count} snapshots of a {args.steps}-step "
          f"default run, thread CPU ms per redraw, median [IQR] of {args.repeats} repeats")
    print(f"{'':<18} {'build':>22} {'serialize':>22} {'total':>22}")
    totals = {}
    for name, values in samples.items():
        build = [1e3 * b / count for b, _ in values]
        serialize = [1e3 * s / count for _, s in values]
        totals[name] = [b + s for b, s in zip(build, serialize)]
        print(f"{name:<18} {quartiles(build):>22} {quartiles(serialize):>22} "
              f"{quartiles(totals[name]):>22}")
    first = next(iter(totals))
    for name in list(totals)[1:]:
        paired = [a / b for a, b in zip(totals[name], totals[first])]
        print(f"{name} / {first}: {quartiles(paired)}")


if __name__ == "__main__":
    main()
