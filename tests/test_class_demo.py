"""A whole class on one server: finished runs kept on disk so the first student does not wait,
the caps (one run per session, one torch thread per run, a server-wide limit that says
"Queued"), sessions that never see each other's runs or settings, hostile links and extreme
controls on every page, and no training left running after a stop."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from apptest_helpers import settle, texts
from e2e_helpers import ROOT, nav_pages
from streamlit.runtime.scriptrunner_utils.exceptions import StopException
from streamlit.testing.v1 import AppTest

import appkit
from normlab import defaults, runcache
from normlab.cli import main
from normlab.config import LIMITS, TrainConfig
from normlab.defaults import DEFAULT_CONFIG, with_cadence
from normlab.engine import Run, stream, train
from normlab.runcache import RunCache

APP = str(ROOT / "app.py")
PAGES = [page.file for page in nav_pages()]
TINY = with_cadence(TrainConfig(depth=2, width=8, steps=6, bins=5))


def open_page(page: str, params: dict | None = None) -> AppTest:
    """A new session opened from a link with `params`, arriving through app.py as a browser
    would, then on `page`."""
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in (params or {}).items():
        at.query_params[name] = value
    at.run()
    return at.switch_page(page).run()


# --- the disk cache and `normlab precompute` ---------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run() -> Run:
    return train(TINY)


def test_a_saved_run_is_read_back_for_its_own_config_only(tmp_path, tiny_run):
    cache = RunCache(tmp_path)
    assert cache.save(tiny_run)
    run, clean = cache.load(TINY)
    assert clean and run.config == TINY and run.metrics.equals(tiny_run.metrics)
    assert run.histograms.equals(tiny_run.histograms)
    assert cache.load(dataclasses.replace(TINY, seed=1)) is None


def test_a_drawn_run_never_replaces_a_clean_one_and_a_stopped_run_is_not_kept(tmp_path, tiny_run):
    cache = RunCache(tmp_path)
    assert cache.save(tiny_run, clean=True)
    assert not cache.save(tiny_run, clean=False)
    assert cache.load(TINY)[1] is True
    stopped = dataclasses.replace(tiny_run, config=dataclasses.replace(TINY, seed=5),
                                  status="stopped")
    assert not cache.save(stopped) and len(cache) == 1


def test_a_torn_or_foreign_file_is_a_miss(tmp_path, tiny_run):
    cache = RunCache(tmp_path)
    cache.path(TINY).write_bytes(b"not a pickle")
    assert cache.load(TINY) is None
    cache.save(tiny_run)
    other = dataclasses.replace(TINY, seed=9)
    cache.path(other).write_bytes(cache.path(TINY).read_bytes())  # another config's run
    assert cache.load(other) is None


def test_the_folder_stays_under_its_size_bound_dropping_the_least_recently_used(tmp_path,
                                                                               tiny_run):
    runs = [dataclasses.replace(tiny_run, config=dataclasses.replace(TINY, seed=s))
            for s in range(4)]
    RunCache(tmp_path / "measure").save(tiny_run)
    size = max(p.stat().st_size for p in (tmp_path / "measure").iterdir())
    cache = RunCache(tmp_path, max_bytes=int(2.5 * size))
    for run in runs[:2]:
        cache.save(run)
    os.utime(cache.path(runs[1].config), (1, 1))  # seed 1 is now the least recently used
    cache.load(runs[0].config)
    for run in runs[2:]:
        cache.save(run)
    kept = {s for s in range(4) if cache.path(runs[s].config).exists()}
    assert kept == {2, 3}, kept  # seed 1 went first, then seed 0
    assert sum(p.stat().st_size for p in tmp_path.glob("run-*.npz")) <= cache.max_bytes


def test_an_unwritable_folder_only_means_nothing_is_saved(tiny_run):
    cache = RunCache("/proc/normlab-cannot-write-here")
    assert not cache.save(tiny_run) and cache.load(TINY) is None


def test_an_upgrade_of_torch_or_normlab_never_replays_old_numbers(tmp_path, monkeypatch):
    before = RunCache(tmp_path).path(TINY)
    monkeypatch.setattr(torch, "__version__", "99.0")
    assert RunCache(tmp_path).path(TINY) != before


def test_precompute_trains_what_the_app_opens_first():
    warm = defaults.warm_configs()
    live_lab_default, notes = appkit.config_from_query({})
    assert warm[0] == live_lab_default == appkit.DEFAULT_CONFIG == DEFAULT_CONFIG
    assert not notes
    assert appkit.PRESETS["deep_sigmoid"] in warm  # the home page's "Start here"
    compared = {c.norm for c in warm if dataclasses.replace(c, norm=DEFAULT_CONFIG.norm)
                == DEFAULT_CONFIG}
    assert set(defaults.COMPARED_NORMS) <= compared


def test_normlab_precompute_fills_the_folder_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runcache, "warm_configs", lambda: [TINY])
    assert main(["precompute", "--out", str(tmp_path)]) == 0
    assert "trained" in capsys.readouterr().out
    assert main(["precompute", "--out", str(tmp_path)]) == 0
    assert "cached" in capsys.readouterr().out
    assert appkit.RunStore(disk=RunCache(tmp_path)).get(TINY, clean=True) is not None


def test_normlab_precompute_fails_loudly_where_it_cannot_write(monkeypatch, capsys):
    monkeypatch.setattr(runcache, "warm_configs", lambda: [TINY])
    assert main(["precompute", "--out", "/proc/normlab-cannot-write-here"]) == 1
    assert "normlab precompute:" in capsys.readouterr().err


@pytest.fixture
def fresh_server_cache(tmp_path, monkeypatch):
    """As if the server had just started with NORMLAB_CACHE_DIR=tmp_path: an empty run store."""
    monkeypatch.setenv("NORMLAB_CACHE_DIR", str(tmp_path))
    appkit.run_store.clear()
    yield RunCache(tmp_path)
    appkit.run_store.clear()  # the next test gets a store on the session's folder again


def test_the_first_student_replays_a_precomputed_run(fresh_server_cache):
    params = {"steps": "20", "seed": "31"}
    cfg = appkit.config_from_query(params)[0]
    runcache.precompute(fresh_server_cache, [cfg], report=lambda line: None)
    at = open_page("pages/live_lab.py", params)
    settle(at.button(key="train").click().run())
    assert not at.exception
    assert at.session_state["live_replayed"]
    assert at.session_state[appkit.LIVE_RUN_KEY].config == cfg


def test_a_run_trained_in_the_app_is_saved_for_the_next_server(fresh_server_cache):
    at = open_page("pages/live_lab.py", {"steps": "20", "seed": "32"})
    settle(at.button(key="train").click().run())
    assert not at.session_state["live_replayed"]
    run = at.session_state[appkit.LIVE_RUN_KEY]
    assert fresh_server_cache.load(run.config) is not None


# --- caps ----------------------------------------------------------------------------------------

def test_every_run_trains_on_one_torch_thread_whichever_thread_runs_it():
    assert DEFAULT_CONFIG.threads == 1
    assert appkit.config_from_query({"threads": "64"})[0].threads == 1  # not settable by a link
    seen, before = [], torch.get_num_threads()

    def worker():
        torch.set_num_threads(2)
        runs = stream(TINY)
        next(runs)
        seen.append(torch.get_num_threads())
        runs.close()

    try:
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(60)
    finally:
        torch.set_num_threads(before)
    assert seen == [1]


def test_one_run_per_session_changed_settings_stop_it_and_train_starts_the_next():
    at = open_page("pages/live_lab.py", {"steps": "5000", "seed": "41"})
    at.button(key="train").click().run()
    first = at.session_state["live_job"]
    settle(at.sidebar.number_input(key="keep_cfg_seed").set_value(42).run())
    assert first.state == "done" and first.run.status == "stopped"
    assert "sidebar has changed" in texts(at.info)
    at.sidebar.number_input(key="keep_cfg_steps").set_value(20).run()
    settle(at.button(key="train").click().run())
    assert at.session_state["live_job"] is not first
    assert at.session_state[appkit.LIVE_RUN_KEY].config.seed == 42


class Notice:
    """Stands in for an st.empty: keeps what it was told."""

    def __init__(self):
        self.messages = []

    def info(self, text, **_):
        self.messages.append(text)

    def empty(self):
        pass


@contextlib.contextmanager
def all_slots_taken(server):
    """Every core of the scheduler lent out, as lesson sweeps borrow them."""
    tickets = [server.line_up() for _ in range(server.workers)]
    assert all(server.try_borrow(ticket) == 0 for ticket in tickets)
    try:
        yield
    finally:
        for ticket in tickets:
            server.give_back(ticket, borrowed=True)


def test_beyond_the_servers_limit_a_run_waits_and_says_it_is_queued():
    gate, notice, result = appkit.scheduler(), Notice(), []
    cfg = dataclasses.replace(TINY, seed=42)
    waiter = threading.Thread(
        target=lambda: result.append(appkit.get_or_train(cfg, notice=notice)))
    with all_slots_taken(gate):
        waiter.start()
        deadline = time.monotonic() + 10
        while not notice.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert appkit.active_trainings() == gate.workers and not result
    waiter.join(60)
    ahead = f"{gate.workers} run{'s' if gate.workers > 1 else ''}"  # the ones training
    assert notice.messages[0].startswith(f"Queued: {ahead} ahead of yours")
    assert f"at most {gate.workers} train at once" in notice.messages[0]
    (run, replayed), = result
    assert run.status == "finished" and not replayed
    assert appkit.active_trainings() == 0


# --- sessions are apart ----------------------------------------------------------------------

def test_one_session_never_sees_another_sessions_run_or_settings():
    mine = open_page("pages/live_lab.py", {"norm": "layer", "seed": "123", "depth": "3",
                                           "steps": "20"})
    settle(mine.button(key="train").click().run())
    theirs = open_page("pages/live_lab.py")
    assert appkit.LIVE_RUN_KEY not in theirs.session_state
    assert theirs.sidebar.selectbox(key="keep_cfg_norm").value == DEFAULT_CONFIG.norm
    assert theirs.sidebar.number_input(key="keep_cfg_seed").value == DEFAULT_CONFIG.seed
    assert theirs.query_params["seed"] == str(DEFAULT_CONFIG.seed)
    assert "Finished" not in texts(theirs.success)
    theirs.sidebar.number_input(key="keep_cfg_steps").set_value(20).run()
    settle(theirs.button(key="train").click().run())
    assert theirs.session_state[appkit.LIVE_RUN_KEY].config.norm == DEFAULT_CONFIG.norm
    mine.run()  # the first session reruns after the second trained
    assert mine.session_state[appkit.LIVE_RUN_KEY].config.seed == 123
    assert (mine.query_params["norm"], mine.query_params["seed"]) == ("layer", "123")
    inspector = theirs.switch_page("pages/inspector.py").run()
    assert inspector.session_state[appkit.LIVE_RUN_KEY].config.seed == DEFAULT_CONFIG.seed


# --- hostile links and extreme controls -----------------------------------------------------------

HOSTILE = {
    "depth": "abc", "width": "1e999", "batch_size": "-7", "steps": "9" * 30,
    "lr": "<script>alert(1)</script>", "norm": "../../etc/passwd", "dataset": "%00",
    "model": "\x00", "activation": "", "init_gain": "nan", "init": "kaiming\nrm -rf /",
    "seed": ["1", "2", "x"], "optimizer": "ADAM' OR 1=1 --", "norm_position": "before" * 500,
    "unknown": "1", "__proto__": "x", "page": "../app.py",
}
EXTREME = {
    "diverges": {"lr": "100", "norm": "none"},
    "huge_init": {"init_gain": "100", "norm": "none"},
    "batch_of_one": {"batch_size": "1", "norm": "batch"},
    "deep_and_wide": {"depth": "64", "width": "1024"},
}


@pytest.fixture
def writes_outside_the_cache():
    """Every file this process opens for writing (or creates, renames, removes) outside the
    app's cache folder while the test runs, seen through Python's audit hooks."""
    cache = str(Path(os.environ["NORMLAB_CACHE_DIR"]).resolve())
    seen: list[str] = []
    WATCHERS.append((cache, seen))
    try:
        yield seen
    finally:
        WATCHERS.remove((cache, seen))


WATCHERS: list[tuple[str, list[str]]] = []
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple) -> None:
    if not WATCHERS:
        return
    if event == "open":
        path, mode, flags = args
        writing = (mode is not None and any(c in mode for c in "wax+")) or \
            (mode is None and isinstance(flags, int) and flags & WRITE_FLAGS)
        paths = [path] if writing else []
    elif event in ("os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.truncate",
                   "os.symlink", "os.link", "shutil.rmtree", "shutil.move"):
        paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
    else:
        return
    for path in paths:
        if isinstance(path, int):
            continue
        where = os.path.realpath(os.fsdecode(path))
        if event == "os.mkdir" and os.path.basename(where).startswith("torchinductor_"):
            continue  # torch makes its (empty) compile cache folder when the optimizer first runs
        for cache, seen in WATCHERS:
            if not where.startswith(cache + os.sep) and where != cache:
                seen.append(f"{event} {where}")


sys.addaudithook(_audit)  # hooks cannot be removed: this one is idle unless a test watches


@pytest.fixture
def quick_budget(monkeypatch):
    """Runs cut to a quarter second of estimated compute, so extreme settings stay quick on
    every page (the estimate runs low for deep, wide runs: see appkit.estimated_seconds)."""
    monkeypatch.setattr(appkit.limits, "BUDGET_SECONDS", 0.25)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_answers_hostile_links_with_a_note(page, quick_budget,
                                                      writes_outside_the_cache):
    at = open_page(page, HOSTILE)
    assert not at.exception, at.exception
    shown = texts(at.warning) + texts(at.error) + texts(at.markdown)
    assert "Some settings in the link were changed" in texts(at.warning)
    assert "<script>" not in shown and "etc/passwd" not in shown and "\x00" not in shown
    assert not writes_outside_the_cache


@pytest.mark.parametrize("settings", EXTREME.values(), ids=EXTREME.keys())
@pytest.mark.parametrize("page", PAGES)
def test_every_page_survives_settings_that_break_training(page, settings, quick_budget,
                                                          writes_outside_the_cache):
    at = open_page(page, settings)
    assert not at.exception, at.exception
    if page == "pages/live_lab.py":
        settle(at.button(key="train").click().run())
        assert not at.exception, at.exception
        outcome = texts(at.success) + texts(at.error)
        assert any(word in outcome for word in ("Finished", "Diverged at step", "batch size 1"))
    assert not writes_outside_the_cache


NUMERIC_CONTROLS = ("depth", "width", "batch_size", "lr", "steps", "init_gain", "seed")


def sidebar_control(at: AppTest, field: str):
    key = f"keep_cfg_{field}"
    for kind in ("slider", "number_input"):
        found = [w for w in getattr(at.sidebar, kind) if w.key == key]
        if found:
            return found[0]
    return None


def at_end(field: str, end: int):
    """LIMITS[field]'s low (end=0) or high (end=1) value, typed as the field is."""
    return type(getattr(DEFAULT_CONFIG, field))(LIMITS[field][end])


@functools.cache
def draws_the_sidebar(page: str) -> bool:
    """Whether `page` shows the shared experiment controls when it opens (seen, not read from
    its source); asked once per page."""
    return sidebar_control(open_page(page, {"steps": "20"}), "depth") is not None


def test_every_sidebar_control_at_both_ends_in_the_live_lab(quick_budget,
                                                             writes_outside_the_cache):
    at = open_page("pages/live_lab.py", {"steps": "20"})
    for field in NUMERIC_CONTROLS:
        for end in (0, 1):
            sidebar_control(at, field).set_value(at_end(field, end)).run()
            assert not at.exception, (field, end, at.exception)
        sidebar_control(at, field).set_value(getattr(DEFAULT_CONFIG, field)).run()
    for field in NUMERIC_CONTROLS:  # then every control at its minimum, and train
        sidebar_control(at, field).set_value(at_end(field, 0))
    at.run()
    settle(at.button(key="train").click().run())
    assert not at.exception, at.exception
    assert "batch size 1" in texts(at.error)  # BatchNorm with one example, refused in words
    assert not writes_outside_the_cache


# Every control at one end at once. Not all at the top: 64 layers of 1024 units at batch 1024
# take over a minute for their one budgeted step (see the report on estimated_seconds).
CORNERS = {"all_low": {f: 0 for f in NUMERIC_CONTROLS},
           "all_high_but_width": {f: 1 for f in NUMERIC_CONTROLS if f != "width"},
           "widest": {"width": 1}}


@pytest.mark.parametrize("corner", CORNERS.values(), ids=CORNERS.keys())
@pytest.mark.parametrize("page", PAGES)
def test_every_page_with_the_sidebar_takes_its_controls_at_the_ends(
        page, corner, quick_budget, writes_outside_the_cache):
    if not draws_the_sidebar(page):
        pytest.skip("this page does not draw the experiment sidebar")
    at = open_page(page, {"steps": "20"})
    for field, end in corner.items():
        if (control := sidebar_control(at, field)) is not None:
            control.set_value(at_end(field, end))
    at.run()
    assert not at.exception, at.exception
    assert not writes_outside_the_cache


# --- nothing keeps training --------------------------------------------------------------------

def test_a_stop_mid_training_releases_the_slot_and_keeps_nothing():
    """What a Stop, a rerun or a closed tab does to a live run: Streamlit raises StopException
    (or RerunException) at the next Streamlit call, here the snapshot callback."""
    cfg, snapshots = dataclasses.replace(TINY, steps=300, seed=43), []
    appkit.scheduler()  # its worker threads live as long as the server
    threads_before = threading.active_count()

    def on_snapshot(run):
        snapshots.append(run)
        if len(snapshots) == 2:
            raise StopException()

    with pytest.raises(StopException):
        appkit.get_or_train(cfg, on_snapshot=on_snapshot, notice=Notice())
    assert appkit.active_trainings() == 0 and appkit.scheduler().held == 0
    assert snapshots[-1].step < cfg.steps
    assert appkit.run_store().get(cfg) is None  # a stopped run is no answer for its config
    assert threading.active_count() == threads_before


def test_a_stop_while_queued_gives_up_the_place_in_line():
    gate = appkit.scheduler()
    cfg = dataclasses.replace(TINY, seed=44)

    class StoppingNotice(Notice):
        def info(self, text, **_):
            raise StopException()

    with all_slots_taken(gate), pytest.raises(StopException):
        appkit.get_or_train(cfg, notice=StoppingNotice())
    assert appkit.active_trainings() == 0
    assert gate.held == 0  # the stopped run left the line and let go of its model
    ticket = gate.line_up()
    assert gate.try_borrow(ticket) == 0  # nobody left in line ahead
    gate.give_back(ticket, borrowed=True)


def test_a_run_that_outlasts_the_hard_time_limit_is_stopped_and_told_why(monkeypatch):
    class Quiet:  # stands in for the st.empty() that shows the queue
        def info(self, *args, **kwargs): ...
        def empty(self): ...

    monkeypatch.setattr(appkit.scheduler(), "hard_limit", 0.0)
    cfg = dataclasses.replace(appkit.DEFAULT_CONFIG, steps=200, seed=4242)
    run, replayed = appkit.get_or_train(cfg, notice=Quiet())
    assert not replayed and run.status == "stopped" and run.step < cfg.steps
    assert "stops every run after" in run.message
    assert appkit.run_store().get(cfg) is None  # a cut-short run is not replayed to others


@pytest.mark.parametrize("page", PAGES)
def test_every_page_works_where_torch_sees_a_gpu(page, monkeypatch, quick_budget):
    """CI has no GPU (every other test here is the no-GPU case); torch is told it has one, so
    the code that branches on it runs: pages still train on the CPU unless asked, and the speed
    lesson offers the GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    at = open_page(page, {"steps": "20"})
    assert not at.exception, at.exception
    if page == "pages/speed.py":
        assert "cuda" in at.radio(key="speed_device").options
