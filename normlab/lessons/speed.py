"""Speed: forward + backward time of each norm, normlab vs torch vs the textbook formula."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd
import torch
from torch import nn

from normlab.config import ConfigError
from normlab.engine import set_threads
from normlab.lessons._common import (
    Progress,
    ShouldStop,
    Sweep,
    frame,
)
from normlab.reference import ReferenceNorm
from normlab.registry import build_norm

# normlab: the from-scratch layers; torch: torch.nn's native kernels; naive: the formula in
# eager torch, differentiated by autograd (normlab.reference.ReferenceNorm); torch.compile:
# that formula compiled (slow to compile on CPU, so opt-in).
IMPLEMENTATIONS = ("normlab", "torch", "naive", "torch.compile")
SPEED_NORMS = ("batch", "layer", "rms")  # the three torch.nn has native kernels for


def _speed_layer(implementation: str, norm: str, features: int) -> nn.Module:
    if implementation == "normlab":
        return build_norm(norm, features)
    if implementation == "torch":
        return {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm, "rms": nn.RMSNorm}[norm](features)
    naive = ReferenceNorm(norm, features, None if norm == "rms" else 1e-5)
    return naive if implementation == "naive" else torch.compile(naive, dynamic=False)


class Timings(NamedTuple):
    times: pd.DataFrame  # one row per (implementation, norm, size)
    rms_over_layer: pd.DataFrame  # one row per (implementation, size)
    rounds: pd.DataFrame = pd.DataFrame(columns=["implementation", "size", "round", "rms_ms",
                                                 "layer_ms", "ratio"])  # one per round


TIME_COLUMNS = ("implementation", "norm", "rows", "features", "size", "device", "dtype",
                "median_ms", "min_ms", "repeats", "status")
RATIO_COLUMNS = ("implementation", "rows", "features", "size", "rms_ms", "layer_ms", "ratio")


def time_norms(
    sizes: Sequence[tuple[int, int]] = ((256, 256), (2048, 1024)),
    norms: Sequence[str] = ("batch", "layer", "rms"),
    implementations: Sequence[str] = ("normlab", "torch", "naive"),
    device: str = "cpu",
    repeats: int = 7,
    dtype: torch.dtype | str = torch.float32,
    warmup: int = 2,
    threads: int = 1,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> Timings:
    """Claim tested: "RMS norm is cheaper than layer norm" (Zhang & Sennrich: 7%-64% faster).

    Forward + backward time of one layer on an input of (rows, features), for every
    (implementation, norm, size). Each case is warmed up `warmup` times, then the repeats are
    interleaved (one of every case per round, each timed call after an untimed one) so a slow
    moment of the machine hits them all; the median is reported. On cuda every timing is
    bracketed by synchronize. CPU timings run on `threads` torch threads (0: torch's
    setting): with 1, a core busy elsewhere slows a kernel a little instead of stalling both
    threads of it (measured: medians 10x the minimum on a shared 2-core machine with 2
    threads). "torch.compile" is not in the defaults: compiling takes tens of seconds on a
    CPU; where it fails the rows say "unavailable: why".

    Returns (times, rms_over_layer, rounds). times: implementation, norm, rows, features, size
    ("2048x1024"), device, dtype, median_ms, min_ms, repeats, status ("ok" or
    "unavailable: ..."). rms_over_layer: implementation, rows, features, size, rms_ms,
    layer_ms, ratio (rms_ms / layer_ms; below 1 means RMS norm is cheaper there). rounds: the
    same ratio within each round (implementation, size, round, rms_ms, layer_ms, ratio).
    """
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for, but torch sees no GPU here: use cpu")
    for name, given, known in (("implementation", implementations, IMPLEMENTATIONS),
                               ("norm", norms, SPEED_NORMS)):
        unknown = [g for g in given if g not in known]
        if unknown:
            raise ValueError(f"unknown {name} {unknown[0]!r}; one of {', '.join(known)}")
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    generator = torch.Generator().manual_seed(0)
    inputs = {}
    for rows_, features in sizes:
        x = torch.randn(rows_, features, generator=generator).to(device, dtype)
        grad = torch.randn(rows_, features, generator=generator).to(device, dtype)
        inputs[(rows_, features)] = (x.requires_grad_(), grad)  # (rows, features) each
    cases = [(i, n, size) for size in inputs for n in norms for i in implementations]
    sweep = Sweep(len(cases) + repeats, progress, should_stop)
    threads_before = torch.get_num_threads()
    set_threads(threads)
    try:
        status, seconds = _benchmark(cases, inputs, device, dtype, warmup, repeats, sweep)
    finally:
        torch.set_num_threads(threads_before)
    rows = []
    for case in cases:
        if case not in status:
            continue  # stopped before this case was built
        implementation, norm, (rows_, features) = case
        measured = [t * 1e3 for t in seconds[case]]
        ok = status[case] == "ok" and bool(measured)
        rows.append(dict(implementation=implementation, norm=norm, rows=rows_,
                         features=features, size=f"{rows_}x{features}", device=device,
                         dtype=str(dtype).removeprefix("torch."),
                         median_ms=statistics.median(measured) if ok else math.nan,
                         min_ms=min(measured) if ok else math.nan, repeats=len(measured),
                         status=status[case]))
    times = frame(rows, TIME_COLUMNS)
    return Timings(times, rms_over_layer(times), paired_rounds(cases, status, seconds))


def _benchmark(cases, inputs, device, dtype, warmup, repeats, sweep):
    """({case: "ok" or "unavailable: ..."}, {case: [seconds per round]}), rounds interleaved."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def seconds(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> float:
        sync()
        start = time.perf_counter()
        torch.autograd.grad(layer(x), [x, *layer.parameters()], grad)  # forward + backward
        sync()
        return time.perf_counter() - start

    layers, status = {}, {}
    for case in cases:
        if sweep.stopped():
            break
        implementation, norm, size = case
        try:
            layer = _speed_layer(implementation, norm, size[1]).to(device, dtype).train()
            for _ in range(warmup):
                seconds(layer, *inputs[size])
            layers[case], status[case] = layer, "ok"
        except Exception as error:  # torch.compile fails in many ways: record why, go on
            first_line = (str(error).strip().splitlines() or [""])[0][:200]
            status[case] = f"unavailable: {type(error).__name__}: {first_line}"
        sweep.advance()
    times = {case: [] for case in cases}
    for _ in range(repeats):
        if sweep.stopped():
            break
        for case, layer in layers.items():
            seconds(layer, *inputs[case[2]])  # untimed: the case before may have left the
            times[case].append(seconds(layer, *inputs[case[2]]))  # caches full of its data
        sweep.advance()
    return status, times


ROUND_COLUMNS = ("implementation", "size", "round", "rms_ms", "layer_ms", "ratio")


def paired_rounds(cases, status, seconds) -> pd.DataFrame:
    """RMS norm's time over layer norm's within each round, per implementation and size: the
    two were timed moments apart, so a slow moment of the machine hits both (paired)."""
    rows = []
    for implementation, norm, size in cases:
        layer = (implementation, "layer", size)
        if norm != "rms" or status.get((implementation, norm, size)) != "ok" \
                or status.get(layer) != "ok":
            continue
        for i, (rms_s, layer_s) in enumerate(zip(seconds[(implementation, norm, size)],
                                                 seconds[layer])):
            rows.append(dict(implementation=implementation, size=f"{size[0]}x{size[1]}",
                             round=i, rms_ms=rms_s * 1e3, layer_ms=layer_s * 1e3,
                             ratio=rms_s / layer_s))
    return frame(rows, ROUND_COLUMNS)


def rms_over_layer(times: pd.DataFrame) -> pd.DataFrame:
    """RMS norm's median time over layer norm's, per implementation and size (ok rows only)."""
    ok = times[times["status"] == "ok"]
    keys = ["implementation", "rows", "features", "size"]
    rms = ok[ok["norm"] == "rms"].set_index(keys)["median_ms"].rename("rms_ms")
    layer = ok[ok["norm"] == "layer"].set_index(keys)["median_ms"].rename("layer_ms")
    both = pd.concat([rms, layer], axis=1, join="inner").reset_index()
    both["ratio"] = both["rms_ms"] / both["layer_ms"]
    return both.reindex(columns=list(RATIO_COLUMNS))
