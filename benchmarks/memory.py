"""Peak memory of runs, measured one process each, beside `normlab.budget`'s estimate.

    PYTHONPATH=$PWD python benchmarks/memory.py depth=32,width=512,batch_size=512
    PYTHONPATH=$PWD python benchmarks/memory.py --recorder reference --cap-gb 6 depth=32,width=512

Each argument is one config (NAME=VALUE pairs joined by commas). A fresh child process imports
normlab, loads the datasets and trains a tiny run of each model (a warm server has done all
that), then forks one process per config, which resets its peak resident memory (Linux
`clear_refs`), trains the config (2 steps, each recorded and evaluated) and reports how far its
peak resident memory rose above where it started. Each forked process may grow its address
space by at most `--cap-gb` (RLIMIT_AS), so a config that would need more fails there instead of
taking the machine's memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20


def _status(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS, VmHWM, VmSize) in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def config(text: str):
    """'depth=32,width=512' as a TrainConfig with 2 steps, each recorded and evaluated."""
    from normlab.config import TrainConfig

    changes = {"steps": 2, "record_every": 1, "eval_every": 1}
    types = {f.name: type(f.default) for f in dataclasses.fields(TrainConfig)}
    for pair in filter(None, text.split(",")):
        name, _, value = pair.partition("=")
        changes[name] = types[name](value) if types[name] in (int, float) else value
    return TrainConfig(**changes).validated()


def _measure_here(cfg, cap_bytes: int) -> dict:
    """In a forked process: train `cfg` and return its peak memory growth in bytes."""
    from normlab import engine

    limit = _status("VmSize") + cap_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # the peak resident memory (VmHWM) starts again from now
    baseline = _status("VmRSS")
    run = engine.train(cfg)
    return {"growth": _status("VmHWM") - baseline, "baseline": baseline, "status": run.status}


def child(texts: list[str], recorder: str, cap_bytes: int) -> list[dict]:
    """Warm up, then measure each config in a forked process of its own."""
    import torch

    from normlab import engine
    from normlab.data import load_dataset

    torch.set_num_threads(1)  # before any operation: no thread pool to break across fork
    if recorder == "reference":
        sys.path.insert(0, str(ROOT / "tests"))
        import recorder_reference

        engine.Recorder = recorder_reference.Recorder
    configs = [config(text) for text in texts]
    for cfg in configs:
        load_dataset(cfg.dataset, cfg.seed, cfg.n_samples, cfg.noise, cfg.val_fraction)
    for model in {cfg.model for cfg in configs}:
        for cfg in configs:
            if cfg.model == model:
                engine.train(cfg.replace(depth=1, width=4, batch_size=8, heads=1))
    results = []
    for text, cfg in zip(texts, configs):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                result = _measure_here(cfg, cap_bytes)
            except BaseException as error:  # MemoryError under the cap, mostly
                result = {"error": f"{type(error).__name__}: {error}"[:300]}
            os.write(write, json.dumps(result).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            reply = pipe.read()
        _, code = os.waitpid(pid, 0)
        result = json.loads(reply) if reply else {"error": f"killed (wait status {code})"}
        results.append({"config": text, **result})
    return results


def measure(texts: list[str], recorder: str = "current", cap_gb: float = 8.0) -> list[dict]:
    """Peak memory growth of each config (see the module docstring), from a fresh process."""
    command = [sys.executable, __file__, "--child", "--recorder", recorder,
               "--cap-gb", str(cap_gb), *texts]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help="NAME=VALUE pairs joined by commas")
    parser.add_argument("--recorder", choices=("current", "reference"), default="current",
                        help="reference: the recorder before the lean one (tests/)")
    parser.add_argument("--cap-gb", type=float, default=8.0,
                        help="how far each run may grow its address space")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.configs, args.recorder, int(args.cap_gb * 2**30))))
        return
    from normlab.budget import estimate_peak_bytes

    results = measure(args.configs, args.recorder, args.cap_gb)
    for result in results:
        result["estimate"] = estimate_peak_bytes(config(result["config"]))
    if args.json:
        print(json.dumps(results))
        return
    print(f"recorder: {args.recorder}, cap {args.cap_gb:g} GB per run")
    print(f"{'config':<52} {'measured':>10} {'estimate':>10} {'ratio':>6}")
    for result in results:
        if "error" in result:
            print(f"{result['config']:<52} {'failed':>10}  {result['error']}")
            continue
        measured, estimate = result["growth"] / MIB, result["estimate"] / MIB
        print(f"{result['config']:<52} {measured:8.0f} MiB {estimate:6.0f} MiB "
              f"{estimate / max(measured, 1):5.2f}x")


if __name__ == "__main__":
    main()
