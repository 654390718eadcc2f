"""A test run must leave the checkout as it found it: what `git status` shows before and after.

conftest.py records `tree_state()` when the session starts and fails the session if
`changes()` finds anything new at the end. Outside a git checkout (an sdist, a copied folder,
no git) there is nothing to compare with, and the guard stays off.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def tree_state(root: Path) -> dict[str, tuple] | None:
    """{path: (status, mtime_ns, size)} for every path `git status` lists under `root`, or None
    when `root` is not the top of a git checkout."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root,
                             capture_output=True, text=True, timeout=30)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != root.resolve():
            return None
        listed = subprocess.run(["git", "status", "--porcelain", "-z", "--untracked-files=all"],
                                cwd=root, capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    state = {}
    for entry in filter(None, listed.stdout.split("\0")):
        status, path = entry[:2], entry[3:]
        try:
            stat = (root / path).stat()
            state[path] = (status, stat.st_mtime_ns, stat.st_size)
        except OSError:  # deleted, or the old name of a rename (-z lists it on its own)
            state[path] = (status, None, None)
    return state


def changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """Paths added, removed or touched between two `tree_state`s (a file that was already
    modified counts again when its contents change)."""
    return sorted(path for path in before.keys() | after.keys()
                  if before.get(path) != after.get(path))
