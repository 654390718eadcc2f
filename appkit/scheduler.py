"""Training off the script threads, time-sliced: each run trains one snapshot's worth of steps on
one of a few worker threads (one per core), then goes to the back of the line, so thirty
students' first charts come within seconds of each other instead of thirty runs in a queue.

No Streamlit here: pages hand a config in, look at the latest snapshot (a detached copy), and
play, pause, step or cancel. A job no page looks at any more (its tab closed) is cancelled.
A lesson sweep, which trains many runs in its own thread, borrows a core for its duration.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from normlab.budget import estimate_peak_bytes
from normlab.config import ConfigError, TrainConfig
from normlab.engine import Run, stream

log = logging.getLogger(__name__)

Train = Callable[..., Iterator[Run]]  # engine.stream's signature: (cfg, record, should_stop)


class Full(ConfigError):
    """The server holds as many runs as it may; the message says what to do."""


@dataclass(eq=False)
class Job:
    """One run in the scheduler. Read `state`, `run` and `error`; change it through Scheduler."""

    config: TrainConfig
    record: bool = True
    state: str = "waiting"  # waiting (in line), training (a worker has it), paused, done
    run: Run | None = None  # a detached copy at the latest snapshot, safe to read and draw
    error: str | None = None  # why it could not train (a ConfigError's message)
    snapshots_left: int | None = None  # snapshots to train before pausing; None: to the end
    seen: float = field(default_factory=time.monotonic)  # when a page last looked at it
    _stop: threading.Event = field(default_factory=threading.Event)
    _ended: threading.Event = field(default_factory=threading.Event)
    _runs: Iterator[Run] | None = None
    _live: Run | None = None  # the engine's own Run: only the worker holding the job reads it
    _slice_started: float = 0.0
    _spent: float = 0.0  # training seconds before this slice

    @property
    def done(self) -> bool:
        return self.state == "done"


class Scheduler:
    """At most `workers` runs train at any instant (one per core); the rest wait in one line.

    A worker takes the job that has waited longest, trains it to its next snapshot, publishes a
    copy of the run, and puts the job at the back of the line (or parks it, if paused). Stop,
    the time limit and an abandoned tab reach a job inside a step, between two layers.
    """

    def __init__(self, workers: int = 2, max_jobs: int = 64, max_bytes: float = math.inf,
                 hard_limit: float = 60.0, abandon_after: float = 30.0,
                 on_finish: Callable[[Run], None] | None = None, train: Train = stream,
                 footprint: Callable[[TrainConfig], int] = estimate_peak_bytes):
        self.workers, self.max_jobs, self.max_bytes = workers, max_jobs, max_bytes
        self.hard_limit, self.abandon_after = hard_limit, abandon_after
        self.on_finish, self._train, self._footprint = on_finish, train, footprint
        self._line: collections.deque[Job] = collections.deque()
        self._jobs: dict[Job, int] = {}  # every job not done, and its estimated peak bytes
        self._training = 0  # jobs a worker holds now
        self._borrowers: collections.deque[object] = collections.deque()  # sweeps waiting
        self._borrowed = 0  # cores lent to sweeps now
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._work, name=f"normlab-train-{i}",
                                          daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # --- what pages call -------------------------------------------------------------------
    def submit(self, cfg: TrainConfig, record: bool = True, snapshots: int | None = None) -> Job:
        """A new job for `cfg`, in line to train `snapshots` snapshots (None: to the end, 0:
        paused before its first step). Raises Full when the server holds max_jobs runs."""
        job, footprint = Job(cfg, record, snapshots_left=snapshots), self._footprint(cfg)
        with self._cond:
            self._reap()
            if (len(self._jobs) >= self.max_jobs
                    or sum(self._jobs.values()) + footprint > self.max_bytes):
                raise Full(f"This server holds {len(self._jobs)} runs in memory, as many as it "
                           "may at once. Try again in a few seconds.")
            self._jobs[job] = footprint
            self._schedule(job)
        return job

    def play(self, job: Job, snapshots: int | None = None) -> None:
        """Train on: to the end, or `snapshots` more snapshots (1 is one Step)."""
        with self._cond:
            job.seen, job.snapshots_left = time.monotonic(), snapshots
            if job.state == "paused":
                self._schedule(job)

    def pause(self, job: Job) -> None:
        """Stop after the snapshot being trained now; the job keeps its model for play()."""
        self.play(job, 0)

    def cancel(self, job: Job, wait: float = 0.0) -> bool:
        """End the job within a layer's time (its run ends "stopped"); wait up to `wait`
        seconds for it to let go of its core and memory. True once it has."""
        job._stop.set()
        with self._cond:
            if job.state in ("waiting", "paused"):
                self._finish(job)
        return job._ended.wait(wait)

    def look(self, job: Job) -> Run | None:
        """The latest snapshot, and a sign that the page still shows this job."""
        job.seen = time.monotonic()
        return job.run

    def ahead(self, job: Job) -> int:
        """Runs that train before this job's next turn (0 while it trains)."""
        with self._cond:
            if job.state != "waiting":
                return 0
            return (self._training + self._borrowed + len(self._borrowers)
                    + list(self._line).index(job))

    @property
    def training(self) -> int:
        """Runs (and sweeps) training at this instant, all sessions together."""
        return self._training + self._borrowed

    @property
    def held(self) -> int:
        """Runs held in memory (training, waiting or paused)."""
        return len(self._jobs)

    # --- a core for a lesson sweep ------------------------------------------------------------
    def line_up(self) -> object:
        """A ticket for a sweep that wants a core; pass it to try_borrow, then give_back."""
        ticket = object()
        with self._cond:
            self._borrowers.append(ticket)
        return ticket

    def try_borrow(self, ticket: object) -> int:
        """0 if `ticket` now holds a core (sweeps go before the next job's turn), else how many
        runs train or wait ahead of it."""
        with self._cond:
            place = self._borrowers.index(ticket)
            if place == 0 and self._free_cores() > 0:
                self._borrowers.popleft()
                self._borrowed += 1
                return 0
            return self._training + self._borrowed + place

    def give_back(self, ticket: object, borrowed: bool) -> None:
        """Return the core (borrowed=True), or leave the line without one."""
        with self._cond:
            if borrowed:
                self._borrowed -= 1
            elif ticket in self._borrowers:
                self._borrowers.remove(ticket)
            self._cond.notify_all()  # either way a worker may take the next turn now

    # --- the workers -------------------------------------------------------------------------
    def _schedule(self, job: Job) -> None:  # holding the lock
        if job.snapshots_left == 0:
            job.state = "paused"
        else:
            job.state = "waiting"
            self._line.append(job)
            self._cond.notify_all()

    def _free_cores(self) -> int:  # holding the lock
        return self.workers - self._training - self._borrowed

    def _work(self) -> None:
        while True:
            with self._cond:
                # a waiting sweep gets the next free core: it cannot wait in this line
                while not (self._line and self._free_cores() > len(self._borrowers)):
                    self._cond.wait(timeout=1.0)
                    self._reap()
                self._reap()  # an abandoned job waiting in line is not worth a turn
                if not self._line:
                    continue
                job = self._line.popleft()
                job.state, self._training = "training", self._training + 1
            try:
                self._advance(job)
            finally:
                with self._cond:
                    self._training -= 1
                    if job.state == "training":  # not finished by _advance
                        if job.snapshots_left:  # None: to the end; 0: paused meanwhile
                            job.snapshots_left -= 1
                        self._schedule(job)
                    self._cond.notify_all()  # a core is free: for a sweep or another worker

    def _should_stop(self, job: Job) -> bool:
        """Checked by the engine between layers: a Stop, or the run's time limit reached."""
        return job._stop.is_set() or (
            job._spent + time.monotonic() - job._slice_started > self.hard_limit)

    def _advance(self, job: Job) -> None:
        """Train `job` to its next snapshot and publish a copy; finish it if it ended."""
        job._slice_started = time.monotonic()
        job._spent = job._live.wall_time if job._live is not None else 0.0
        try:
            if job._runs is None:
                job._runs = self._train(job.config, record=job.record,
                                        should_stop=lambda: self._should_stop(job))
            job._live = next(job._runs)
        except StopIteration:
            pass
        except ConfigError as error:
            job.error = str(error)
        except Exception as error:  # a bug must not take a worker thread down
            log.exception("training %s failed", job.config)
            job.error = f"Training failed: {error}"
        if job._live is not None and job._live.status == "stopped" and not job._stop.is_set():
            job._live.message = (
                f"Stopped after {job._live.step} steps: this server stops every run after "
                f"{self.hard_limit:.0f} s of training, so one run cannot hold the CPU the "
                "whole class shares. Try fewer steps, layers or units.")
        if job._live is not None:
            job.run = job._live.detached()
        if job.error or job._live is None or job._live.status != "running":
            with self._cond:
                self._finish(job)

    def _finish(self, job: Job) -> None:  # holding the lock
        if job._runs is not None:
            with contextlib.suppress(Exception):
                job._runs.close()  # marks a run cut short "stopped", removes the recorder
            if job._live is not None:
                job.run = job._live.detached()
        job._runs, job._live = None, None  # the model and optimizer go with the generator
        if self.on_finish is not None and job.run is not None:
            self.on_finish(job.run)  # before "done": whoever waits for it finds it stored
        job.state = "done"
        self._jobs.pop(job, None)
        with contextlib.suppress(ValueError):
            self._line.remove(job)
        job._ended.set()

    def _reap(self) -> None:  # holding the lock
        """Cancel jobs no page has looked at for abandon_after seconds (their tab is gone)."""
        cutoff = time.monotonic() - self.abandon_after
        for job in [j for j in self._jobs if j.seen < cutoff]:
            job._stop.set()
            if job.state != "training":
                self._finish(job)
