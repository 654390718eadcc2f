"""A test run leaves `git status` as it was: the guard in conftest.py fails a run that writes
into the checkout, and stays quiet where there is no checkout to compare."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tree_guard import changes, tree_state

TESTS = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder,
                   check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A git checkout holding this suite's conftest and guard, one committed file, one test."""
    (tmp_path / "tests").mkdir()
    for name in ("conftest.py", "tree_guard.py"):
        shutil.copy(TESTS / name, tmp_path / "tests" / name)
    (tmp_path / "kept.txt").write_text("committed\n")
    (tmp_path / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "start")
    return tmp_path


def run_pytest(folder: Path, test_body: str) -> subprocess.CompletedProcess:
    (folder / "tests" / "test_it.py").write_text(
        f"from pathlib import Path\nROOT = Path(__file__).parents[1]\n\n"
        f"def test_it(tmp_path):\n    {test_body}\n")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_it.py"], cwd=folder, capture_output=True, text=True,
                          timeout=120)


def test_a_run_that_writes_into_the_checkout_fails_and_names_the_file(checkout):
    result = run_pytest(checkout, "(ROOT / 'assets' / 'screenshot-x.png').parent.mkdir(); "
                                  "(ROOT / 'assets' / 'screenshot-x.png').write_bytes(b'png')")
    assert result.returncode == 1, result.stdout
    assert "changed the checkout" in result.stdout and "assets/screenshot-x.png" in result.stdout


def test_rewriting_a_tracked_file_fails_too(checkout):
    result = run_pytest(checkout, "(ROOT / 'kept.txt').write_text('rewritten')")
    assert result.returncode == 1 and "kept.txt" in result.stdout, result.stdout


def test_a_run_that_writes_to_tmp_path_passes(checkout):
    result = run_pytest(checkout, "(tmp_path / 'screenshot-x.png').write_bytes(b'png')")
    assert result.returncode == 0, result.stdout


def test_outside_a_checkout_the_guard_is_off(tmp_path):
    assert tree_state(tmp_path) is None


def test_an_edit_to_a_file_that_was_already_dirty_counts(checkout):
    (checkout / "kept.txt").write_text("edited by the developer\n")
    before = tree_state(checkout)
    assert changes(before, tree_state(checkout)) == []
    (checkout / "kept.txt").write_text("edited by the developer, then by a test\n")
    assert changes(before, tree_state(checkout)) == ["kept.txt"]
