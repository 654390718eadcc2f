"""The linter runs with the tests, so the one test command also checks style."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_passes():
    ruff = shutil.which("ruff")
    command = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    result = subprocess.run([*command, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_library_never_imports_streamlit():
    offenders = [p.name for p in (ROOT / "normlab").glob("*.py") if "streamlit" in p.read_text()]
    assert offenders == []
