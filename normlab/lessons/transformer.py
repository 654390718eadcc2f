"""A tiny transformer: where the norm sits (pre-LN vs post-LN), warm-up, and LN vs RMS vs DyT.

Claims tested, at toy scale: post-LN needs learning-rate warm-up and pre-LN does not, because
post-LN's gradients near the output are large at initialisation (Xiong et al. 2020); RMS norm
trains as well as layer norm for less time (Zhang & Sennrich 2019); DyT can replace the norm
in a transformer (Zhu et al. 2025). A 4-block model sorting 8 digits is not a translation
model: toy_scale() says what may not carry over.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product
from typing import NamedTuple

import pandas as pd
import torch
import torch.nn.functional as F

from normlab.config import TrainConfig
from normlab.data import DIGITS, SEPARATOR
from normlab.engine import prepare
from normlab.lessons._common import Fit, Progress, ShouldStop, Sweep, fit, frame
from normlab.registry import norm_label
from normlab.stats import decide, paired_differences, t_interval

# Sorting 8 digits with 4 blocks at Adam lr 0.01: high enough that post-LN without warm-up
# stalls near chance (ln 10 = 2.30 nats per digit), low enough that pre-LN learns in 60 steps.
# Width 32 and 60 steps keep a run near a CPU second (benchmarks/transformer_bench.py); at 2
# blocks post-LN learned without warm-up too (5 seeds), so the depth stays.
TRANSFORMER_QUICK = TrainConfig(model="transformer", dataset="sort", norm="layer", depth=4,
                                width=32, heads=2, init="xavier", optimizer="adam", lr=0.01,
                                batch_size=32, steps=60, eval_every=20, record_every=20)
GRADIENT_QUICK = TRANSFORMER_QUICK.replace(depth=6)  # as deep as Xiong et al.'s encoders
WARMUP_STEPS = 20  # a third of the run: Xiong et al. warm up over 4000 of 100k+ steps
SEEDS = 3  # the fewest whose 95% t interval (t = 4.3, not 12.7 at 2) a clear effect clears
POSITION_LABELS = {"before": "Pre-LN", "after": "Post-LN"}
RUN_COLUMNS = ("position", "warmup_steps", "norm", "seed", "status", "steps_run",
               "final_train_loss", "val_loss", "val_accuracy", "sequence_accuracy", "cpu_time",
               "wall_time")
CURVE_COLUMNS = ("position", "warmup_steps", "norm", "seed", "step", "train_loss")
INTERVAL_COLUMNS = ("metric", "mean", "low", "high", "n")  # after the group's keys
SAMPLE_COLUMNS = ("position", "warmup_steps", "prompt", "expected", "answer", "correct")
GRADIENT_COLUMNS = ("position", "layer", "matrix", "grad_norm")
RACE_COLUMNS = ("norm", "budget", "seed", "status", "steps_run", "cpu_time", "wall_time",
                "val_loss", "val_accuracy", "sequence_accuracy")
MATRICES = {"attention.qkv": "attention in", "attention.proj": "attention out",
            "expand": "feed-forward in", "linear": "feed-forward out (W²)"}


class WarmupSweep(NamedTuple):
    runs: pd.DataFrame  # one row per (position, warmup_steps, seed)
    curves: pd.DataFrame  # training loss every 10 steps, per run
    intervals: pd.DataFrame  # mean and 95% t interval over seeds, per (position, warmup)
    samples: pd.DataFrame  # a few validation prompts and the answers seed 0 generated


class NormRace(NamedTuple):
    runs: pd.DataFrame  # one row per (norm, budget, seed)
    intervals: pd.DataFrame  # per (norm, budget, metric)


@torch.no_grad()
def evaluate_answers(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Validation loss, per-digit accuracy and whole-answer accuracy (every digit right), with
    the true previous digits fed in (teacher forcing, as in training)."""
    model.eval()
    logits = model(x)  # (N, vocab, A)
    right = logits.argmax(1) == y  # (N, A)
    return {"val_loss": float(F.cross_entropy(logits, y)),
            "val_accuracy": float(right.float().mean()),
            "sequence_accuracy": float(right.all(1).float().mean())}


@torch.no_grad()
def generate(model: torch.nn.Module, x: torch.Tensor, answer_length: int) -> torch.Tensor:
    """Greedy answers: each digit is the model's own choice fed back, not the true one."""
    model.eval()
    x = x.clone()  # (N, T); the answer part is overwritten as it is generated
    start = x.shape[1] - answer_length  # first input position after "="
    answer = torch.empty(len(x), answer_length, dtype=torch.long)
    for i in range(answer_length):
        answer[:, i] = model(x)[:, :, i].argmax(1)  # causal: later inputs do not matter yet
        if i + 1 < answer_length:
            x[:, start + i + 1] = answer[:, i]
    return answer  # (N, A)


def _digits(tokens) -> str:
    return " ".join(str(int(t)) for t in tokens)


def _samples(trained: Fit, key: dict, n: int) -> list[dict]:
    x, y = trained.data.x_val[:n], trained.data.y_val[:n]
    answers = generate(trained.model, x, y.shape[1])
    prompt_length = int((x[0] == SEPARATOR).nonzero()[0])
    return [{**key, "prompt": _digits(xi[:prompt_length]), "expected": _digits(yi),
             "answer": _digits(ai), "correct": bool((ai == yi).all())}
            for xi, yi, ai in zip(x, y, answers)]


def _run_row(trained: Fit, key: dict) -> dict:
    if trained.status == "finished":
        scores = evaluate_answers(trained.model, trained.data.x_val, trained.data.y_val)
    else:
        scores = dict.fromkeys(("val_loss", "val_accuracy", "sequence_accuracy"), math.nan)
    tail = trained.losses[-10:]
    return {**key, "status": trained.status, "steps_run": len(trained.losses),
            "final_train_loss": sum(tail) / len(tail) if tail else math.nan,
            **scores, "cpu_time": trained.cpu_time, "wall_time": trained.wall_time}


def intervals(runs: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and 95% t interval over seeds of each metric, per group of `keys`; a diverged
    run counts as chance (loss ln 10, accuracy 0.1 per digit, 0 whole answers)."""
    chance = {"val_loss": math.log(10), "final_train_loss": math.log(10), "val_accuracy": 0.1,
              "sequence_accuracy": 0.0, "wall_time": math.nan, "cpu_time": math.nan,
              "steps_run": math.nan}
    rows = []
    for group, runs_of in runs.groupby(list(keys), sort=False):
        group = dict(zip(keys, group if isinstance(group, tuple) else (group,)))
        for metric in metrics:
            values = [v if math.isfinite(v) else chance[metric] for v in runs_of[metric]]
            values = [v for v in values if math.isfinite(v)]
            if not values:
                continue
            interval = t_interval(values)
            rows.append({**group, "metric": metric, "mean": interval.effect,
                         "low": interval.low, "high": interval.high, "n": interval.n})
    return frame(rows, [*keys, *INTERVAL_COLUMNS])


def warmup_sweep(
    positions: Sequence[str] = ("before", "after"),
    warmups: Sequence[int] = (0, WARMUP_STEPS),
    seeds: Sequence[int] = (0, 1, 2),
    base: TrainConfig = TRANSFORMER_QUICK,
    samples: int = 4,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> WarmupSweep:
    """Claim tested: post-LN needs learning-rate warm-up, pre-LN does not (Xiong et al. 2020).

    Trains every (norm position, warm-up steps, seed) of `base` and scores it on the validation
    prompts: loss, per-digit accuracy, whole-answer accuracy. Returns (runs, curves,
    intervals over seeds, samples: `samples` validation prompts answered greedily by seed 0's
    model of each setting). Seed by seed, every setting: after its first four runs
    `progress(fraction, partial)` reports a result with every setting in it, one seed so far.
    """
    settings = [(p, w) for p in positions for w in warmups]
    sweep = Sweep(len(settings) * len(seeds), progress, should_stop)
    runs, curves, shown = [], [], []
    for seed, (position, warmup) in product(seeds, settings):
        if sweep.stopped():
            break
        key = dict(position=position, warmup_steps=warmup, norm=base.norm, seed=seed)
        trained = fit(base.replace(norm_position=position, warmup_steps=warmup, seed=seed),
                      should_stop)
        if trained.status == "stopped":
            break
        runs.append(_run_row(trained, key))
        for start in range(0, len(trained.losses), 10):
            window = trained.losses[start:start + 10]
            curves.append({**key, "step": start + len(window),
                           "train_loss": sum(window) / len(window)})
        if seed == seeds[0] and samples and trained.status == "finished":
            shown.extend(_samples(trained, dict(position=position, warmup_steps=warmup), samples))
        sweep.advance(lambda: _warmup_result(runs, curves, shown, settings))
    return _warmup_result(runs, curves, shown, settings)


def _warmup_result(runs: list[dict], curves: list[dict], shown: list[dict],
                   settings: list[tuple[str, int]]) -> WarmupSweep:
    """The frames of the runs so far, setting by setting (in `settings`' order), seed by seed."""
    order = {setting: i for i, setting in enumerate(settings)}

    def by_setting(rows: list[dict], columns: Sequence[str]) -> pd.DataFrame:
        rows = sorted(rows, key=lambda row: order[row["position"], row["warmup_steps"]])
        return frame(rows, columns)  # (a stable sort: seeds and steps keep their order)

    table = by_setting(runs, RUN_COLUMNS)
    spread = intervals(table, ("position", "warmup_steps"),
                       ("val_loss", "val_accuracy", "sequence_accuracy"))
    return WarmupSweep(table, by_setting(curves, CURVE_COLUMNS), spread,
                       by_setting(shown, SAMPLE_COLUMNS))


def gradients_at_init(
    positions: Sequence[str] = ("before", "after"),
    base: TrainConfig = GRADIENT_QUICK,
    seed: int = 0,
) -> pd.DataFrame:
    """Per-block weight-gradient norms at initialisation: one forward and backward pass on one
    training batch, no update (Xiong et al. 2020, Fig 3: post-LN's grow towards the output).

    Returns one row per (position, block, matrix): grad_norm, the Frobenius norm of the loss's
    gradient with respect to that weight matrix.
    """
    rows = []
    for position in positions:
        _, data, model, _, batches = prepare(base.replace(norm_position=position, seed=seed))
        index = batches.next()
        F.cross_entropy(model(data.x_train[index]), data.y_train[index]).backward()
        for layer, block in enumerate(model.blocks):
            for name, matrix in MATRICES.items():
                weight = block.get_submodule(name).weight
                rows.append(dict(position=position, layer=layer, matrix=matrix,
                                 grad_norm=float(torch.linalg.vector_norm(weight.grad))))
    return frame(rows, GRADIENT_COLUMNS)


def norm_race(
    norms: Sequence[str] = ("layer", "rms", "dyt"),
    seeds: Sequence[int] = (0, 1, 2),
    base: TrainConfig = TRANSFORMER_QUICK,
    seconds: float | None = None,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> NormRace:
    """Claims tested: RMS norm matches layer norm for less time (Zhang & Sennrich 2019); DyT
    replaces the norm (Zhu et al. 2025). Pre-LN, `base`'s settings, every norm and seed twice:
    for `base.steps` steps ("equal steps"), then for `seconds` of thread CPU time each ("equal
    time"; default: the layer-norm runs' mean CPU time at equal steps, or the first norm's).

    Returns (runs, intervals): one row per (norm, budget, seed) and the t intervals of the
    validation loss, accuracies, steps, CPU time and wall time per (norm, budget). Each budget
    trains seed by seed, and `progress(fraction, partial)` reports the race so far.
    """
    base = base.replace(norm_position="before")
    sweep = Sweep(2 * len(norms) * len(seeds), progress, should_stop)
    rows = []
    for budget in ("equal steps", "equal time"):
        if budget == "equal time" and seconds is None and rows:
            reference = [r for r in rows if r["norm"] == ("layer" if "layer" in norms
                                                          else norms[0])]
            seconds = sum(r["cpu_time"] for r in reference) / len(reference)
        for seed, norm in product(seeds, norms):  # seed by seed: every norm after one seed
            if sweep.stopped():
                break
            cfg = base.replace(norm=norm, seed=seed)
            if budget == "equal time":
                cfg = cfg.replace(steps=100 * base.steps)  # the clock ends it, not the steps
            trained = fit(cfg, should_stop, max_seconds=seconds if budget == "equal time"
                          else None)
            if trained.status == "stopped":
                break
            row = _run_row(trained, dict(norm=norm, budget=budget, seed=seed))
            rows.append({k: row[k] for k in RACE_COLUMNS})
            sweep.advance(lambda: _race_result(rows, norms))
    return _race_result(rows, norms)


def _race_result(rows: list[dict], norms: Sequence[str]) -> NormRace:
    """The race so far, budget by budget, norm by norm (in `norms`' order), seed by seed."""
    budgets = ("equal steps", "equal time")
    rows = sorted(rows, key=lambda row: (budgets.index(row["budget"]), norms.index(row["norm"])))
    runs = frame(rows, RACE_COLUMNS)
    spread = intervals(runs, ("norm", "budget"),
                       ("val_loss", "val_accuracy", "sequence_accuracy", "steps_run",
                        "cpu_time", "wall_time"))
    return NormRace(runs, spread)


# --- sentences: every number in them is read from the frames ----------------------------------

def setting_label(position: str, warmup_steps: int) -> str:
    """'Pre-LN, no warm-up', 'Post-LN, 50 warm-up steps'."""
    warm = f"{warmup_steps} warm-up steps" if warmup_steps else "no warm-up"
    return f"{POSITION_LABELS.get(position, position)}, {warm}"


def _interval_text(row) -> str:
    if row.n < 2:
        return f"{row.mean:.2f} (1 seed)"
    return f"{row.mean:.2f} [{row.low:.2f}, {row.high:.2f}] ({row.n} seeds)"


def warmup_summary(spread: pd.DataFrame) -> str:
    """One sentence per setting: its validation loss and whole-answer accuracy with intervals."""
    loss = spread[spread["metric"] == "val_loss"]
    whole = spread[spread["metric"] == "sequence_accuracy"].set_index(
        ["position", "warmup_steps"])
    sentences = []
    for row in loss.itertuples():
        answers = whole.loc[(row.position, row.warmup_steps)]
        sentences.append(
            f"{setting_label(row.position, row.warmup_steps)}: validation loss "
            f"{_interval_text(row)} nats per digit, {answers['mean']:.0%} of answers fully "
            f"right.")
    return " ".join(sentences)


def gradient_summary(grads: pd.DataFrame, matrix: str = MATRICES["linear"]) -> str:
    """Last block's gradient over the first block's, per position, for one matrix."""
    parts = []
    for position, rows in grads[grads["matrix"] == matrix].groupby("position", sort=False):
        rows = rows.sort_values("layer")
        first, last = float(rows["grad_norm"].iloc[0]), float(rows["grad_norm"].iloc[-1])
        parts.append(f"{POSITION_LABELS.get(position, position)}: {last:.3g} in the last block, "
                     f"{first:.3g} in the first ({last / first:.2g}×)")
    return f"Gradient norm of the {matrix} matrix at initialisation — " + "; ".join(parts) + "."


def race_summary(spread: pd.DataFrame) -> str:
    """Per budget, each norm's validation loss and (equal time) steps reached."""
    sentences = []
    for budget, rows in spread.groupby("budget", sort=False):
        loss = rows[rows["metric"] == "val_loss"]
        steps = rows[rows["metric"] == "steps_run"].set_index("norm")["mean"]
        seconds = rows[rows["metric"] == "cpu_time"].set_index("norm")["mean"]
        parts = [f"{norm_label(r.norm)} {_interval_text(r)} after {steps[r.norm]:.0f} steps "
                 f"in {seconds[r.norm]:.1f} CPU s" for r in loss.itertuples()]
        sentences.append(f"At {budget}, validation loss: " + "; ".join(parts) + ".")
    return " ".join(sentences)


GUESSING = 0.1  # nats: a validation loss this close to ln 10 is still guessing each digit


def _final_losses(runs: pd.DataFrame, position: str, warmup_steps: int) -> dict[int, float]:
    """Seed -> validation loss of one setting; a diverged run counts as guessing (ln 10)."""
    rows = runs[(runs["position"] == position) & (runs["warmup_steps"] == warmup_steps)]
    return {int(seed): loss if math.isfinite(loss) else math.log(10)
            for seed, loss in zip(rows["seed"], rows["val_loss"])}


def warmup_verdicts(runs: pd.DataFrame) -> list[str]:
    """Per position, what warm-up did to the final validation loss (paired by seed, 95% t
    interval: holds, does not hold, or not settled), then whether it helped post-LN more."""
    warm = max(int(w) for w in runs["warmup_steps"])
    gains = {}
    for position in ("after", "before"):
        without, with_ = (_final_losses(runs, position, w) for w in (0, warm))
        if without and with_:
            gains[position] = dict(zip(sorted(set(without) & set(with_)),
                                       paired_differences(without, with_)))
    sentences = []
    for position, gain in gains.items():
        decision = decide(list(gain.values()), 0.0, "above")
        sentences.append(
            f"{warm} warm-up steps lower {POSITION_LABELS[position]}'s final validation loss: "
            f"**{decision.verdict}**, by {decision.effect:.2f} [{decision.low:.2f}, "
            f"{decision.high:.2f}] nats (paired over {decision.n} seeds). {decision.settle}")
    if len(gains) == 2:
        decision = decide(paired_differences(gains["after"], gains["before"]), 0.0, "above")
        sentences.append(
            f"Post-LN needs the warm-up more than pre-LN (Xiong et al.): **{decision.verdict}**, "
            f"its gain larger by {decision.effect:.2f} [{decision.low:.2f}, {decision.high:.2f}]"
            f" nats. {decision.settle}")
    return [sentence.strip() for sentence in sentences]


def guessing_summary(runs: pd.DataFrame) -> str:
    """Which settings' runs ended still guessing (validation loss near ln 10, or diverged)."""
    parts = []
    for (position, warmup), rows in runs.groupby(["position", "warmup_steps"], sort=False):
        loss = rows["val_loss"].fillna(math.log(10))
        stuck = int((loss >= math.log(10) - GUESSING).sum())
        if stuck:
            parts.append(f"{setting_label(position, warmup)}: {stuck} of {len(rows)} seeds")
    where = "; ".join(parts) if parts else "none of the runs"
    return (f"A line near 2.30 nats (ln 10) is guessing each digit. Ended still guessing "
            f"(validation loss within {GUESSING} nats of ln 10): {where}.")


def cost_summary(runs: pd.DataFrame) -> str:
    """How many runs, and their training's thread CPU seconds, in all and per run."""
    seconds = runs["cpu_time"]
    return (f"{len(runs)} runs trained in {seconds.sum():.1f} CPU s ({seconds.median():.1f} s "
            "a run, median).")


def toy_scale(base: TrainConfig, seeds: int) -> str:
    """What differs from Xiong et al.'s setup, and what may not carry over, from `base`."""
    return (f"Toy scale: {base.depth} blocks of width {base.width}, {base.steps} steps of "
            f"{base.batch_size} prompts sorting {DIGITS} digits, {seeds} seeds; Xiong et al. "
            "trained 6-layer, width-512 translation models for 100k+ steps with 4000 warm-up "
            "steps. Post-LN's stall may need a larger learning rate here, and the times are "
            "normlab's from-scratch layers on one CPU core, not fused GPU kernels.")



class TransformerLesson(NamedTuple):
    warmup_runs: pd.DataFrame
    warmup_curves: pd.DataFrame
    warmup_intervals: pd.DataFrame
    samples: pd.DataFrame
    gradients: pd.DataFrame  # at initialisation, one backward pass
    race_runs: pd.DataFrame
    race_intervals: pd.DataFrame


def transformer_lesson(
    seeds: Sequence[int] = tuple(range(SEEDS)),
    norms: Sequence[str] = ("layer", "rms", "dyt"),
    base: TrainConfig = TRANSFORMER_QUICK,
    warmup_steps: int = WARMUP_STEPS,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> TransformerLesson:
    """The whole lesson in one call: gradients at init, pre/post-LN with and without warm-up,
    and the norms' race (equal steps, equal time), all on `base` with these seeds."""
    share = len(seeds) * 4 / (len(seeds) * 4 + len(seeds) * len(norms) * 2)

    def part(low: float, high: float) -> Progress:
        return None if progress is None else \
            lambda f, *partial: progress(low + (high - low) * f)

    gradients = gradients_at_init(base=base.replace(depth=max(base.depth, 6)), seed=seeds[0])
    warm = warmup_sweep(warmups=(0, warmup_steps), seeds=seeds, base=base,
                        progress=part(0.0, share), should_stop=should_stop)
    stopped = should_stop is not None and should_stop()
    race = NormRace(frame([], RACE_COLUMNS), frame([], ("norm", "budget", *INTERVAL_COLUMNS))) \
        if stopped else norm_race(norms, seeds, base, progress=part(share, 1.0),
                                  should_stop=should_stop)
    return TransformerLesson(warm.runs, warm.curves, warm.intervals, warm.samples, gradients,
                             race.runs, race.intervals)
