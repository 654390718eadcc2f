"""The README's quickstart is what CI runs, and it takes torch's CPU build."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    """The shell lines of the README's Quickstart section, comments stripped."""
    section = (ROOT / "README.md").read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()
            if line.strip()]


def test_ci_runs_the_readme_test_command_verbatim():
    venv, app, tests = quickstart_commands()
    assert venv.startswith("python3 -m venv .venv")
    assert "streamlit run app.py" in app and "pytest" in tests
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines


def test_both_commands_install_from_files_that_carry_the_cpu_index():
    for command in quickstart_commands()[1:]:
        requirements = re.search(r"pip install -r (\S+)", command).group(1)
        text = (ROOT / requirements).read_text()
        assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text, requirements
        assert re.search(r"^torch==", text, re.M), requirements
