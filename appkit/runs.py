"""Runs for the pages: the server's in-memory run store over the disk run cache, the scheduler
that trains every session's runs in turns (appkit.scheduler), and the calls pages make
(get_or_train, last_run, cached_run; the live lab's job is appkit.live).

Two layers keep finished runs, and their names say which: `RunStore` lives in memory, is shared
by every session and forgets the least recently used; `normlab.runcache.RunCache` lives on disk,
survives a restart and holds what `normlab precompute` trained. `run_store()` is the one
RunStore of this server, with the RunCache of `cache_dir()` under it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import streamlit as st

from appkit import limits
from appkit.scheduler import Scheduler
from normlab.config import ConfigError, TrainConfig
from normlab.defaults import DEFAULT_CONFIG
from normlab.engine import Run
from normlab.plots import norm_label
from normlab.runcache import RunCache, default_cache

# The session_state key of the session's live run: appkit.live writes it, last_run reads it
# back (the live lab, and the inspector, which steps through it).
LIVE_RUN_KEY = "live_run"

class RunStore:
    """Finished (or diverged) runs by config, shared by every session; least recently used go.

    A run put as not `clean` (its wall times were inflated, e.g. by drawing on the training
    thread) is skipped by `get(cfg, clean=True)` (the Compare page's timings). The scheduler
    trains off the pages' threads, so its runs are clean.
    With a `disk` cache (see normlab.runcache and `normlab precompute`), a miss in memory is
    looked up there, and every run put here is saved there too.
    """

    def __init__(self, capacity: int = limits.STORE_CAPACITY, disk: RunCache | None = None):
        self.capacity = capacity
        self.disk = disk
        self._in_memory: OrderedDict[TrainConfig, tuple[Run, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, cfg: TrainConfig, clean: bool = False) -> Run | None:
        if self.disk is not None and cfg not in self._in_memory and (saved := self.disk.load(cfg)):
            self._keep(*saved)
        with self._lock:
            run, run_clean = self._in_memory.get(cfg, (None, False))
            if run is None or (clean and not run_clean):
                return None
            self._in_memory.move_to_end(cfg)
            return run

    def put(self, run: Run, clean: bool = True) -> None:
        if run.status not in ("finished", "diverged"):
            return  # a stopped run is not the answer for its config
        self._keep(run, clean)
        if self.disk is not None:
            self.disk.save(run, clean)  # outside the lock: writing takes a few milliseconds

    def _keep(self, run: Run, clean: bool) -> None:
        with self._lock:
            if clean or not self._in_memory.get(run.config, (None, False))[1]:
                self._in_memory[run.config] = (run, clean)
            self._in_memory.move_to_end(run.config)
            while len(self._in_memory) > self.capacity:
                self._in_memory.popitem(last=False)

    def __len__(self) -> int:
        return len(self._in_memory)


@st.cache_resource
def run_store() -> RunStore:
    """The server's in-memory run store, over the disk run cache in cache_dir()."""
    return RunStore(disk=default_cache())  # None: NORMLAB_CACHE_DIR="" turns the disk off


@st.cache_resource
def scheduler() -> Scheduler:
    """The server's one scheduler: every session's runs train on its workers, in turns, and the
    finished ones go into the run store (and the disk cache under it)."""
    return Scheduler(workers=limits.MAX_CONCURRENT_TRAININGS, max_jobs=limits.MAX_RUNS_HELD,
                     max_bytes=limits.MAX_HELD_BYTES, hard_limit=limits.HARD_LIMIT_SECONDS,
                     on_finish=lambda run: run_store().put(run))  # the store of now


def active_trainings() -> int:
    """How many runs are training on this server now, all sessions together."""
    return scheduler().training


@st.cache_resource
def warm_up() -> bool:
    """Load the digits and torch's kernels once per server, so a first Train is quick."""
    from normlab.engine import train

    train(dataclasses.replace(DEFAULT_CONFIG, steps=2))
    return True


def get_or_train(cfg: TrainConfig, on_snapshot: Callable[[Run], None] | None = None,
                 notice=None, clean: bool = False) -> tuple[Run, bool]:
    """The run for `cfg`: replayed from the shared store, else trained by the server's
    scheduler, in turns with every other session's runs (see appkit.scheduler).

    Returns (run, replayed). on_snapshot(run) gets each new snapshot (a copy, safe to draw).
    While the run waits for its first turn, `notice` (an st.empty) says how many runs are
    ahead. A rerun, a Stop or a closed tab ends the wait at the next Streamlit call (one comes
    at least every quarter second) and the run within one layer's time. clean=True replays only
    runs trained with this scheduler's clean wall times. Raises ConfigError (also when the
    server holds as many runs as it may: scheduler.Full).
    """
    store = run_store()
    if (run := store.get(cfg, clean=clean)) is not None:
        return run, True
    notice = notice if notice is not None else st.empty()
    server = scheduler()
    job = server.submit(cfg)
    shown, said, last_call = None, None, 0.0
    try:
        while True:
            if (run := server.look(job)) is not None and run is not shown:
                shown = run
                if on_snapshot is not None:
                    on_snapshot(run)
            if job.done:
                break
            ahead = server.ahead(job) if shown is None else 0
            text = (f"Queued: {ahead} run{'s' if ahead > 1 else ''} ahead of yours (at most "
                    f"{server.workers} train at once on this server, in turns)." if ahead else None)
            if text != said or time.monotonic() - last_call > 0.25:  # how a Stop reaches here
                if text:
                    notice.info(text, icon=":material/hourglass_top:")
                else:
                    notice.empty()
                said, last_call = text, time.monotonic()
            time.sleep(0.02)
    finally:  # no Streamlit calls here: after a stop they would raise again
        if not job.done:
            server.cancel(job, wait=2.0)  # within a layer's time: it frees its core at once
    if job.error is not None:
        raise ConfigError(job.error)
    return job.run, False


def last_run(key: str = LIVE_RUN_KEY) -> Run | None:
    """The session's last live run, once a training this session just interrupted has wound down
    (a rerun can start while the old script run is still closing its generator)."""
    lock = st.session_state.get("_training_lock")
    if lock is not None and lock.acquire(timeout=3.0):
        lock.release()
    return st.session_state.get(key)


def cached_run(cfg: TrainConfig) -> Run | None:
    """The finished run for `cfg`, trained behind a spinner if no session has trained it yet."""
    try:
        with st.spinner(f"Training {norm_label(cfg.norm)} for {cfg.steps} steps…"):
            return get_or_train(cfg)[0]
    except ConfigError as error:
        st.error(f"This configuration cannot train: {error}", icon=":material/block:")
        return None

