"""Session state: the first call of every page, widget values that outlive a page, the shared
experiment sidebar bound to the URL, and go_to (another page, with settings).

Widget values that must survive moving between pages live under keys starting with "keep_"
(see `keep_widget_state`); the sidebar's own keys are "keep_cfg_<field>".
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import streamlit as st

from appkit import limits
from appkit.limits import estimated_seconds, within_budget
from appkit.runs import active_trainings
from appkit.url import (
    CHOICES,
    URL_FIELDS,
    Control,
    check_names,
    config_from_query,
    config_to_query,
    controls_from_query,
    controls_to_query,
)
from normlab.config import LIMITS, TrainConfig
from normlab.defaults import (
    DEFAULT_CONFIG,
    START_HERE,
    fit_to_dataset,
    fit_to_model,
    with_cadence,
)
from normlab.plots import norm_label


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


def page_setup(page_file: str, controls: Mapping[str, Control] | None = None) -> None:
    """The first call of every page: keep widget values across pages, take a shared link's
    settings on a session's first run, and list what the link asked for that could not be used.

    `controls` names the page's own widgets that a link carries ({URL name: Control}): on the
    session's first visit of the page they take the link's values (clamped, with notes), else
    their defaults; from then on the URL follows them (see `write_url`). Their widgets are drawn
    with `key=control.key` and no value/default/index of their own.

    A fresh server's first session that deep-links to a page runs that page without app.py
    (Streamlit falls back to the pages/ folder until st.navigation has run once): such a run is
    sent through app.py, which then opens the page, with the link's settings.
    """
    if "_framed" not in st.session_state:
        st.session_state["_deep_link"] = f"pages/{os.path.basename(page_file)}"
        st.switch_page("app.py", query_params=st.query_params.to_dict())
    keep_widget_state()
    init_session()
    take_controls(page_file, controls or {})
    show_url_notes()


def take_controls(page_file: str, controls: Mapping[str, Control]) -> None:
    """Give the page's controls the link's values on its first visit, else their defaults, and
    put them in the URL."""
    page = os.path.basename(page_file)
    check_names(controls)
    st.session_state["_page"], st.session_state["_controls"] = page, dict(controls)
    first_visit = f"_visited_{page}" not in st.session_state
    st.session_state["_opened_by_link"], st.session_state["_experiment"] = False, None
    st.session_state["_export"] = {"slot": st.sidebar.container(), "figures": {},
                                   "settings": {}}  # appkit.show.keep_for_export fills it
    if first_visit:
        st.session_state[f"_visited_{page}"] = True
        params = st.query_params.to_dict()
        values, notes = controls_from_query(controls, params)
        st.session_state.update(values)
        st.session_state["url_notes"] = (st.session_state.get("url_notes") or []) + notes
        # a link: this page's own settings in the URL, or the experiment's on the first page
        # a session opens (moving between pages carries the experiment's settings too)
        entry = "_entry_page" not in st.session_state
        st.session_state["_opened_by_link"] = bool(
            set(params) & set(controls) or entry and set(params) & set(URL_FIELDS))
    st.session_state.setdefault("_entry_page", page)
    for control in controls.values():
        st.session_state.setdefault(control.key, control.default)
    write_url({k: v for k, v in st.query_params.to_dict().items() if k not in controls})


def opened_by_link() -> bool:
    """Whether this script run is the page's first in a session opened from a link with its
    settings: a page that waits for a button shows the link's result at once instead."""
    return bool(st.session_state.get("_opened_by_link"))


def page_settings() -> dict[str, object]:
    """What this page shows depends on: its controls' values and, where it shows the sidebar,
    the experiment; with the link that reopens it (for downloads)."""
    controls = st.session_state.get("_controls") or {}
    values = {name: st.session_state.get(c.key, c.default) for name, c in controls.items()}
    values = {name: list(v) if isinstance(v, tuple) else v for name, v in values.items()}
    cfg = st.session_state.get("_experiment")
    experiment = {"experiment": dataclasses.asdict(cfg)} if cfg is not None else {}
    query = "&".join(f"{k}={v}" for k, v in st.query_params.to_dict().items())
    return {"page": st.session_state.get("_page"), **values, **experiment, "link": "?" + query}


def write_url(base: Mapping[str, str]) -> None:
    """Make the URL `base` plus the page's controls that are not at their default."""
    controls = st.session_state.get("_controls") or {}
    held = {name: value for name, value in st.query_params.to_dict().items() if name in controls}
    wanted = dict(base) | {name: held[name] for name, control in controls.items()  # see fits
                           if name in held and not control.fits(st.session_state.get(control.key))}
    wanted |= controls_to_query(controls, st.session_state)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


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


def _on_sidebar_change(fit=None) -> None:
    st.session_state["url_notes"], st.session_state["model_notes"] = [], []
    cfg = dataclasses.replace(DEFAULT_CONFIG, **{f: st.session_state[_key(f)] for f in URL_FIELDS
                                                 if _key(f) in st.session_state})
    if fit is not None:  # a new model or dataset: make the other fit it (normlab.defaults)
        cfg, notes = fit(cfg)
        for field in ("model", "dataset", "norm", "heads"):
            st.session_state[_key(field)] = getattr(cfg, field)
        st.session_state["model_notes"] = notes
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
                     help="digits: real 8x8 handwriting; reverse and sort: digit sequences for "
                     "the transformer; the others are 2-D toy sets.",
                     on_change=_on_sidebar_change, args=(fit_to_dataset,))
        st.radio("Model", CHOICES["model"], key=_key("model"), horizontal=True,
                 help="The cnn needs images (digits); the transformer, sequences (reverse, "
                 "sort).", on_change=_on_sidebar_change, args=(fit_to_model,))
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
        with st.expander("More: norm position, init, optimizer, warm-up, seed"):
            st.radio("Norm position", CHOICES["norm_position"], key=_key("norm_position"),
                     horizontal=True, help="Norm before the activation (as in the BN paper) "
                     "or after it; in the transformer, before each sublayer (pre-LN) or after "
                     "each residual sum (post-LN).", **change)
            st.selectbox("Init", CHOICES["init"], key=_key("init"), **change)
            st.number_input("Init gain", *_lo_hi("init_gain", float), step=0.1, format="%g",
                            key=_key("init_gain"), help=">1 explodes, <1 vanishes.", **change)
            st.selectbox("Optimizer", CHOICES["optimizer"], key=_key("optimizer"), **change)
            st.number_input("Warm-up steps", *_lo_hi("warmup_steps", int), step=10,
                            key=_key("warmup_steps"), help="The learning rate rises from 0 "
                            "over these steps (post-LN transformers need it).", **change)
            st.number_input("Attention heads", *_lo_hi("heads", int), step=1, key=_key("heads"),
                            help="Transformer only; the width must divide by it.", **change)
            st.number_input("Seed", *_lo_hi("seed", int), step=1, key=_key("seed"),
                            help="Same seed: same initial weights and batches for every norm.",
                            **change)
        cfg = current_config()
        for note in st.session_state.get("model_notes") or []:
            st.info(note, icon=":material/sync_alt:")
        if st.session_state.get("budget_note"):
            st.warning(st.session_state["budget_note"])
        st.caption(f"Estimated {estimated_seconds(cfg):.1f} s of compute; each run is capped at "
                   f"{limits.BUDGET_SECONDS:.0f} s, one run per tab, "
                   f"{limits.MAX_CONCURRENT_TRAININGS} at once on this server "
                   f"({active_trainings()} training now). The address bar holds "
                   "these settings: share it to open this exact experiment.")
    write_url(config_to_query(cfg))
    st.session_state["_experiment"] = cfg
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
