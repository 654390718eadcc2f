"""The disk cache of finished runs holds data, never code: a crafted file is never executed, a
bad file is skipped with one log line and replaced by the retrained run, an unusable folder
only means nothing is stored, and the size bound touches only the files the cache wrote."""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import pickle
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import settle
from streamlit.testing.v1 import AppTest

import appkit
from normlab import runcache
from normlab.config import TrainConfig
from normlab.defaults import with_cadence
from normlab.engine import Run, train
from normlab.runcache import RunCache

ROOT = Path(__file__).resolve().parents[1]
TINY = with_cadence(TrainConfig(depth=2, width=8, steps=6, bins=5))


@pytest.fixture(scope="module")
def tiny_run() -> Run:
    return train(TINY)


@pytest.fixture
def cache_log(caplog):
    """The runcache's log lines (warnings and above) during the test."""
    caplog.set_level(logging.WARNING, logger="normlab.runcache")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "normlab.runcache"]


class WritesMarker:
    """Unpickling this writes `marker`: what an attacker's file would do, harmlessly."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.write_text, (self.marker, "code ran")


def crafted_pickle(marker: Path) -> bytes:
    payload = pickle.dumps({"run": WritesMarker(marker), "clean": True})
    return payload


def test_the_crafted_payload_is_live_so_the_tests_below_mean_something(tmp_path):
    pickle.loads(crafted_pickle(tmp_path / "marker"))
    assert (tmp_path / "marker").read_text() == "code ran"


def test_a_pickle_in_the_cache_folder_is_never_executed(tmp_path, cache_log):
    marker = tmp_path / "marker"
    cache = RunCache(tmp_path / "cache")
    cache.directory.mkdir()
    cache.path(TINY).write_bytes(crafted_pickle(marker))  # under the name load() opens
    cache.path(TINY).with_suffix(".pkl").write_bytes(crafted_pickle(marker))  # the old name
    assert cache.load(TINY) is None
    assert not marker.exists()
    assert len(cache_log()) == 1 and "not a usable normlab run" in cache_log()[0]


def with_members(path: Path, target: Path, change) -> None:
    """Copy the run archive at `path` to `target`, passing each (name, bytes) through change()."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for info in source.infolist():
            name, data = change(info.filename, source.read(info))
            copy.writestr(name, data)


def test_a_pickled_column_inside_a_real_run_file_is_never_executed(tmp_path, tiny_run):
    marker = tmp_path / "marker"
    cache = RunCache(tmp_path / "cache")
    cache.save(tiny_run)
    good = cache.path(TINY)
    evil = np.empty(1, dtype=object)
    evil[0] = WritesMarker(marker)
    pickled = tmp_path / "evil.npy"
    np.save(pickled, evil, allow_pickle=True)

    def swap(name, data):
        return name, pickled.read_bytes() if name == "metrics/val_loss.npy" else data

    with_members(good, tmp_path / "evil.npz", swap)
    os.replace(tmp_path / "evil.npz", good)
    assert cache.load(TINY) is None
    assert not marker.exists()


def test_a_crafted_pickle_is_not_run_when_the_app_replays_its_config(tmp_path, monkeypatch):
    """Through the app's own path: the live lab's Train looks the run up on disk first."""
    marker = tmp_path / "marker"
    folder = tmp_path / "cache"
    monkeypatch.setenv("NORMLAB_CACHE_DIR", str(folder))
    appkit.run_store.clear()
    try:
        params = {"steps": "20", "seed": "77"}
        cfg = appkit.config_from_query(params)[0]
        cache = RunCache(folder)
        folder.mkdir()
        cache.path(cfg).write_bytes(crafted_pickle(marker))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        for name, value in params.items():
            at.query_params[name] = value
        at.run()
        at.switch_page("pages/live_lab.py").run()
        settle(at.button(key="train").click().run())
        assert not at.exception
        assert not at.session_state["live_replayed"]  # trained, not replayed
        assert not marker.exists()
        saved = cache.load(cfg)  # and the crafted file was replaced by the real run
        assert saved is not None and saved[0].config == cfg
    finally:
        appkit.run_store.clear()


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def wrong_version(path: Path, target: Path) -> None:
    def bump(name, data):
        if name == "header.json":
            header = json.loads(data)
            header["version"] = runcache.SCHEMA_VERSION + 1
            data = json.dumps(header).encode()
        return name, data
    with_members(path, target, bump)


def tampered(path: Path, target: Path) -> None:
    def change(name, data):
        if name == "metrics/val_loss.npy":
            data = data[:-8] + np.float64(0.0).tobytes()  # a valid array, other numbers
        return name, data
    with_members(path, target, change)


def not_a_run(path: Path, target: Path) -> None:
    np.savez(target.with_suffix(".tmp.npz"), weights=np.arange(3))
    os.replace(target.with_suffix(".tmp.npz"), target)


BAD_FILES = {
    "zero-byte": lambda path, target: target.write_bytes(b""),
    "truncated": lambda path, target: target.write_bytes(truncated(path.read_bytes())),
    "garbage": lambda path, target: target.write_bytes(os.urandom(5000)),
    "wrong-version": wrong_version,
    "tampered": tampered,
    "not-a-run": not_a_run,
}


@pytest.mark.parametrize("make_bad", BAD_FILES.values(), ids=BAD_FILES)
def test_a_bad_file_is_skipped_with_one_log_line_and_replaced_by_the_retrained_run(
        tmp_path, tiny_run, cache_log, make_bad):
    cache = RunCache(tmp_path / "cache")
    cache.save(tiny_run)
    path = cache.path(TINY)
    make_bad(path, tmp_path / "bad")
    os.replace(tmp_path / "bad", path)
    assert cache.load(TINY) is None
    assert cache.load(TINY) is None  # asked again (the app's queue polls): no second line
    assert len(cache_log()) == 1 and path.name in cache_log()[0], cache_log()
    assert cache.save(tiny_run, clean=False)  # even a drawn run takes the bad file's place
    run, clean = cache.load(TINY)
    assert run.metrics.equals(tiny_run.metrics) and clean is False


def test_a_file_of_another_config_is_a_miss(tmp_path, tiny_run):
    cache = RunCache(tmp_path)
    cache.save(tiny_run)
    other = dataclasses.replace(TINY, seed=9)
    cache.path(other).write_bytes(cache.path(TINY).read_bytes())
    assert cache.load(other) is None


def test_a_replayed_run_is_the_run_that_was_saved(tmp_path, tiny_run):
    cache = RunCache(tmp_path)
    cache.save(tiny_run)
    run, _ = cache.load(TINY)
    for frame in ("metrics", "layer_stats", "histograms", "gradients"):
        assert getattr(run, frame).equals(getattr(tiny_run, frame)), frame
    assert run.summary() == tiny_run.summary() and run.config == TINY


def test_a_read_only_cache_still_replays_and_says_once_that_it_cannot_store(
        tmp_path, tiny_run, cache_log, monkeypatch):
    folder = tmp_path / "cache"
    RunCache(folder).save(tiny_run)  # filled earlier, e.g. at image build time
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK) and os.geteuid() == 0:  # root ignores the mode: as if
            def refuse(*args, **kwargs):  # the folder were on a read-only mount
                raise PermissionError(errno.EACCES, "Permission denied", str(folder))
            monkeypatch.setattr(runcache.tempfile, "mkstemp", refuse)
        cache = RunCache(folder)
        assert cache.load(TINY) is not None
        for seed in (1, 2):
            run = dataclasses.replace(tiny_run, config=dataclasses.replace(TINY, seed=seed))
            assert cache.save(run) is False
        assert len(cache_log()) == 1 and "cannot store" in cache_log()[0], cache_log()
    finally:
        folder.chmod(0o755)


def test_the_app_trains_with_a_read_only_cache_folder(read_only_folder, monkeypatch, cache_log):
    monkeypatch.setenv("NORMLAB_CACHE_DIR", str(read_only_folder))
    appkit.run_store.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params["steps"], at.query_params["seed"] = "20", "78"
        at.run()
        at.switch_page("pages/live_lab.py").run()
        settle(at.button(key="train").click().run())
        assert not at.exception
        assert at.session_state[appkit.LIVE_RUN_KEY].status == "finished"
        assert len(cache_log()) == 1 and "cannot store" in cache_log()[0], cache_log()
    finally:
        appkit.run_store.clear()


def test_a_cache_path_that_is_a_file_stores_nothing_and_says_so_once(tmp_path, tiny_run,
                                                                   cache_log):
    (tmp_path / "cache").write_text("a file where the folder should be")
    cache = RunCache(tmp_path / "cache")
    assert cache.load(TINY) is None and cache.save(tiny_run) is False
    assert cache.load(TINY) is None and len(cache) == 0
    assert len(cache_log()) == 1 and "not a folder" in cache_log()[0], cache_log()
    assert (tmp_path / "cache").read_text() == "a file where the folder should be"


def test_an_empty_cache_variable_turns_the_disk_cache_off_and_never_writes_home(
        tmp_path, monkeypatch, cache_log):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("NORMLAB_CACHE_DIR", "")
    assert runcache.disk_cache_off() and runcache.default_cache() is None
    assert len(cache_log()) == 1 and "NORMLAB_CACHE_DIR" in cache_log()[0]
    appkit.run_store.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params["steps"], at.query_params["seed"] = "20", "79"
        at.run()
        at.switch_page("pages/live_lab.py").run()
        settle(at.button(key="train").click().run())
        assert not at.exception
        assert appkit.run_store().disk is None
    finally:
        appkit.run_store.clear()
    assert not (tmp_path / "home").exists() and not (tmp_path / "xdg").exists()


def test_the_size_bound_drops_only_files_the_cache_wrote(tmp_path, tiny_run):
    cache = RunCache(tmp_path, max_bytes=1)  # every save trims to (nearly) nothing
    foreign = {
        "run-1234.pkl": b"someone's pickle",
        "notes.txt": b"a student's notes",
        f"run-{'a' * 32}.npz": b"PK\x03\x04 a zip that is not ours",
    }
    for name, data in foreign.items():
        (tmp_path / name).write_bytes(data)
    np.savez(tmp_path / f"run-{'b' * 32}.npz", x=np.arange(3))  # a real npz, not a run
    for seed in range(3):
        cache.save(dataclasses.replace(tiny_run, config=dataclasses.replace(TINY, seed=seed)))
    for name, data in foreign.items():
        assert (tmp_path / name).read_bytes() == data, name
    assert (tmp_path / f"run-{'b' * 32}.npz").exists()
    assert len(cache) == 0  # its own runs went, as the bound asks


def test_stale_temporary_files_are_cleaned_and_fresh_ones_kept(tmp_path, tiny_run):
    stale, fresh = tmp_path / ".run-abc123.tmp", tmp_path / ".run-def456.tmp"
    stale.write_bytes(b"left by a writer that died")
    fresh.write_bytes(b"being written now")
    old = time.time() - 2 * runcache.STALE_SECONDS
    os.utime(stale, (old, old))
    (tmp_path / "mine.tmp").write_bytes(b"not the cache's")
    RunCache(tmp_path).save(tiny_run)
    assert not stale.exists() and fresh.exists() and (tmp_path / "mine.tmp").exists()


def test_the_file_holds_no_pickle(tmp_path, tiny_run):
    cache = RunCache(tmp_path)
    cache.save(tiny_run)
    with zipfile.ZipFile(cache.path(TINY)) as archive:
        header = json.loads(archive.read("header.json"))
        for name in archive.namelist():
            if name.endswith(".npy"):
                with archive.open(name) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    _, _, dtype = read_header(member)
                assert not dtype.hasobject, name
    assert header["format"] == "normlab-run" and header["version"] == runcache.SCHEMA_VERSION
    assert header["config"] == TINY.to_dict() and len(header["sha256"]) == 64
