"""Speed: forward + backward time of each norm, normlab vs torch vs the textbook formula."""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd
import torch
from torch import nn

from normlab import stats
from normlab.config import ConfigError
from normlab.engine import set_threads
from normlab.lessons._common import (
    Progress,
    ShouldStop,
    Sweep,
    frame,
    join,
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


# RMS norm counts as cheaper only when at least 5% faster: smaller savings are within what one
# kernel launch or a cache line costs, and no reader would call them cheaper.
CHEAPER_MARGIN = 0.05
PAIRED_COLUMNS = ("implementation", "size", "n", "ratio", "low", "high", "verdict", "settle",
                  "rms_ms", "layer_ms")


def ratio_decision(ratios: Sequence[float], margin: float = CHEAPER_MARGIN) -> stats.Decision:
    """Is RMS norm's time over layer norm's below 1 - `margin`, from per-round paired ratios.

    Decided on the log ratios (a ratio of times is skewed, its log is not; 0.5x and 2x are the
    same distance from 1), reported back as ratios: the geometric mean and its 95% t interval.
    """
    d = stats.decide([math.log(r) for r in ratios], math.log(1 - margin), "below")
    ratio = stats.Decision(d.verdict, math.exp(d.effect), math.exp(d.low), math.exp(d.high),
                           d.n, 1 - margin, "below", "", d.method)
    if d.verdict != stats.NOT_SETTLED:
        return ratio
    return dataclasses.replace(ratio, settle=_what_would_settle(ratio, d))


def _what_would_settle(ratio: stats.Decision, logs: stats.Decision) -> str:
    """In ratios and rounds (stats' own sentence speaks of seeds and log ratios)."""
    interval = (f"The 95% interval [{ratio.low:.2f}×, {ratio.high:.2f}×] contains the rule's "
                f"{ratio.threshold:g}×")
    if ratio.n < 2:
        return "One round gives no interval: time at least 5 rounds."
    distance, half = abs(logs.effect - logs.threshold), (logs.high - logs.low) / 2
    if distance < 1e-3:
        return (f"{interval}, and the ratio sits on it: more rounds would only narrow the "
                f"interval around it.")
    needed = math.ceil(ratio.n * (half / distance) ** 2) + 1  # half-width shrinks as 1/sqrt(n)
    return (f"{interval}: about {needed} rounds (now {ratio.n}) would settle a ratio of "
            f"{ratio.effect:.2f}× if the spread stays as it is; a quieter machine narrows it too.")


def paired_decisions(rounds: pd.DataFrame, margin: float = CHEAPER_MARGIN
                     ) -> list[tuple[str, str, stats.Decision]]:
    """(implementation, size, decision) from time_norms' rounds, in the order they were timed."""
    return [(implementation, size, ratio_decision(group["ratio"].tolist(), margin))
            for (implementation, size), group in rounds.groupby(["implementation", "size"],
                                                                sort=False)]


def paired_ratios(rounds: pd.DataFrame, margin: float = CHEAPER_MARGIN) -> pd.DataFrame:
    """One row per (implementation, size): n rounds, the RMS/layer ratio (geometric mean over
    rounds) with its 95% interval, the verdict on "cheaper by `margin`", what would settle it,
    and each norm's median time (ms) over the same rounds."""
    rows = []
    for implementation, size, d in paired_decisions(rounds, margin):
        group = rounds[(rounds["implementation"] == implementation) & (rounds["size"] == size)]
        rows.append(dict(implementation=implementation, size=size, n=d.n, ratio=d.effect,
                         low=d.low, high=d.high, verdict=d.verdict, settle=d.settle,
                         rms_ms=group["rms_ms"].median(), layer_ms=group["layer_ms"].median()))
    return frame(rows, PAIRED_COLUMNS)


def ratio_text(row) -> str:
    """'0.44× [0.32, 0.60], n = 15' for a row of paired_ratios."""
    return f"{row['ratio']:.2f}× [{row['low']:.2f}, {row['high']:.2f}], n = {row['n']}"


def native_sentence(paired: pd.DataFrame, margin: float = CHEAPER_MARGIN) -> str:
    """What torch's own kernels did at the largest size timed, in words that follow its verdict
    ("" when torch was not timed)."""
    native = paired[paired["implementation"] == "torch"]
    if native.empty:
        return ""
    row = native.iloc[-1]
    measured = (f"On this machine, at {row['size']}, torch's native RMSNorm took "
                f"**{row['rms_ms']:.2f} ms** and its LayerNorm **{row['layer_ms']:.2f} ms** "
                f"(medians; paired ratio {ratio_text(row)})")
    if row["verdict"] == stats.HOLDS:
        return f"{measured}: here the mean that RMS norm skips does show as saved time."
    if row["verdict"] == stats.DOES_NOT_HOLD and row["low"] > 1:
        return f"{measured}: RMSNorm was slower, so less arithmetic is not automatically less time."
    if row["verdict"] == stats.DOES_NOT_HOLD:
        return (f"{measured}: no saving of {margin:.0%} or more, so less arithmetic is not "
                f"automatically less time.")
    return (f"{measured}: the rounds disagree too much to say which is cheaper here; press "
            f"Measure again or add repeats.")


def implementations_sentence(paired: pd.DataFrame) -> str:
    """Whether the verdict flips with the implementation at some size, in words."""
    flips, unsettled = [], []
    for size, group in paired.groupby("size", sort=False):
        verdicts = dict(zip(group["implementation"], group["verdict"]))
        cheaper = [i for i, v in verdicts.items() if v == stats.HOLDS]
        dearer = [i for i, v in verdicts.items() if v == stats.DOES_NOT_HOLD]
        unsettled += [f"{i} at {size}" for i, v in verdicts.items() if v == stats.NOT_SETTLED]
        if cheaper and dearer:
            flips.append(f"at {size} RMS norm is cheaper in {join(cheaper, 'and')} but not "
                         f"in {join(dearer, 'or')}")
    if flips:
        text = ("The answer flips with the code, not with the formula: " + "; ".join(flips)
                + ".")
    elif paired["implementation"].nunique() > 1:
        text = ("No size where one implementation makes RMS norm cheaper and another does "
                "not, in this measurement.")
    else:
        text = ""
    if unsettled:
        text += f" Not settled: {', '.join(unsettled)} (the interval crosses the rule)."
    return text.strip()
