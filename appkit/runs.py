"""Runs for the pages: the server's in-memory run store over the disk run cache, the training
gate that queues sessions for a slot, and the calls pages make (get_or_train, train_live,
last_run, cached_run).

Two layers keep finished runs, and their names say which: `RunStore` lives in memory, is shared
by every session and forgets the least recently used; `normlab.runcache.RunCache` lives on disk,
survives a restart and holds what `normlab precompute` trained. `run_store()` is the one
RunStore of this server, with the RunCache of `cache_dir()` under it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import streamlit as st

from appkit import limits
from normlab.config import ConfigError, TrainConfig
from normlab.defaults import DEFAULT_CONFIG
from normlab.engine import Run, stream
from normlab.plots import norm_label
from normlab.runcache import RunCache, default_cache

# The session_state key of the session's live run: train_live writes it, last_run reads it
# back (the live lab, and the inspector, which steps through it).
LIVE_RUN_KEY = "live_run"

class RunStore:
    """Finished (or diverged) runs by config, shared by every session; least recently used go.

    A run trained while its charts were drawn live has wall times that include the drawing,
    so it is kept as not `clean`; `get(cfg, clean=True)` skips it (the Compare page's timings).
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


class TrainingGate:
    """At most `limit` trainings at once on the server; the rest wait in line, first come first."""

    def __init__(self, limit: int):
        self.limit = limit
        self.slots = threading.BoundedSemaphore(limit)
        self.running = 0
        self._line: list[object] = []
        self._lock = threading.Lock()

    def join(self) -> object:
        ticket = object()
        with self._lock:
            self._line.append(ticket)
        return ticket

    def try_enter(self, ticket: object) -> int:
        """0 if `ticket` now holds a slot, else how many runs are ahead of it."""
        with self._lock:
            place = self._line.index(ticket)
            if place == 0 and self.slots.acquire(blocking=False):
                self._line.pop(0)
                self.running += 1
                return 0
            return self.running + place

    def leave(self, ticket: object) -> None:
        with self._lock:
            if ticket in self._line:
                self._line.remove(ticket)

    def release(self) -> None:
        with self._lock:
            self.running -= 1
            self.slots.release()


@st.cache_resource
def run_store() -> RunStore:
    """The server's in-memory run store, over the disk run cache in cache_dir()."""
    return RunStore(disk=default_cache())  # None: NORMLAB_CACHE_DIR="" turns the disk off


@st.cache_resource
def training_gate() -> TrainingGate:
    """The server's one gate: every session's trainings and uncached sweeps pass through it."""
    return TrainingGate(limits.MAX_CONCURRENT_TRAININGS)


def active_trainings() -> int:
    """How many runs are training on this server now, all sessions together."""
    return training_gate().running


@st.cache_resource
def warm_up() -> bool:
    """Load the digits and torch's kernels once per server, so a first Train is quick."""
    from normlab.engine import train

    train(dataclasses.replace(DEFAULT_CONFIG, steps=2))
    return True


def get_or_train(cfg: TrainConfig, on_snapshot: Callable[[Run], None] | None = None,
                 notice=None, clean: bool = False, drawn: bool = False) -> tuple[Run, bool]:
    """The run for `cfg`: replayed from the shared store, else trained once a slot is free.

    Returns (run, replayed). While queued, `notice` (an st.empty) says how many runs are ahead;
    a rerun stops the wait or the training at the next Streamlit call. clean=True replays only
    runs whose wall times were not inflated by live drawing; drawn=True says `on_snapshot`
    draws charts (slow), so this run's wall times are not fit to compare. Raises ConfigError.
    """
    store = run_store()
    if (run := store.get(cfg, clean=clean)) is not None:
        return run, True
    notice = notice if notice is not None else st.empty()
    gate, entered = training_gate(), False
    ticket = gate.join()
    try:
        while (ahead := gate.try_enter(ticket)) > 0:
            if (run := store.get(cfg, clean=clean)) is not None:  # trained elsewhere meanwhile
                return run, True
            notice.info(f"Queued: {ahead} run{'s' if ahead > 1 else ''} ahead of yours "
                        f"(at most {gate.limit} train at once on this server).",
                        icon=":material/hourglass_top:")
            time.sleep(0.25)
        entered = True
        notice.empty()
        if (run := store.get(cfg, clean=clean)) is not None:
            return run, True
        with contextlib.closing(stream(cfg)) as runs:  # closing marks an abandoned run "stopped"
            for run in runs:
                if on_snapshot is not None:
                    on_snapshot(run)
                if run.status == "running" and run.wall_time > limits.HARD_LIMIT_SECONDS:
                    break
        if run.status == "stopped":  # by the time limit: a user's Stop never gets here
            run.message = (f"Stopped after {run.step} steps: this server stops every run after "
                           f"{limits.HARD_LIMIT_SECONDS:.0f} s of training, so one run cannot hold "
                           "the CPU that the whole class shares. Try fewer steps, layers or "
                           "units.")
            return run, False  # how far it got depends on the machine: not worth replaying
        store.put(run, clean=not drawn)
        return run, False
    finally:  # no Streamlit calls here: after a stop they would raise again
        if entered:
            gate.release()
        else:
            gate.leave(ticket)


def train_live(cfg: TrainConfig, draw: Callable[[Run], None], notice=None,
               key: str = LIVE_RUN_KEY) -> Run | None:
    """Train `cfg` (or replay it), calling draw(run) up to limits.REDRAWS_PER_SECOND times a second.

    The growing run is saved in st.session_state[key] after every snapshot, so a Stop, a changed
    control or a page switch leaves what was trained so far on screen. A ConfigError is shown as
    an st.error and returns None. One run at a time per session: a new one waits for the old.
    """
    notice = notice if notice is not None else st.empty()
    lock = st.session_state.setdefault("_training_lock", threading.Lock())
    while not lock.acquire(timeout=0.05):  # the previous run stops at its next snapshot
        notice.info("Stopping the previous run…")
    started, last_draw, draws = time.perf_counter(), 0.0, []

    def on_snapshot(run: Run) -> None:
        nonlocal last_draw
        st.session_state[key] = run
        now = time.perf_counter()
        if now - last_draw >= 1 / limits.REDRAWS_PER_SECOND:
            last_draw = now
            draw(run)
            draws.append(time.perf_counter() - started)
            st.session_state["live_draws"] = draws

    try:
        run, replayed = get_or_train(cfg, on_snapshot, notice, drawn=True)
    except ConfigError as error:
        notice.error(f"This configuration cannot train: {error}", icon=":material/block:")
        return None
    finally:
        lock.release()
    st.session_state[key] = run
    st.session_state["live_draws"] = draws
    st.session_state["live_replayed"] = replayed
    draw(run)
    return run


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

