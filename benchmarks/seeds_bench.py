"""What many seeds cost: 8 seeds as one batched model vs one engine run vs 8 engine runs.

    PYTHONPATH=$PWD python benchmarks/seeds_bench.py [--repeats 7] [--seeds 8] [--steps 300]

Thread CPU time (time.thread_time, one torch thread as the engine runs), so other load on a
shared machine slows the numbers less than wall time would; the three contenders run in
lockstep (A, B, C, A, B, C, ...) so drifts in load hit them alike, and the ratios are taken
within a repeat. Prints medians and IQRs. A second table times one training step (forward +
backward) of the same 8 seeds written out (normlab.seeds) against torch.func.vmap(grad(...)).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from normlab import engine
from normlab.config import TrainConfig
from normlab.seeds import StackedMLP, cross_entropy_and_grad, train_seeds


def cpu_seconds(fn) -> float:
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def summary(values) -> str:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return f"median {median:6.3f}  IQR [{q1:.3f}, {q3:.3f}]"


def whole_run_times(cfg: TrainConfig, seeds: int, repeats: int, looped: bool = True
                    ) -> dict[str, list[float]]:
    """Thread CPU seconds per repeat of: one engine run, `seeds` seeds batched (train_seeds),
    and (looped) `seeds` engine runs in turn; in lockstep after a warm-up."""
    contenders = {
        "engine, 1 seed": lambda: engine.train(cfg, record=False),
        f"batched, {seeds} seeds": lambda: train_seeds(cfg, range(seeds)),
    }
    if looped:
        contenders[f"engine, {seeds} seeds in turn"] = lambda: [
            engine.train(cfg.replace(seed=s), record=False) for s in range(seeds)]
    for fn in contenders.values():  # warm up: first-call costs (digits loading, kernels)
        fn()
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(cpu_seconds(fn))
    return times


def whole_runs(cfg: TrainConfig, seeds: int, repeats: int) -> None:
    times = whole_run_times(cfg, seeds, repeats)
    one, batched, looped = (np.array(t) for t in times.values())
    print(f"whole runs at the defaults ({cfg.steps} steps, {repeats} lockstep repeats), "
          "thread CPU seconds:")
    for name, values in times.items():
        print(f"  {name:28s} {summary(values)}")
    print(f"  batched / 1 seed             {summary(batched / one)}   (target <= 2)")
    print(f"  looped / batched             {summary(looped / batched)}")


def _vmap_loss(params: dict, x: torch.Tensor, y: torch.Tensor, depth: int) -> torch.Tensor:
    """One seed's loss, the default MLP with batch statistics (vmap cannot update buffers)."""
    h = x
    for i in range(depth):
        h = F.linear(h, params[f"blocks.{i}.linear.weight"], params[f"blocks.{i}.linear.bias"])
        mean, var = h.mean(0), h.var(0, unbiased=False)
        h = (h - mean) * torch.rsqrt(var + 1e-5) * params[f"blocks.{i}.norm.weight"]
        h = torch.relu(h + params[f"blocks.{i}.norm.bias"])
    return F.cross_entropy(F.linear(h, params["head.weight"], params["head.bias"]), y)


def one_step(cfg: TrainConfig, seeds: int, repeats: int) -> None:
    setups = [engine.prepare(cfg.replace(seed=s)) for s in range(seeds)]
    x = torch.randn(seeds, cfg.batch_size, 64)
    y = torch.randint(0, 10, (seeds, cfg.batch_size))
    stacked = StackedMLP(cfg, [s.model for s in setups], torch.float32)
    params = {name: torch.stack([s.model.state_dict()[name] for s in setups])
              for name, _ in setups[0].model.named_parameters()}
    vmapped = torch.func.vmap(torch.func.grad(_vmap_loss), in_dims=(0, 0, 0, None))
    single = setups[0]

    def written_out():
        logits, tape = stacked(x, keep=True)
        stacked.backward(cross_entropy_and_grad(logits, y)[1], tape)

    def engine_step():
        single.model.zero_grad(set_to_none=True)
        F.cross_entropy(single.model(x[0]), y[0]).backward()

    contenders = {"engine fwd+bwd, 1 seed": engine_step,
                  f"written out, {seeds} seeds": written_out,
                  f"vmap(grad), {seeds} seeds": lambda: vmapped(params, x, y, cfg.depth)}
    times = {name: [] for name in contenders}
    for _ in range(3):
        for fn in contenders.values():
            fn()
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(cpu_seconds(lambda fn=fn: [fn() for _ in range(50)]) / 50 * 1e3)
    print(f"one training step (forward + backward), {repeats} lockstep repeats of 50, ms:")
    for name, values in times.items():
        print(f"  {name:28s} {summary(values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=TrainConfig().steps)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the engine's default (TrainConfig.threads)
    cfg = TrainConfig(steps=args.steps)
    one_step(cfg, args.seeds, args.repeats)
    whole_runs(cfg, args.seeds, args.repeats)


if __name__ == "__main__":
    main()
