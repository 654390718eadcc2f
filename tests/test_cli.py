"""The command line: every config field is an option, runs write tidy files, bad input is a
usage error (exit 2) that names the option, never a traceback."""

import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from normlab import TrainConfig
from normlab.cli import ProgressBar, build_parser, main
from normlab.cli_options import choices_for
from normlab.engine import METRIC_COLUMNS
from normlab.lessons import LESSON_KEYS
from normlab.recorder import GRAD_COLUMNS, HIST_COLUMNS, STAT_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--depth", "2", "--width", "8", "--steps", "4", "--eval-every", "2",
        "--record-every", "2", "--bins", "5"]


def test_every_config_field_is_an_option_of_both_commands():
    parser = build_parser()
    for command in ("train", "sweep"):
        args = parser.parse_args([command])
        for field in dataclasses.fields(TrainConfig):
            assert hasattr(args, field.name), (command, field.name)
    assert parser.parse_args(["train"]).batch_size == TrainConfig().batch_size
    assert parser.parse_args(["sweep"]).batch_size == [TrainConfig().batch_size]


def test_every_text_field_has_its_choices_in_config():
    text_fields = [f.name for f in dataclasses.fields(TrainConfig) if f.type == "str"]
    assert text_fields and all(choices_for(name) for name in text_fields)
    assert choices_for("norm") == ("none", "batch", "layer", "rms", "group", "dyt")


def test_bn_momentum_accepts_none():
    args = build_parser().parse_args(["train", "--bn-momentum", "none"])
    assert args.bn_momentum is None
    assert build_parser().parse_args(["sweep", "--bn-momentum", "0.1,none"]).bn_momentum == [
        0.1, None]


def test_train_writes_the_four_frames_and_a_summary(tmp_path, capsys):
    assert main(["train", *TINY, "--norm", "layer", "--out", str(tmp_path)]) == 0
    expected = {"metrics": METRIC_COLUMNS, "layer_stats": STAT_COLUMNS,
                "histograms": HIST_COLUMNS, "gradients": GRAD_COLUMNS}
    for name, columns in expected.items():
        with open(tmp_path / f"{name}.csv") as file:
            rows = list(csv.DictReader(file))
        assert rows and tuple(rows[0]) == tuple(columns), name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps_run"] == 4 and summary["diverged"] is False
    assert summary["diverged_at"] is None
    assert 0 <= summary["final_val_accuracy"] <= 1 and summary["final_train_loss"] > 0
    assert summary["wall_time"] > 0 and summary["config"]["norm"] == "layer"
    out, err = capsys.readouterr()
    assert "finished after 4 steps" in out
    assert err == ""  # not a terminal: no progress bar


def test_train_json_prints_exactly_one_json_line(capsys):
    assert main(["train", *TINY, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    summary = json.loads(out)
    assert summary["status"] == "finished" and summary["config"]["depth"] == 2


def test_python_m_normlab_train_json_in_a_real_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "normlab", "train", *TINY, "--norm", "rms", "--json",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    summary = json.loads(lines[0])
    assert summary["config"]["norm"] == "rms" and summary["steps_run"] == 4
    assert (tmp_path / "run" / "histograms.csv").exists()


def test_diverged_run_exits_zero_and_says_so(tmp_path, capsys):
    code = main(["train", "--norm", "none", "--lr", "50", "--init-gain", "3", "--steps", "100",
                 "--json", "--out", str(tmp_path)])
    assert code == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["diverged"] is True and summary["diverged_at"] is not None
    assert f"diverged at step {summary['diverged_at']}" in err
    assert json.loads((tmp_path / "summary.json").read_text())["diverged"] is True


def test_progress_bar_redraws_one_line():
    stream = io.StringIO()
    bar = ProgressBar(10, stream=stream, width=10)
    bar.update(5, "val acc 0.500", force=True)
    bar.update(10, "", force=True)
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\r[#####.....] 5/10 steps val acc 0.500")
    assert "\r[##########] 10/10 steps" in text and text.endswith("\n")


def test_sweep_trains_the_grid_and_keeps_refused_rows(tmp_path, capsys):
    out_csv = tmp_path / "results.csv"
    code = main(["sweep", *TINY, "--norm", "none,batch", "--batch-size", "1,8", "--seeds", "0,1",
                 "--out", str(out_csv)])
    assert code == 0
    with open(out_csv) as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2 * 2 * 2
    refused = [row for row in rows if row["status"] == "refused"]
    assert {(row["norm"], row["batch_size"]) for row in refused} == {("batch", "1")}
    assert len(refused) == 2 and all("batch size 1" in row["reason"] for row in refused)
    assert all(row["final_val_accuracy"] for row in rows if row["status"] == "finished")
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["norm", "batch_size", "seed"]
    assert "val_acc" in table[0] and "wall_s" in table[0]
    assert len(table) == 1 + 8
    assert sum("refused" in line for line in table) == 2


def test_sweep_refuses_a_combination_that_cannot_train(capsys):
    assert main(["sweep", *TINY, "--model", "mlp,cnn", "--dataset", "xor"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert "finished" in rows[0]
    assert "refused" in rows[1] and "the cnn needs images" in rows[1]


@pytest.mark.parametrize("argv, message", [
    (["train", "--depth", "65"], "argument --depth: must be between 1 and 64 (got 65)"),
    (["train", "--lr", "abc"], "argument --lr: expected a number (got 'abc')"),
    (["train", "--steps", "2.5"], "argument --steps: expected a whole number (got '2.5')"),
    (["train", "--norm", "banana"], "argument --norm: must be one of none, batch, layer"),
    (["train", "--bn-momentum", "1.5"], "argument --bn-momentum: must be in (0, 1]"),
    (["train", "--norm", "batch", "--batch-size", "1"], "Batch norm cannot train with batch"),
    (["sweep", "--batch-size", "8,0"], "argument --batch-size: must be between 1 and 1024"),
    (["sweep", "--norm", "batch,"], "argument --norm: empty value in the list"),
    (["train", "--no-such-option"], "unrecognized arguments: --no-such-option"),
])
def test_bad_arguments_are_usage_errors_that_name_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "usage: normlab" in err and "Traceback" not in err


def test_lesson_command_writes_the_invariance_table_it_computed(tmp_path, capsys):
    assert main(["lesson", "invariances", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "invariances.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 18 and all(row["matches_paper"] == "True" for row in rows)
    assert "weight vector rescaling" in capsys.readouterr().out


def test_lesson_command_writes_every_frame_of_a_named_tuple(tmp_path):
    assert main(["lesson", "batch_dependence", "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"outputs.csv", "summary.csv"}


def test_every_lesson_key_is_a_lesson_command_and_nothing_else():
    choices = next(action.choices for action in build_parser()._subparsers._group_actions[0]
                   .choices["lesson"]._actions if action.dest == "name")
    assert tuple(choices) == LESSON_KEYS


def test_the_train_eval_lesson_writes_both_of_its_frames(tmp_path, capsys):
    assert main(["lesson", "train_eval", "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"running_stats.csv", "biased_vs_unbiased.csv"}
    out = capsys.readouterr().out
    assert "# running_stats" in out and "# biased_vs_unbiased" in out


def test_the_help_text_is_each_fields_why_from_its_metadata(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "hidden layers: deep enough that un-normalised activations drift" in help_text
    assert "{none,batch,layer,rms,group,dyt}" in help_text


def test_claims_command_prints_a_computed_verdict(tmp_path, capsys):
    assert main(["claims", "ln_independent_of_batch_mates", "--out", str(tmp_path)]) == 0
    assert "-> holds" in capsys.readouterr().out
    assert (tmp_path / "ln_independent_of_batch_mates.csv").exists()


def test_unknown_claim_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["claims", "bn_is_magic"])
    assert exit_.value.code == 2
    assert "unknown claim bn_is_magic" in capsys.readouterr().err


def test_output_into_a_closed_pipe_ends_quietly():
    """`normlab lesson invariances | head -1`: the reader is gone before the table is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write the command makes now fails with EPIPE
    try:
        finished = subprocess.run([sys.executable, "-m", "normlab", "lesson", "invariances"],
                                  stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in finished.stderr and "BrokenPipe" not in finished.stderr, \
        finished.stderr
    assert finished.returncode == 1
