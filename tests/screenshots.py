"""Refresh the README's screenshots in assets/: `python -m tests.screenshots` (needs Chromium;
extra arguments go to pytest, e.g. `-k home` for one page).

It runs the end-to-end test that opens every page with $NORMLAB_SCREENSHOT_DIR set to assets/;
an ordinary test run writes its screenshots to a temporary folder instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["test_every_page_opens_without_an_exception_and_draws_its_charts",
         "test_live_lab_screenshots_after_switching_to_batchnorm"]  # 1440x900, 1280x720, 390x844


def main(argv: list[str] | None = None) -> int:
    env = {**os.environ, "NORMLAB_SCREENSHOT_DIR": str(ROOT / "assets"),
           "NORMLAB_REQUIRE_BROWSER": "1"}  # a missing browser is an error here, not a skip
    command = [sys.executable, "-m", "pytest", "-q", *(f"tests/test_e2e.py::{t}" for t in TESTS),
               *(argv if argv is not None else sys.argv[1:])]  # e.g. -k home: one page
    status = subprocess.run(command, cwd=ROOT, env=env).returncode
    if status == 0:
        print(f"screenshots written to {ROOT / 'assets'}; review with git diff --stat assets/")
    return status


if __name__ == "__main__":
    sys.exit(main())
