"""The linter runs with the tests, so the one test command also checks style."""

import re
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


def test_appkit_does_no_torch_math():
    importing = sorted(p.name for p in (ROOT / "appkit").glob("*.py")
                       if re.search(r"^\s*(import torch|from torch)", p.read_text(), re.M))
    assert importing == []


def test_no_appkit_module_is_over_300_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "appkit").glob("*.py")}
    assert max(sizes.values()) <= 300, sizes
