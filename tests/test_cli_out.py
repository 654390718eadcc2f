"""`--out` that cannot be written (a read-only folder, a file in the way, a parent that cannot
be made) is one line on stderr and exit 1, before any training starts, never a traceback; a
missing parent that can be made is made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from normlab import cli, lessons, runcache
from normlab.cli import main
from normlab.lessons import claims, presets

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--depth", "2", "--width", "8", "--steps", "4", "--eval-every", "2",
        "--record-every", "2", "--bins", "5"]
COMMANDS = {  # each command that takes a folder --out, and what it would start computing
    "train": ["train", *TINY],
    "precompute": ["precompute"],
    "lesson": ["lesson", "invariances"],
    "claims": ["claims"],
    "preset": ["preset", "wu_he_fig1"],
}


@pytest.fixture
def no_training(monkeypatch):
    """Every command's work fails the test if it starts: the check must come first."""
    def started(*args, **kwargs):
        raise AssertionError("training started before --out was checked")
    monkeypatch.setattr(cli, "stream", started)
    monkeypatch.setattr(runcache, "precompute", started)
    monkeypatch.setattr(lessons, "run_lesson", started)
    monkeypatch.setattr(claims, "check_claim", started)
    monkeypatch.setattr(presets, "run_preset", started)


def bad_outs(tmp_path: Path, read_only: Path) -> dict[str, Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    return {"read-only": read_only / "out", "read-only-itself": read_only, "a-file": a_file,
            "parent-is-a-file": a_file / "sub" / "out"}


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unwritable_out_is_one_line_before_any_work(command, tmp_path, read_only_folder,
                                                       no_training, capsys):
    for what, out in bad_outs(tmp_path, read_only_folder).items():
        assert main([*COMMANDS[command], "--out", str(out)]) == 1, (command, what)
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"normlab {command}: error: "), lines
        assert str(out) in lines[0] and "Traceback" not in captured.err, (what, lines)
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_train_makes_a_missing_parent_before_training(tmp_path, capsys):
    out = tmp_path / "runs" / "today" / "bn"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    assert (out / "summary.json").exists()
    assert not list(out.glob(".normlab-probe-*"))  # the write probe is gone


def test_from_the_shell_a_file_as_out_is_no_traceback(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = subprocess.run([sys.executable, "-m", "normlab", "train", *TINY,
                             "--out", str(tmp_path / "a-file")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "is a file, not a folder" in result.stderr


def test_precompute_with_an_empty_cache_variable_says_how_to_fix_it(monkeypatch, no_training,
                                                                     capsys):
    monkeypatch.setenv("NORMLAB_CACHE_DIR", "")
    assert main(["precompute"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NORMLAB_CACHE_DIR" in err and "--out" in err


def test_sweep_with_an_unwritable_out_file_is_one_line_before_any_run(tmp_path, read_only_folder,
                                                                       monkeypatch, capsys):
    def started(*args, **kwargs):
        raise AssertionError("a run started before --out was checked")
    monkeypatch.setattr(cli, "sweep_row", started)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    for what, out in {"read-only": read_only_folder / "rows.csv", "a-folder": read_only_folder,
                      "parent-is-a-file": a_file / "sub" / "rows.csv",
                      "existing-folder": tmp_path}.items():
        assert main(["sweep", *TINY, "--out", str(out)]) == 1, what
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("normlab sweep: error: "), (what, lines)
        assert str(out) in lines[0] and "Traceback" not in captured.err, (what, lines)
        assert captured.out == "", what  # not even the table's header
    assert a_file.read_text() == "not a folder"


def test_sweep_makes_a_missing_parent_of_its_out_file(tmp_path, capsys):
    out = tmp_path / "sweeps" / "today" / "rows.csv"
    assert main(["sweep", *TINY, "--norm", "none,batch", "--out", str(out)]) == 0
    assert len(out.read_text().strip().splitlines()) == 3  # the header and two rows
