"""What every page of the app shares: the sidebar bound to the URL, the run store, the live loop.

Pages call `sidebar()` for the experiment's TrainConfig, `train_live` or `get_or_train` for a
Run, and the plot builders in normlab.plots for figures. Widget values that must survive moving
between pages live under keys starting with "keep_" (see `keep_widget_state`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import inspect
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

import pandas as pd
import streamlit as st

from normlab import config as C
from normlab import experiments
from normlab.config import LIMITS, ConfigError, TrainConfig
from normlab.defaults import DEFAULT_CONFIG, START_HERE, with_cadence
from normlab.engine import Run, stream
from normlab.plots import norm_label
from normlab.registry import NORMS
from normlab.runcache import RunCache, cache_dir

# --- the pages: one list feeds the navigation (app.py) and the lesson map on Home ------------

@dataclasses.dataclass(frozen=True)
class Lesson:
    path: str
    title: str
    icon: str
    teaches: str  # one line for the map on Home


SECTIONS: dict[str, list[Lesson]] = {
    "Learn": [
        Lesson("pages/home.py", "Home", ":material/home:", "Why normalization exists."),
        Lesson("pages/concepts.py", "Concepts", ":material/functions:",
               "The formulas, which numbers share statistics, and a worked example you can "
               "edit."),
    ],
    "Lab": [
        Lesson("pages/live_lab.py", "Live lab", ":material/science:",
               "Train one network and watch its loss, layer distributions and gradients live."),
        Lesson("pages/compare.py", "Compare norms", ":material/compare_arrows:",
               "No norm, BatchNorm, LayerNorm and RMSNorm from the same seed, side by side."),
        Lesson("pages/inspector.py", "Layer inspector", ":material/layers:",
               "Step through a run's per-layer histograms, before and after the norm."),
    ],
    "Lessons": [
        Lesson("pages/batch_size.py", "Batch size", ":material/straighten:",
               "Is batch norm robust to the batch size? Accuracy from batch 2 to 256."),
        Lesson("pages/batch_dependence.py", "Batch dependence", ":material/group:",
               "One example inside different batches: whose output moves?"),
        Lesson("pages/bn_train_eval.py", "Train vs eval", ":material/swap_horiz:",
               "Batch norm's running statistics against the truth, and when they lag."),
        Lesson("pages/depth.py", "Depth", ":material/stacked_line_chart:",
               "Vanishing and exploding activations and gradients, 2 to 64 layers deep."),
        Lesson("pages/invariances.py", "Invariances", ":material/transform:",
               "Which rescalings and shifts each norm ignores, computed, next to the papers."),
        Lesson("pages/speed.py", "Speed", ":material/timer:",
               "Is RMS norm cheaper than layer norm? Timed on this machine."),
    ],
    "Test the claims": [
        Lesson("pages/claims.py", "Claim checker", ":material/fact_check:",
               "Each common claim, a one-click experiment, and a verdict from the data."),
        Lesson("pages/presets.py", "Paper presets", ":material/menu_book:",
               "Miniatures of Ioffe & Szegedy Fig 1, Ba et al. Fig 6 and Wu & He Fig 1."),
    ],
}


# The page that teaches each lesson of normlab.lessons (keys: normlab.lessons.LESSON_KEYS).
LESSON_PAGES = {
    "batch_size": "pages/batch_size.py", "batch_dependence": "pages/batch_dependence.py",
    "train_eval": "pages/bn_train_eval.py", "depth": "pages/depth.py",
    "invariances": "pages/invariances.py", "speed": "pages/speed.py",
    "convergence": "pages/compare.py",  # no lesson page: Compare shows the loss by step
    "concepts": "pages/concepts.py",
}


def page_for_lesson(key: str) -> str | None:
    """The page path of lesson `key`, or None if no page teaches it."""
    return LESSON_PAGES.get(key)


def page_title(path: str) -> str:
    """The navigation title of the page at `path`."""
    return next(page.title for pages in SECTIONS.values() for page in pages if page.path == path)


# --- the experiment's settings: URL <-> TrainConfig -------------------------------------------

URL_FIELDS = ("norm", "dataset", "model", "depth", "width", "activation", "norm_position",
              "init", "init_gain", "batch_size", "lr", "optimizer", "steps", "seed")
CHOICES: dict[str, tuple[str, ...]] = {
    "norm": tuple(NORMS), "dataset": C.DATASETS, "model": C.MODELS,
    "activation": C.ACTIVATIONS, "norm_position": C.NORM_POSITIONS, "init": C.INITS,
    "optimizer": C.OPTIMIZERS,
}
INTEGER_FIELDS = ("depth", "width", "batch_size", "steps", "seed")

# Caps. A run's cost is estimated from measurements on one CPU thread (see `estimated_seconds`).
BUDGET_SECONDS = 30.0
# The estimate above can be several times off for deep, wide runs: training stops for good
# once a run has actually trained this long.
HARD_LIMIT_SECONDS = 2 * BUDGET_SECONDS
MAX_CONCURRENT_TRAININGS = int(os.environ.get("NORMLAB_MAX_TRAININGS", os.cpu_count() or 2))
STORE_CAPACITY = 48  # finished runs kept for replay, server-wide
REDRAWS_PER_SECOND = 8.0
LIVE_RUN_KEY = "live_run"


def estimated_seconds(cfg: TrainConfig) -> float:
    """Rough single-thread time of a run: multiply-adds at ~6 GFLOP/s plus ~0.5 ms per layer-step.

    Measured on a 2-core CPU: an MLP of 6 x 512 at batch 512 ran 50 steps in 6.6 s; 64 layers
    of 64 units ran 100 steps in 3.5 s; the CNN's 3x3 convolutions over 8x8 images cost 576x
    an MLP layer of the same width.
    """
    multiply_adds = cfg.batch_size * cfg.depth * cfg.width**2 * (576 if cfg.model == "cnn" else 1)
    per_step = multiply_adds / 6e9 + cfg.depth * (1e-3 if cfg.model == "cnn" else 5e-4)
    return cfg.steps * per_step


def within_budget(cfg: TrainConfig) -> tuple[TrainConfig, str | None]:
    """`cfg` with its steps cut to fit BUDGET_SECONDS, and a note saying so (None if it fit)."""
    seconds = estimated_seconds(cfg)
    if seconds <= BUDGET_SECONDS:
        return cfg, None
    steps = max(1, math.floor(cfg.steps * BUDGET_SECONDS / seconds))
    note = (f"steps cut from {cfg.steps} to {steps}: each run may take about "
            f"{BUDGET_SECONDS:.0f} s of compute (this one was estimated at {seconds:.0f} s)")
    return with_cadence(dataclasses.replace(cfg, steps=steps)), note


def _shown(raw: str) -> str:
    """A URL value made safe to print: short, one line, no markdown or HTML."""
    text = "".join(ch for ch in raw if ch.isalnum() or ch in ".-_+ ")[:24]
    return f"'{text}'" + ("…" if len(raw) > 24 else "")


def _number(field: str, raw: str, default: float) -> tuple[float, str | None]:
    lo, hi = LIMITS[field]
    try:
        value = float(raw.strip())
    except ValueError:
        return default, f"{field}: {_shown(raw)} is not a number, used {default:g}"
    if not math.isfinite(value):
        return default, f"{field}: {_shown(raw)} is not a finite number, used {default:g}"
    if field in INTEGER_FIELDS and value != int(value):
        return _number(field, str(round(value)), default)[0], (
            f"{field}: {value:g} is not a whole number, used {round(value)}")
    if value < lo:
        return lo, f"{field}: {value:g} is below the minimum, used {lo:g}"
    if value > hi:
        return hi, f"{field}: {value:g} is above the maximum, used {hi:g}"
    return value, None


def config_from_query(params: Mapping[str, str | list[str]]) -> tuple[TrainConfig, list[str]]:
    """The experiment a URL asks for, and one note per value that had to be replaced or clamped.

    Unknown keys are ignored; a bad value becomes the default, an out-of-range one the nearest
    limit; the steps are then cut to the per-run budget. Never raises.
    """
    values, notes = {}, []
    for field in URL_FIELDS:
        raw = params.get(field)
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else None
        if raw is None:
            continue
        raw, default = str(raw), getattr(DEFAULT_CONFIG, field)
        if field in CHOICES:
            value = raw.strip().lower()
            if value in CHOICES[field]:
                values[field] = value
            else:
                values[field] = default
                notes.append(f"{field}: {_shown(raw)} is not one of "
                             f"{', '.join(CHOICES[field])}, used {default}")
            continue
        number, note = _number(field, raw, default)
        values[field] = int(number) if field in INTEGER_FIELDS else number
        if note:
            notes.append(note)
    cfg = with_cadence(dataclasses.replace(DEFAULT_CONFIG, **values))
    cfg, note = within_budget(cfg)
    return cfg, notes + ([note] if note else [])


def config_to_query(cfg: TrainConfig) -> dict[str, str]:
    """The URL parameters that reopen `cfg`."""
    return {field: f"{getattr(cfg, field):g}" if isinstance(getattr(cfg, field), float)
            else str(getattr(cfg, field)) for field in URL_FIELDS}


# --- session state: the sidebar, the URL and widgets that outlive a page -----------------------

def _key(field: str) -> str:
    return f"keep_cfg_{field}"


def keep_widget_state() -> None:
    """Stop Streamlit from dropping "keep_" widget values on pages that do not draw the widget.

    Called at the top of every page (Streamlit's documented way to carry widget values across
    pages).
    """
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith("keep_"):
            st.session_state[key] = st.session_state[key]


def page_setup(page_file: str) -> None:
    """The first call of every page: keep widget values across pages, take a shared link's
    settings on a session's first run, and list what the link asked for that could not be used.

    A fresh server's first session that deep-links to a page runs that page without app.py
    (Streamlit falls back to the pages/ folder until st.navigation has run once): such a run is
    sent through app.py, which then opens the page, with the link's settings.
    """
    if "_framed" not in st.session_state:
        st.session_state["_deep_link"] = f"pages/{os.path.basename(page_file)}"
        st.switch_page("app.py", query_params=st.query_params.to_dict())
    keep_widget_state()
    init_session()
    show_url_notes()


def set_config(cfg: TrainConfig) -> None:
    """Make `cfg` the sidebar's settings (for presets; call before the sidebar is drawn)."""
    for field in URL_FIELDS:
        st.session_state[_key(field)] = getattr(cfg, field)


def current_config() -> TrainConfig:
    """The sidebar's settings as a TrainConfig (not validated: pages show ConfigError)."""
    values = {field: st.session_state.get(_key(field), getattr(DEFAULT_CONFIG, field))
              for field in URL_FIELDS}
    return within_budget(with_cadence(dataclasses.replace(DEFAULT_CONFIG, **values)))[0]


def init_session() -> None:
    """On a session's first run, take the settings from the URL (clamped) or the defaults."""
    if _key("norm") in st.session_state:
        return
    params = st.query_params.to_dict()
    cfg, notes = config_from_query(params)
    set_config(cfg)
    st.session_state["url_notes"] = notes


def show_url_notes() -> None:
    """One warning listing what the URL asked for that could not be used, until a control moves."""
    notes = st.session_state.get("url_notes") or []
    if notes:
        st.warning("Some settings in the link were changed:\n\n" +
                   "\n".join(f"- {note}" for note in notes), icon=":material/warning:")


def _on_sidebar_change() -> None:
    st.session_state["url_notes"] = []
    cfg = dataclasses.replace(DEFAULT_CONFIG, **{f: st.session_state[_key(f)] for f in URL_FIELDS
                                                 if _key(f) in st.session_state})
    fitted, note = within_budget(with_cadence(cfg))
    st.session_state[_key("steps")] = fitted.steps
    st.session_state["budget_note"] = note


def _lo_hi(field: str, kind: type) -> tuple:
    lo, hi = LIMITS[field]
    return kind(lo), kind(hi)


def sidebar(norm: bool = True) -> TrainConfig:
    """Draw the shared experiment controls in the sidebar; return the config and put it in the URL.

    norm=False hides the norm picker (for pages that train every norm).
    """
    init_session()
    cfg = current_config()
    for field in URL_FIELDS:  # fill keys a fresh session or a preset left unset
        st.session_state.setdefault(_key(field), getattr(cfg, field))
    change = {"on_change": _on_sidebar_change}
    labels = {"norm": lambda n: norm_label(n)}
    with st.sidebar:
        st.header("Experiment")
        if norm:
            st.selectbox("Norm", CHOICES["norm"], key=_key("norm"), format_func=labels["norm"],
                         help="Where each hidden layer takes its statistics from.", **change)
        st.selectbox("Dataset", CHOICES["dataset"], key=_key("dataset"),
                     help="digits: real 8x8 handwriting; the others are 2-D toy sets.", **change)
        st.radio("Model", CHOICES["model"], key=_key("model"), horizontal=True,
                 help="The cnn needs images (digits).", **change)
        st.slider("Depth (hidden layers)", *_lo_hi("depth", int), key=_key("depth"), **change)
        st.number_input("Width (units or channels)", *_lo_hi("width", int), step=8,
                        key=_key("width"), **change)
        st.selectbox("Activation", CHOICES["activation"], key=_key("activation"), **change)
        st.number_input("Batch size", *_lo_hi("batch_size", int), step=1, key=_key("batch_size"),
                        help="Examples per step. Batch norm's statistics come from these.",
                        **change)
        st.number_input("Learning rate", *_lo_hi("lr", float), step=0.01, format="%g",
                        key=_key("lr"), **change)
        st.number_input("Steps", *_lo_hi("steps", int), step=50, key=_key("steps"), **change)
        with st.expander("More: norm position, init, optimizer, seed"):
            st.radio("Norm position", CHOICES["norm_position"], key=_key("norm_position"),
                     horizontal=True, help="Norm before the activation (as in the BN paper) "
                     "or after it.", **change)
            st.selectbox("Init", CHOICES["init"], key=_key("init"), **change)
            st.number_input("Init gain", *_lo_hi("init_gain", float), step=0.1, format="%g",
                            key=_key("init_gain"), help=">1 explodes, <1 vanishes.", **change)
            st.selectbox("Optimizer", CHOICES["optimizer"], key=_key("optimizer"), **change)
            st.number_input("Seed", *_lo_hi("seed", int), step=1, key=_key("seed"),
                            help="Same seed: same initial weights and batches for every norm.",
                            **change)
        cfg = current_config()
        if st.session_state.get("budget_note"):
            st.warning(st.session_state["budget_note"])
        st.caption(f"Estimated {estimated_seconds(cfg):.1f} s of compute; each run is capped at "
                   f"{BUDGET_SECONDS:.0f} s, one run per tab, {MAX_CONCURRENT_TRAININGS} at once "
                   f"on this server ({active_trainings()} training now). The address bar holds "
                   "these settings: share it to open this exact experiment.")
    wanted = config_to_query(cfg)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
    return cfg


def default(key: str, value) -> None:
    """Give a "keep_" widget its first value (instead of passing `value=`, which would clash)."""
    st.session_state.setdefault(key, value)


def go_to(page: str, cfg: TrainConfig | None = None, autostart: bool = False) -> None:
    """Switch to `page` with `cfg` in the sidebar (and, if asked, start training at once)."""
    if cfg is not None:
        set_config(cfg)
        st.session_state["url_notes"] = []
    st.session_state["autostart"] = autostart
    st.switch_page(page, query_params=config_to_query(cfg or current_config()))


PRESETS: dict[str, TrainConfig] = {
    # Ioffe & Szegedy's setting in small: a deep sigmoid MLP whose inputs drift without a norm.
    "deep_sigmoid": START_HERE,  # in normlab.defaults, so `normlab precompute` trains it too
}


# --- the shared store of finished runs and the server-wide training gate -----------------------

class RunStore:
    """Finished (or diverged) runs by config, shared by every session; least recently used go.

    A run trained while its charts were drawn live has wall times that include the drawing,
    so it is kept as not `clean`; `get(cfg, clean=True)` skips it (the Compare page's timings).
    With a `disk` cache (see normlab.runcache and `normlab precompute`), a miss in memory is
    looked up there, and every run put here is saved there too.
    """

    def __init__(self, capacity: int = STORE_CAPACITY, disk: RunCache | None = None):
        self.capacity = capacity
        self.disk = disk
        self._runs: OrderedDict[TrainConfig, tuple[Run, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, cfg: TrainConfig, clean: bool = False) -> Run | None:
        if self.disk is not None and cfg not in self._runs and (saved := self.disk.load(cfg)):
            self._keep(*saved)
        with self._lock:
            run, run_clean = self._runs.get(cfg, (None, False))
            if run is None or (clean and not run_clean):
                return None
            self._runs.move_to_end(cfg)
            return run

    def put(self, run: Run, clean: bool = True) -> None:
        if run.status not in ("finished", "diverged"):
            return  # a stopped run is not the answer for its config
        self._keep(run, clean)
        if self.disk is not None:
            self.disk.save(run, clean)  # outside the lock: writing takes a few milliseconds

    def _keep(self, run: Run, clean: bool) -> None:
        with self._lock:
            if clean or not self._runs.get(run.config, (None, False))[1]:
                self._runs[run.config] = (run, clean)
            self._runs.move_to_end(run.config)
            while len(self._runs) > self.capacity:
                self._runs.popitem(last=False)

    def __len__(self) -> int:
        return len(self._runs)


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
    return RunStore(disk=RunCache(cache_dir()))


@st.cache_resource
def training_gate() -> TrainingGate:
    return TrainingGate(MAX_CONCURRENT_TRAININGS)


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
                if run.status == "running" and run.wall_time > HARD_LIMIT_SECONDS:
                    break
        if run.status == "stopped":  # by the time limit: a user's Stop never gets here
            run.message = (f"Stopped after {run.step} steps: this server stops every run after "
                           f"{HARD_LIMIT_SECONDS:.0f} s of training, so one run cannot hold "
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
    """Train `cfg` (or replay it), calling draw(run) up to REDRAWS_PER_SECOND times a second.

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
        if now - last_draw >= 1 / REDRAWS_PER_SECOND:
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


# --- showing a run --------------------------------------------------------------------------------

def describe_change(old: TrainConfig, new: TrainConfig) -> str:
    """'norm batch → none, depth 6 → 20' for the fields that differ."""
    return ", ".join(f"{f} {getattr(old, f)} → {getattr(new, f)}" for f in URL_FIELDS
                     if getattr(old, f) != getattr(new, f))


def show_outcome(run: Run, where=None) -> None:
    """How the run ended, in words: diverged (with the engine's hint), stopped or finished."""
    where = where if where is not None else st
    if run.status == "diverged":
        where.error(f"**Diverged at step {run.diverged_at}.** {run.message}",
                    icon=":material/error:")
    elif run.status == "stopped":
        where.info(f"{run.message} Press Train to start again.", icon=":material/stop_circle:")
    elif run.status == "running":
        where.info("Stopping the previous run: it stops at its next snapshot.",
                   icon=":material/hourglass_top:")
    elif run.status == "finished":
        final = run.final
        where.success(f"Finished {run.step} steps in {run.wall_time:.1f} s: validation accuracy "
                      f"{100 * final.get('val_accuracy', float('nan')):.1f}%, validation loss "
                      f"{final.get('val_loss', float('nan')):.3f} nats.",
                      icon=":material/check_circle:")


def chart(where, fig, key: str | None = None, caption: str | None = None) -> None:
    """A full-width plotly chart and its one-line caption of what to look for, in `where`
    (an st.empty is replaced whole); `key` keeps repeated draws in one script run apart."""
    box = where.container() if caption else where
    box.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})
    if caption:
        box.caption(caption)


def downloads(run: Run, fig=None, name: str = "normlab") -> None:
    """CSV downloads of the run's frames and, if given, the main figure as standalone HTML."""
    frames = {"metrics": lambda: run.metrics, "layer_stats": lambda: run.layer_stats,
              "histograms": lambda: run.histograms, "gradients": lambda: run.gradients}
    columns = st.columns(len(frames) + (fig is not None))
    for column, (table, frame) in zip(columns, frames.items()):
        column.download_button(f"{table}.csv", data=lambda f=frame: f().to_csv(index=False),
                               file_name=f"{name}-{table}.csv", mime="text/csv",
                               on_click="ignore", key=f"download_{name}_{table}",
                               icon=":material/download:")
    if fig is not None:
        columns[-1].download_button(
            "figure.html", data=lambda: fig.to_html(include_plotlyjs=True, full_html=True),
            file_name=f"{name}-figure.html", mime="text/html", on_click="ignore",
            key=f"download_{name}_html", icon=":material/download:",
            help="The main chart, interactive, offline.")


def tagged(frame: pd.DataFrame, norm: str) -> pd.DataFrame:
    """`frame` with a `norm` column, as the multi-norm plot builders expect."""
    return frame.assign(norm=norm)


# --- the lessons' experiments: computed once per arguments for everyone, stoppable ------------

class _Interrupted(Exception):
    """Carries a sweep's partial result out of the cached call, so that it is never cached."""

    def __init__(self, partial):
        super().__init__("interrupted")
        self.partial = partial


@st.cache_data(show_spinner=False, max_entries=256)
def _experiment(name: str, arguments: dict, attempt: int = 0, _progress=None, _should_stop=None):
    """normlab.experiments.<name>(**arguments), kept for every session. `attempt` only keeps
    repeated measurements apart (timings); the callbacks are passed on where accepted."""
    function = getattr(experiments, name)
    accepted = inspect.signature(function).parameters
    callbacks = {param: callback for param, callback in
                 (("progress", _progress), ("should_stop", _should_stop))
                 if callback is not None and param in accepted}
    result = function(**arguments, **callbacks)
    if _should_stop is not None and _should_stop():
        raise _Interrupted(result)
    return result


def experiment(name: str, /, **arguments):
    """A quick experiment of normlab.experiments, computed once for every session."""
    return _experiment(name, arguments)


@st.cache_resource
def _finished_sweeps() -> set[str]:
    """Sweeps already in the cache: asking for one again needs no training slot."""
    return set()


def _stop_sweep(key: str, signature: str) -> None:
    st.session_state[f"_stopped_{key}"] = signature


def _run_again(key: str) -> None:
    st.session_state.pop(f"_stopped_{key}", None)


def sweep(name: str, /, key: str, label: str, attempt: int = 0,
          **arguments) -> object:
    """A long experiment of normlab.experiments (one that takes progress and should_stop),
    computed once for every session that asks the same, behind a progress bar and a Stop button.

    Returns the result (None if stopped before a run finished). A Stop click reruns the page;
    the sweep in flight notices at its next progress report (between two runs), returns what it
    finished and re-raises the rerun, so the page then shows those runs, with a note that it was
    stopped, until the arguments change or "Run again" is pressed. A partial result is never
    cached. One training per session (shared with train_live); a sweep not yet cached waits for
    one of the server's training slots.
    """
    partials = st.session_state.setdefault("_partial_sweeps", {})  # a plain dict: see below
    signature = f"{name}:{attempt}:{arguments!r}"
    notice = st.empty()
    lock = st.session_state.setdefault("_training_lock", threading.Lock())
    while not lock.acquire(timeout=0.05):  # the previous run stops at its next progress report
        notice.info("Stopping the previous run…", icon=":material/hourglass_top:")
    gate, ticket, entered = training_gate(), None, False
    try:
        if st.session_state.get(f"_stopped_{key}") == signature:
            saved_signature, partial = partials.get(key, (None, None))
            with notice.container():
                st.info("Stopped: the charts show the runs that finished before the stop."
                        if saved_signature == signature else "Stopped before a run finished.",
                        icon=":material/stop_circle:")
                st.button("Run again", key=f"again_{key}", on_click=_run_again, args=(key,),
                          icon=":material/replay:")
            return partial if saved_signature == signature else None
        if signature not in _finished_sweeps():
            ticket = gate.join()
            while (ahead := gate.try_enter(ticket)) > 0:
                notice.info(f"Queued: {ahead} run{'s' if ahead > 1 else ''} ahead of yours "
                            f"(at most {gate.limit} train at once on this server).",
                            icon=":material/hourglass_top:")
                time.sleep(0.25)
            entered = True
        with notice.container():
            bar = st.progress(0.0, text=label)
            st.button("Stop", key=f"stop_{key}", on_click=_stop_sweep, args=(key, signature),
                      icon=":material/stop_circle:", help="Stops after the run in progress and "
                      "keeps the runs that finished.")
        interrupted: list[BaseException] = []
        context = contextvars.copy_context()  # from outside the cached call: see progress()

        def progress(fraction: float) -> None:
            # In the context from before the cached call, so the cache does not record the bar's
            # updates for replay (the bar was made outside the cached function).
            if interrupted:
                return
            try:
                context.run(bar.progress, fraction, f"{label}: {fraction:.0%}")
            except BaseException as stop:  # Streamlit's rerun or stop, re-raised below
                interrupted.append(stop)  # once the sweep has returned what it finished

        try:
            result = _experiment(name, arguments, attempt, progress, lambda: bool(interrupted))
        except _Interrupted as stopped:
            partials[key] = (signature, stopped.partial)  # no Streamlit call while stopping
            raise interrupted[0] from None
        _finished_sweeps().add(signature)
        notice.empty()
        return result
    finally:  # no Streamlit calls here: after a stop they would raise again
        if entered:
            gate.release()
        elif ticket is not None:
            gate.leave(ticket)
        lock.release()
