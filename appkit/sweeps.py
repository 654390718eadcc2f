"""The lessons' experiments for every session at once: each computed once per arguments (and
cached for the whole server), a long one behind a progress bar and a Stop button that keeps what
finished. A sweep not yet cached borrows one of the scheduler's cores (appkit.scheduler).
"""

from __future__ import annotations

import contextvars
import inspect
import threading
import time

import streamlit as st

from appkit.runs import scheduler
from normlab import experiments


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


def sweep(name: str, /, key: str, label: str, attempt: int = 0, live=None,
          **arguments) -> object:
    """A long experiment of normlab.experiments (one that takes progress and should_stop),
    computed once for every session that asks the same, behind a progress bar and a Stop button.

    Returns the result (None if stopped before a run finished). A Stop click reruns the page;
    the sweep in flight notices at its next progress report (between two runs), returns what it
    finished and re-raises the rerun, so the page then shows those runs, with a note that it was
    stopped, until the arguments change or "Run again" is pressed. A partial result is never
    cached. One training per session; a sweep not yet cached waits for
    one of the server's training slots.

    `live(partial)`, if given, draws what an experiment reports as `progress(fraction,
    partial)` while it trains (not on a replay from the cache: the page draws the result).
    """
    partials = st.session_state.setdefault("_partial_sweeps", {})  # a plain dict: see below
    signature = f"{name}:{attempt}:{arguments!r}"
    notice = st.empty()
    lock = st.session_state.setdefault("_training_lock", threading.Lock())
    while not lock.acquire(timeout=0.05):  # the previous run stops at its next progress report
        notice.info("Stopping the previous run…", icon=":material/hourglass_top:")
    server, ticket, entered = scheduler(), None, False
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
            ticket = server.line_up()
            while (ahead := server.try_borrow(ticket)) > 0:
                notice.info(f"Queued: {ahead} run{'s' if ahead > 1 else ''} ahead of yours "
                            f"(at most {server.workers} train at once on this server).",
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

        def progress(fraction: float, partial=None) -> None:
            # In the context from before the cached call, so the cache does not record the bar's
            # updates for replay (the bar was made outside the cached function).
            if interrupted:
                return
            try:
                context.run(bar.progress, fraction, f"{label}: {fraction:.0%}")
                if live is not None and partial is not None:
                    context.run(live, partial)
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
        if ticket is not None:
            server.give_back(ticket, borrowed=entered)
        lock.release()
