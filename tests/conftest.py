"""Test-wide settings: the app's run cache (normlab.runcache) goes to a throwaway folder, and a
test run that writes into the checkout fails (see tree_guard.py)."""

import os
from pathlib import Path

import pytest
from tree_guard import changes, tree_state

ROOT = Path(__file__).resolve().parents[1]
_TREE = pytest.StashKey[dict]()


@pytest.fixture(autouse=True, scope="session")
def run_cache_folder(tmp_path_factory):
    """Runs the app saves during tests land here, not in ~/.cache/normlab."""
    folder = tmp_path_factory.mktemp("normlab-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NORMLAB_CACHE_DIR", str(folder))
        yield folder


def pytest_sessionstart(session):
    if (state := tree_state(ROOT)) is not None:
        session.stash[_TREE] = state


def pytest_sessionfinish(session, exitstatus):
    before = session.stash.get(_TREE, None)
    after = tree_state(ROOT) if before is not None else None
    if after is None:
        return
    written = changes(before, after)
    if shots := os.environ.get("NORMLAB_SCREENSHOT_DIR"):  # asked for: python -m tests.screenshots
        folder = Path(shots).resolve()
        written = [p for p in written if not (ROOT / p).resolve().is_relative_to(folder)]
    if written and session.config.getoption("collectonly") is False:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (f"the test run changed the checkout ({len(written)} path(s)), tests must "
                   f"write to tmp_path instead: {', '.join(written[:10])}")
        if reporter is not None:
            reporter.write_line(f"ERROR: {message}", red=True)
        else:
            print(f"ERROR: {message}")
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _writable(folder: Path) -> bool:
    probe = folder / ".normlab-write-probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


@pytest.fixture
def read_only_folder(tmp_path) -> Path:
    """An existing folder in which no file can be created: mode 555, or, as root (who ignores
    modes), /sys, which the kernel keeps read-only."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if not _writable(folder):
        yield folder
        folder.chmod(0o755)  # so that pytest can remove it
        return
    folder.chmod(0o755)
    if Path("/sys").is_dir() and not _writable(Path("/sys")):
        yield Path("/sys")
        return
    pytest.skip("no read-only folder to be had here")
