"""The command line: `normlab train` runs one config, `normlab sweep` runs a grid of them.

Every TrainConfig field is an option (`batch_size` -> `--batch-size`), built from the dataclass
itself: its type, its default, and from its metadata (config.knob) the help text and choices;
its range comes from config.LIMITS. A value is checked by
TrainConfig.validated(), so the CLI refuses exactly what the library refuses, as usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from normlab import __version__, lessons, runcache
from normlab.cli_options import (
    FIELDS,
    add_config_options,
)
from normlab.config import ConfigError, TrainConfig
from normlab.defaults import fit_to_model
from normlab.engine import Run, stream, train
from normlab.lessons import LESSON_KEYS, claims, presets

FRAMES = ("metrics", "layer_stats", "histograms", "gradients")  # one CSV each in `train --out`
RESULT_COLUMNS = ("final_val_accuracy", "final_val_loss", "final_train_loss", "status",
                  "steps_run", "diverged_at", "wall_time", "reason")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="normlab",
        description="Train small networks with batch, layer or RMS norm and record what the "
        "norms do to every layer.",
    )
    parser.add_argument("--version", action="version", version=f"normlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train_parser = commands.add_parser(
        "train", help="train one config; write its frames and a summary",
        description="Train one config. With --out DIR, write metrics.csv, layer_stats.csv, "
        "histograms.csv, gradients.csv and summary.json into DIR.",
    )
    train_parser.set_defaults(handler=train_command, subparser=train_parser)
    add_config_options(train_parser, lists=False)
    output = train_parser.add_argument_group("output")
    output.add_argument("--out", type=Path, metavar="DIR",
                        help="folder for the CSV frames and summary.json (created if missing)")
    output.add_argument("--json", action="store_true",
                        help="print the summary as one JSON line on stdout, and nothing else")
    output.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    sweep_parser = commands.add_parser(
        "sweep", help="train every combination of comma-listed values; one row per run",
        description="Train the cartesian grid of the comma lists given (e.g. --norm none,batch "
        "--batch-size 2,32 --seeds 0,1), without per-layer recording. Prints one row per run "
        "and writes them all to one CSV. Combinations that cannot train are kept as rows with "
        "status 'refused' and the reason.",
    )
    sweep_parser.set_defaults(handler=sweep_command, subparser=sweep_parser)
    add_config_options(sweep_parser, lists=True)
    output = sweep_parser.add_argument_group("output")
    output.add_argument("--out", type=Path, metavar="CSV",
                        help="CSV file for the rows (every config field and the results)")

    precompute_parser = commands.add_parser(
        "precompute", help="train the app's first experiments into its run cache",
        description="Train the runs a class opens first (the live lab's default, the Compare "
        "page's norms, the home page's 'Start here') into the folder the app replays finished "
        "runs from, so the first student does not wait. Runs already there are kept.",
    )
    precompute_parser.set_defaults(handler=precompute_command, subparser=precompute_parser)
    precompute_parser.add_argument(
        "--out", type=Path, metavar="DIR",
        help="the app's cache folder (default: $NORMLAB_CACHE_DIR, else ~/.cache/normlab)")
    lesson_parser = commands.add_parser(
        "lesson", help="run one lesson's experiment with its defaults; write its frames",
        description="Run the experiment behind one lesson (normlab.lessons) with its defaults "
        "and write each frame it returns as CSV into --out.",
    )
    lesson_parser.set_defaults(handler=lesson_command, subparser=lesson_parser)
    lesson_parser.add_argument("name", choices=LESSON_KEYS, metavar="LESSON",
                               help=f"one of {', '.join(LESSON_KEYS)}")
    lesson_parser.add_argument("--out", type=Path, metavar="DIR", help="folder for the CSVs")
    add_verdict_options(lesson_parser, "the lesson's verdict (lessons that test a claim)")

    claims_parser = commands.add_parser(
        "claims", help="check the usual claims about the norms; print each verdict",
        description="Run each claim's experiment and print the verdict computed from the data.",
    )
    claims_parser.set_defaults(handler=claims_command, subparser=claims_parser)
    claims_parser.add_argument("ids", nargs="*", metavar="CLAIM",
                               help=f"claims to check (default: all): "
                               f"{', '.join(claims.CLAIMS_BY_ID)}")
    claims_parser.add_argument("--out", type=Path, metavar="DIR",
                               help="folder for each claim's outcome CSV")
    add_verdict_options(claims_parser, "each verdict")

    preset_parser = commands.add_parser(
        "preset", help="run a paper preset (a miniature of a paper's figure)",
        description="Run a scaled-down version of a figure from a normalization paper.",
    )
    preset_parser.set_defaults(handler=preset_command, subparser=preset_parser)
    preset_parser.add_argument("name", choices=tuple(presets.PRESETS))
    preset_parser.add_argument("--out", type=Path, metavar="DIR", help="folder for the CSVs")
    return parser


# --- lessons, claims and presets: normlab.lessons, by lesson key -----------------------------


def parse_seeds(text: str) -> tuple[int, ...]:
    """`0,1,2,3,4` (or a range, `0-4`) as distinct seeds."""
    try:
        if "-" in text and "," not in text:
            low, high = (int(part) for part in text.split("-"))
            seeds = tuple(range(low, high + 1))
        else:
            seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seeds like 0,1,2,3,4 or 0-4 (got {text!r})") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds must be distinct and not negative ({text!r})")
    return seeds


def add_verdict_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--seeds", type=parse_seeds, default=claims.DEFAULT_SEEDS,
                        metavar="S,S,...", help="seeds for the experiments that train "
                        "(default 0,1,2,3,4; an exact computation ignores them)")
    parser.add_argument("--json", action="store_true",
                        help=f"print {what} as one JSON line (claim, verdict, seeds, effect, "
                        "interval, ...)")


def verdict_line(claim_id: str, verdict: claims.Verdict, seconds: float, **extra) -> str:
    """One claim's verdict as one strict JSON line."""
    return json.dumps({"claim": claim_id, **extra, "text": claims.CLAIMS_BY_ID[claim_id].text,
                       **verdict.as_dict(), "seconds": round(seconds, 2)}, allow_nan=False)


def describe_verdict(claim_id: str, verdict: claims.Verdict) -> str:
    """The verdict for people: the claim, the verdict, the effect and its interval, the rule."""
    lines = [claims.CLAIMS_BY_ID[claim_id].text, f"  -> {verdict.verdict}"]
    if verdict.interval is not None and verdict.n:
        lines.append(f"  effect {verdict.effect:.3g} ({verdict.effect_unit}), 95% interval "
                     f"[{verdict.interval[0]:.3g}, {verdict.interval[1]:.3g}], n = {verdict.n}"
                     f" ({verdict.method})")
    else:
        lines.append(f"  {verdict.method}")
    lines.append(f"  rule: {verdict.threshold}")
    if verdict.settle:
        lines.append(f"  to settle it: {verdict.settle}")
    lines.append(f"  {verdict.explanation}")
    return "\n".join(lines)


def out_folder_ready(out: Path | None, command: str) -> bool:
    """Make folder `out` (parents too) and write a probe file there, before any training; if
    that fails (read-only, a file in the way, a parent that cannot be made), print one line
    that says so and return False."""
    if out is None:
        return True
    try:
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"{out} is a file, not a folder")
        out.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=out, prefix=".normlab-probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        why = f"{error.strerror}: {error.filename}" if error.strerror else str(error)
        print(f"normlab {command}: error: cannot write to --out {out} ({why})", file=sys.stderr)
        return False
    return True


def open_out_file(out: Path, command: str):
    """Open file `out` for writing (its missing parent folders made), before any training; if
    that fails (a folder in the way, read-only, a parent that is a file), print one line that
    says so and return None."""
    try:
        if out.is_dir():
            raise IsADirectoryError(f"{out} is a folder, not a file")
        out.parent.mkdir(parents=True, exist_ok=True)
        return open(out, "w", newline="")
    except OSError as error:
        why = f"{error.strerror}: {error.filename}" if error.strerror else str(error)
        print(f"normlab {command}: error: cannot write to --out {out} ({why})", file=sys.stderr)
        return None


def write_frames(frames: dict[str, pd.DataFrame], out: Path | None) -> None:
    """Print each frame (shortened) and, with `out`, write it as out/NAME.csv."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        print(f"\n# {name} ({len(frame)} rows)")
        print(frame.head(20).to_string(index=False))
        if out is not None:
            frame.to_csv(out / f"{name}.csv", index=False)


def lesson_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not out_folder_ready(args.out, "lesson"):
        return 1
    lesson_claims = claims.claims_for_lesson(args.name)
    if args.json:
        if not lesson_claims:
            parser.error(f"lesson {args.name} has no verdict; --json needs one of "
                         f"{', '.join(dict.fromkeys(c.lesson for c in claims.CLAIMS))}")
        for claim in lesson_claims:
            start = time.perf_counter()
            verdict = claims.check_claim(claim.id, seeds=args.seeds)
            print(verdict_line(claim.id, verdict, time.perf_counter() - start,
                               lesson=args.name), flush=True)
            if args.out is not None:
                verdict.outcome_frame.to_csv(args.out / f"{claim.id}.csv", index=False)
        return 0
    write_frames(lessons.run_lesson(args.name), args.out)
    for claim in lesson_claims:
        print()
        print(describe_verdict(claim.id, claims.check_claim(claim.id, seeds=args.seeds)))
    return 0


def claims_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    unknown = [claim for claim in args.ids if claim not in claims.CLAIMS_BY_ID]
    if unknown:
        parser.error(f"unknown claim {', '.join(unknown)}; choose from "
                     f"{', '.join(claims.CLAIMS_BY_ID)}")
    ids = args.ids or list(claims.CLAIMS_BY_ID)
    if not out_folder_ready(args.out, "claims"):
        return 1
    for claim_id in ids:
        start = time.perf_counter()
        verdict = claims.check_claim(claim_id, seeds=args.seeds)
        if args.json:
            print(verdict_line(claim_id, verdict, time.perf_counter() - start), flush=True)
        else:
            print(describe_verdict(claim_id, verdict), flush=True)
        if args.out is not None:
            verdict.outcome_frame.to_csv(args.out / f"{claim_id}.csv", index=False)
    return 0


def preset_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    preset = presets.PRESETS[args.name]
    if not out_folder_ready(args.out, "preset"):
        return 1
    print(f"{preset.paper}, {preset.figure}: {preset.paper_says}\nWe run: {preset.we_run}\n"
          f"Differs from the paper: {preset.differs}")
    write_frames(presets.run_preset(args.name), args.out)
    return 0


# --- progress ------------------------------------------------------------------------------------
class ProgressBar:
    """A one-line bar on stderr, redrawn in place at most every `interval` seconds."""

    def __init__(self, total: int, stream=None, width: int = 30, interval: float = 0.05):
        self.total, self.width, self.interval = total, width, interval
        self.stream = stream if stream is not None else sys.stderr
        self._drawn_at, self._length = -math.inf, 0

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._drawn_at < self.interval:
            return
        self._drawn_at = now
        filled = round(self.width * done / max(self.total, 1))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} steps {note}"
        line = line.rstrip()
        self.stream.write("\r" + line.ljust(self._length))
        self.stream.flush()
        self._length = len(line)

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _progress_note(run: Run) -> str:
    accuracy = run.final.get("val_accuracy")
    return f"{run.wall_time:5.1f}s" + ("" if accuracy is None else f"  val acc {accuracy:.3f}")


# --- train ---------------------------------------------------------------------------------------
def _json_safe(value):
    """NaN and infinities as null, so the summary is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def run_summary(run: Run) -> dict:
    """Run.summary() with the config it ran, ready for json.dumps."""
    return _json_safe({**run.summary(), "config": run.config.to_dict()})


def write_run(run: Run, out: Path, summary: dict) -> None:
    """The four tidy frames as CSV and the summary as JSON, in folder `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for name in FRAMES:
        getattr(run, name).to_csv(out / f"{name}.csv", index=False, float_format="%.7g")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def train_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    cfg = _config(args, parser)
    if not out_folder_ready(args.out, "train"):  # before training, not after
        return 1
    bar = ProgressBar(cfg.steps) if not args.quiet and sys.stderr.isatty() else None
    runs = stream(cfg)
    run, interrupted = None, False
    try:
        for run in runs:
            if bar:
                bar.update(run.step, _progress_note(run), force=run.status != "running")
    except ConfigError as err:  # e.g. --device cuda on a machine without a GPU
        parser.error(str(err))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        runs.close()  # marks an interrupted run "stopped" and removes the recorder's hooks
        if bar:
            bar.close()
    if run is None:
        print("interrupted before the first step", file=sys.stderr)
        return 130
    summary = run_summary(run)
    if args.out is not None:
        write_run(run, args.out, summary)
    if run.status in ("diverged", "stopped"):
        print(run.message, file=sys.stderr)
    if args.json:
        print(json.dumps(summary, allow_nan=False), flush=True)
    else:
        print(_describe(summary))
        if args.out is not None:
            print(f"wrote {', '.join(f'{n}.csv' for n in FRAMES)} and summary.json to {args.out}")
    return 130 if interrupted else 0


def _describe(summary: dict) -> str:
    """One human line: how the run ended and its final numbers."""
    numbers = [f"{label} {summary[key]:.4f}" for key, label in (
        ("final_val_accuracy", "val accuracy"), ("final_val_loss", "val loss"),
        ("final_train_loss", "train loss")) if summary[key] is not None]
    ended = f"{summary['status']} after {summary['steps_run']} steps"
    if summary["diverged"]:
        ended = f"diverged at step {summary['diverged_at']}"
    return f"{ended} in {summary['wall_time']:.2f} s: {', '.join(numbers)}"


def _config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> TrainConfig:
    """The validated TrainConfig of `train`'s options; a combination it refuses is a usage error.

    What the model cannot take (the default dataset and norm, for `--model transformer`) is
    replaced first, with a note on stderr (normlab.defaults.fit_to_model).
    """
    try:
        cfg, notes = fit_to_model(TrainConfig(**{name: getattr(args, name) for name in FIELDS}))
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        return cfg.validated()
    except ConfigError as err:
        parser.error(str(err))


# --- sweep ---------------------------------------------------------------------------------------
def sweep_row(fields: dict) -> dict:
    """Train one grid point without recording: the config and its results as one flat row."""
    row = dict(fields, **dict.fromkeys(RESULT_COLUMNS))
    try:
        run = train(TrainConfig(**fields), record=False)
    except ConfigError as err:
        return dict(row, status="refused", reason=str(err))
    summary = _json_safe(run.summary())
    row.update({key: summary[key] for key in RESULT_COLUMNS if key in summary})
    row["reason"] = run.message
    return row


class SweepTable:
    """Aligned rows printed as each run finishes: the varied fields, then the results."""

    RESULTS = (("final_val_accuracy", "val_acc", 7), ("final_train_loss", "train_loss", 10),
               ("status", "status", 8), ("diverged_at", "diverged_at", 11),
               ("wall_time", "wall_s", 7))

    def __init__(self, grid: dict[str, list], out=None):
        self.varied = [name for name, values in grid.items() if len(values) > 1]
        self.widths = {name: max(len(name), *(len(_cell(v)) for v in grid[name]))
                       for name in self.varied}
        self.out = out if out is not None else sys.stdout

    def header(self) -> None:
        cells = [name.ljust(self.widths[name]) for name in self.varied]
        cells += [label.rjust(width) for _, label, width in self.RESULTS]
        self._print(cells + ["note"])

    def row(self, row: dict) -> None:
        cells = [_cell(row[name]).ljust(self.widths[name]) for name in self.varied]
        cells += [_cell(row[key]).rjust(width) for key, _, width in self.RESULTS]
        note = ""
        if row["status"] not in ("finished", "diverged"):  # diverged_at says it already
            note = re.split(r"[.:]\s", row["reason"] or "", maxsplit=1)[0]
        self._print(cells + [note])

    def _print(self, cells: list[str]) -> None:
        print("  ".join(cells).rstrip(), file=self.out, flush=True)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.3g}"
    return str(value)


def sweep_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    grid = {name: getattr(args, name) for name in FIELDS}
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    table = SweepTable(grid)
    with contextlib.ExitStack() as closing:
        writer = None
        if args.out is not None:
            if (csv_file := open_out_file(args.out, "sweep")) is None:  # before the first run
                return 1
            closing.enter_context(csv_file)
            writer = csv.DictWriter(csv_file, fieldnames=[*FIELDS, *RESULT_COLUMNS])
            writer.writeheader()
        table.header()
        for done, fields in enumerate(points):
            try:
                row = sweep_row(fields)
            except KeyboardInterrupt:
                print(f"interrupted after {done} of {len(points)} runs", file=sys.stderr)
                return 130
            table.row(row)
            if writer:
                writer.writerow(row)
                csv_file.flush()  # the rows so far survive an interrupted sweep
    if args.out is not None:
        print(f"wrote {len(points)} rows to {args.out}", file=sys.stderr)
    return 0


# --- precompute ----------------------------------------------------------------------------------
def precompute_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.out is None and runcache.disk_cache_off():
        print("normlab precompute: error: NORMLAB_CACHE_DIR is set but empty, which turns the "
              "disk cache off: set it to a folder, or pass --out DIR", file=sys.stderr)
        return 1
    folder = args.out if args.out is not None else runcache.cache_dir()
    if not out_folder_ready(folder, "precompute"):
        return 1
    cache = runcache.RunCache(folder)
    try:
        runs = runcache.precompute(cache)
    except OSError as err:  # a folder that cannot be written must fail a build step
        print(f"normlab precompute: {err}", file=sys.stderr)
        return 1
    print(f"{len(runs)} runs ready in {cache.directory}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `normlab` script and `python -m normlab`; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.handler(args, args.subparser)  # the subparser: errors show its usage line
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at the exit's flush
        return status
    except BrokenPipeError:  # `normlab ... | head` closed the pipe: stop quietly, as cat does
        # send what is still buffered nowhere, so that the interpreter's exit flush is quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
