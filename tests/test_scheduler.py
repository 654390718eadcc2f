"""The training scheduler: fair turns, pause/step/play, cancel within a step, abandoned jobs,
memory caps, cores lent to sweeps; and with the real engine, a Stop inside a long step."""

import threading
import time

import pytest

from appkit.scheduler import Full, Scheduler
from normlab.config import ConfigError, TrainConfig


class FakeRun:
    def __init__(self, cfg):
        self.config, self.step, self.status = cfg, 0, "running"
        self.wall_time, self.message = 0.0, ""

    def detached(self):
        copy = FakeRun(self.config)
        copy.__dict__.update(self.__dict__)
        return copy


def fake_stream(log, slice_seconds=0.01, snapshots=5):
    """A stand-in for engine.stream: `snapshots` slices, each sleeping in small pieces (layers)."""

    def train(cfg, record=True, should_stop=None):
        if cfg.depth == 13:
            raise ConfigError("no thirteen")
        run = FakeRun(cfg)
        try:
            for snapshot in range(snapshots):
                log.append((cfg.seed, snapshot))
                for _layer in range(10):
                    if should_stop is not None and should_stop():
                        run.status, run.message = "stopped", f"Stopped after {run.step} steps."
                        yield run
                        return
                    time.sleep(slice_seconds / 10)
                    run.wall_time += slice_seconds / 10
                run.step += 1
                if snapshot < snapshots - 1:
                    yield run
            run.status = "finished"
            yield run
        finally:
            if run.status == "running":
                run.status = "stopped"

    return train


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_every_run_gets_its_first_snapshot_before_any_run_gets_its_second():
    log, finished = [], []
    scheduler = Scheduler(workers=1, train=fake_stream(log), on_finish=finished.append)
    jobs = [scheduler.submit(TrainConfig(seed=s)) for s in range(6)]
    wait_until(lambda: all(job.done for job in jobs))
    first_turns = log[:6]
    assert sorted(seed for seed, snapshot in first_turns) == list(range(6))
    assert all(snapshot == 0 for _, snapshot in first_turns)
    assert [run.status for run in finished] == ["finished"] * 6


def test_at_most_workers_runs_train_at_once():
    log, peak = [], []
    scheduler = Scheduler(workers=2, train=fake_stream(log, slice_seconds=0.03))
    jobs = [scheduler.submit(TrainConfig(seed=s)) for s in range(5)]
    while not all(job.done for job in jobs):
        peak.append(scheduler.training)
        time.sleep(0.002)
    assert max(peak) == 2


def test_pause_then_step_trains_one_snapshot_then_play_runs_to_the_end():
    log = []
    scheduler = Scheduler(workers=1, train=fake_stream(log))
    job = scheduler.submit(TrainConfig(), snapshots=0)
    time.sleep(0.05)
    assert job.state == "paused" and log == []
    scheduler.play(job, 1)
    wait_until(lambda: job.state == "paused" and job.run is not None)
    assert job.run.step == 1 and log == [(0, 0)]
    scheduler.play(job)
    wait_until(lambda: job.done)
    assert job.run.status == "finished" and job.run.step == 5


def test_pause_while_training_parks_the_job_after_the_snapshot_in_flight():
    scheduler = Scheduler(workers=1, train=fake_stream([], slice_seconds=0.2, snapshots=50))
    job = scheduler.submit(TrainConfig())
    wait_until(lambda: job.run is not None)
    scheduler.pause(job)
    wait_until(lambda: job.state == "paused")
    held = job.run.step
    time.sleep(0.5)
    assert job.state == "paused" and job.run.step == held  # no turns while paused
    scheduler.cancel(job)


def test_cancel_reaches_a_run_inside_its_slice():
    scheduler = Scheduler(workers=1, train=fake_stream([], slice_seconds=5.0))
    job = scheduler.submit(TrainConfig())
    wait_until(lambda: job.state == "training")
    started = time.monotonic()
    scheduler.cancel(job)
    wait_until(lambda: job.done)
    assert time.monotonic() - started < 2.0
    assert job.run.status == "stopped" and "Stopped after" in job.run.message


def test_the_hard_limit_stops_a_run_inside_a_long_slice_and_says_why():
    scheduler = Scheduler(workers=1, hard_limit=0.2, train=fake_stream([], slice_seconds=5.0))
    job = scheduler.submit(TrainConfig())
    wait_until(lambda: job.done, timeout=3.0)
    assert job.run.status == "stopped" and "stops every run after" in job.run.message


def test_a_config_error_ends_the_job_with_its_message():
    scheduler = Scheduler(workers=1, train=fake_stream([]))
    job = scheduler.submit(TrainConfig(depth=13))
    wait_until(lambda: job.done)
    assert job.error == "no thirteen" and job.run is None


def test_a_job_nobody_looks_at_is_cancelled_and_frees_its_place():
    scheduler = Scheduler(workers=1, max_jobs=1, abandon_after=0.2,
                          train=fake_stream([], slice_seconds=0.05, snapshots=1000))
    job = scheduler.submit(TrainConfig(), snapshots=0)
    with pytest.raises(Full):
        scheduler.submit(TrainConfig(seed=1))
    wait_until(lambda: job.done, timeout=5.0)
    assert scheduler.held == 0
    scheduler.submit(TrainConfig(seed=1))


def test_a_job_being_looked_at_is_kept():
    scheduler = Scheduler(workers=1, abandon_after=0.2, train=fake_stream([]))
    job = scheduler.submit(TrainConfig(), snapshots=0)
    stop = threading.Event()

    def keep_looking():
        while not stop.is_set():
            scheduler.look(job)
            time.sleep(0.02)

    looker = threading.Thread(target=keep_looking)
    looker.start()
    time.sleep(1.5)  # the reaper runs about once a second
    stop.set(), looker.join()
    assert job.state == "paused"


def test_runs_past_the_memory_cap_are_refused_until_one_ends():
    scheduler = Scheduler(workers=1, max_bytes=250, footprint=lambda cfg: 100,
                          train=fake_stream([]))
    first, second = (scheduler.submit(TrainConfig(seed=s), snapshots=0) for s in (0, 1))
    with pytest.raises(Full, match="Try again"):
        scheduler.submit(TrainConfig(seed=2))
    scheduler.cancel(first)
    assert first.done and scheduler.held == 1
    scheduler.submit(TrainConfig(seed=2))
    assert second.state == "paused"


def test_a_sweep_borrows_a_core_before_the_next_turn_and_the_runs_wait_for_it():
    log = []
    scheduler = Scheduler(workers=1, train=fake_stream(log, slice_seconds=0.05, snapshots=20))
    job = scheduler.submit(TrainConfig())
    wait_until(lambda: job.state == "training")
    ticket = scheduler.line_up()
    wait_until(lambda: scheduler.try_borrow(ticket) == 0)  # at the end of the job's slice
    turns = len(log)
    time.sleep(0.3)
    assert len(log) == turns and job.state == "waiting"  # no turn while the core is lent
    assert scheduler.training == 1
    scheduler.give_back(ticket, borrowed=True)
    wait_until(lambda: len(log) > turns)


def test_a_stop_ends_a_real_run_inside_a_step_that_takes_seconds():
    from normlab.engine import stream

    scheduler = Scheduler(workers=1, train=stream)
    cfg = TrainConfig(model="cnn", depth=24, width=256, batch_size=128, steps=3,
                      eval_every=3, record_every=3)
    job = scheduler.submit(cfg)
    wait_until(lambda: job.state == "training", timeout=60)
    time.sleep(1.0)  # inside the first step (it takes several seconds here)
    assert job.run is None
    asked = time.monotonic()
    scheduler.cancel(job)
    wait_until(lambda: job.done, timeout=30)
    assert time.monotonic() - asked < 2.0
    assert job.run.status == "stopped" and job.run.step == 0


def test_a_sweep_that_leaves_the_line_without_a_core_lets_the_runs_go_at_once():
    log = []
    scheduler = Scheduler(workers=1, train=fake_stream(log))
    ticket = scheduler.line_up()  # a sweep in line: the one core is kept for it
    job = scheduler.submit(TrainConfig())
    time.sleep(0.1)
    assert job.state == "waiting"
    left = time.monotonic()
    scheduler.give_back(ticket, borrowed=False)  # its page was stopped before it got a core
    wait_until(lambda: job.state != "waiting", timeout=5.0)
    assert time.monotonic() - left < 0.5  # not at the workers' next one-second check
