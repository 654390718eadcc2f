"""Shared links: the query parameters <-> the TrainConfig they ask for, and <-> a page's own
controls (`Control`), each value that had to be replaced or clamped named in a note. Pure: the
sidebar (appkit.sidebar) binds both to the URL.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from appkit.limits import within_budget
from normlab import config as C
from normlab.config import LIMITS, TrainConfig
from normlab.defaults import DEFAULT_CONFIG, fit_to_dataset, fit_to_model, with_cadence
from normlab.registry import NORMS

URL_FIELDS = ("norm", "dataset", "model", "depth", "width", "heads", "activation",
              "norm_position", "init", "init_gain", "batch_size", "lr", "optimizer",
              "warmup_steps", "steps", "seed")
CHOICES: dict[str, tuple[str, ...]] = {
    "norm": tuple(NORMS), "dataset": C.DATASETS, "model": C.MODELS,
    "activation": C.ACTIVATIONS, "norm_position": C.NORM_POSITIONS, "init": C.INITS,
    "optimizer": C.OPTIMIZERS,
}
INTEGER_FIELDS = ("depth", "width", "heads", "batch_size", "warmup_steps", "steps", "seed")


def _shown(raw: str) -> str:
    """A URL value made safe to print: short, one line, no markdown or HTML."""
    text = "".join(ch for ch in raw if ch.isalnum() or ch in ".-_+ ")[:24]
    return f"'{text}'" + ("…" if len(raw) > 24 else "")


def _number(field: str, raw: str, default: float, lo: float | None = None,
            hi: float | None = None, integer: bool | None = None) -> tuple[float, str | None]:
    """`raw` as a number between lo and hi (LIMITS[field] unless given), and a note if it was
    not one, not whole where it must be, or out of range."""
    if lo is None or hi is None:
        lo, hi = LIMITS[field]
    integer = field in INTEGER_FIELDS if integer is None else integer
    try:
        value = float(raw.strip())
    except ValueError:
        return default, f"{field}: {_shown(raw)} is not a number, used {default:g}"
    if not math.isfinite(value):
        return default, f"{field}: {_shown(raw)} is not a finite number, used {default:g}"
    if integer and value != int(value):
        return _number(field, str(round(value)), default, lo, hi, integer)[0], (
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
    # ?model=transformer alone gets a sequence dataset and a per-token norm; ?dataset=sort alone
    # gets the transformer
    fit = fit_to_dataset if "dataset" in values and "model" not in values else fit_to_model
    cfg, fitted = fit(dataclasses.replace(DEFAULT_CONFIG, **values))
    notes += fitted
    cfg, note = within_budget(with_cadence(cfg))
    return cfg, notes + ([note] if note else [])


def config_to_query(cfg: TrainConfig) -> dict[str, str]:
    """The URL parameters that reopen `cfg`."""
    return {field: f"{getattr(cfg, field):g}" if isinstance(getattr(cfg, field), float)
            else str(getattr(cfg, field)) for field in URL_FIELDS}



@dataclasses.dataclass(frozen=True)
class Control:
    """One of a page's own widgets whose value a link carries: the widget's session-state key,
    its default, and what it may take: one of `choices` (a list default: several of them; a
    tuple default: a low-high pair of them, as a range slider gives), or a number in lo..hi
    (whole if the default is an int), or a bool.
    """

    key: str
    default: object
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None

    @property
    def bounds(self) -> tuple:
        """(lo, hi) in the default's type, for a slider or number_input."""
        kind = type(self.default)
        return kind(self.lo), kind(self.hi)

    def fits(self, value) -> bool:
        """Whether `value` is one this control can take (its URL text reads back as it)."""
        if isinstance(self.default, (list, tuple)) != isinstance(value, (list, tuple)):
            return False
        back = self.from_query("", self.to_query(value))[0]
        if isinstance(value, float) and isinstance(back, float):
            return math.isclose(back, value, rel_tol=1e-5)  # a slider's 0.30000000000000004
        return _same(back, value)

    def to_query(self, value) -> str:
        """The value as its URL text: choices joined by commas, numbers short, bools 1/0."""
        if isinstance(value, (list, tuple)):
            return ",".join(_text(item) for item in value)
        return _text(value)

    def from_query(self, name: str, raw: str) -> tuple[object, str | None]:
        """The value a URL asks for, and a note if it had to be replaced. Never raises."""
        raw = str(raw)[:2000]
        default = self.default
        if isinstance(default, bool):
            word = raw.strip().lower()
            if word in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return word in ("1", "true", "yes", "on"), None
            return default, f"{name}: {_shown(raw)} is not 1 or 0, used {_text(default)}"
        if isinstance(default, (list, tuple)):
            return self._several(name, raw)
        if self.choices:
            value = self._choice(raw)
            if value is None:
                return default, (f"{name}: {_shown(raw)} is not one of "
                                 f"{', '.join(map(_text, self.choices))}, used {_text(default)}")
            return value, None
        value, note = _number(name, raw, default, self.lo, self.hi, isinstance(default, int))
        return (int(value) if isinstance(default, int) else value), note

    def _choice(self, raw: str):
        """The choice whose URL text is `raw` (numbers compared as numbers), or None."""
        text = raw.strip()
        for choice in self.choices:
            if _text(choice) == text or str(choice).lower() == text.lower():
                return choice
            if isinstance(choice, (int, float)) and not isinstance(choice, bool):
                try:
                    if float(text) == choice:
                        return choice
                except ValueError:
                    pass
        return None

    def _several(self, name: str, raw: str) -> tuple[object, str | None]:
        items = [item for item in raw.split(",") if item.strip()]
        chosen = list(dict.fromkeys(c for c in map(self._choice, items) if c is not None))
        unknown = [item for item in items if self._choice(item) is None]
        if isinstance(self.default, tuple):  # a low-high pair
            if len(chosen) != 2 or unknown:
                return self.default, (f"{name}: {_shown(raw)} is not two of "
                                      f"{', '.join(map(_text, self.choices))}, used "
                                      f"{self.to_query(self.default)}")
            return tuple(sorted(chosen, key=self.choices.index)), None
        note = None
        if unknown:
            note = (f"{name}: {', '.join(_shown(item) for item in unknown[:3])} "
                    f"{'is' if len(unknown) == 1 else 'are'} not among "
                    f"{', '.join(map(_text, self.choices))}, left out")
        return chosen, note


def _text(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def check_names(controls: Mapping[str, Control]) -> None:
    """ValueError if a page's control takes a URL name the sidebar's settings use."""
    if clash := sorted(set(controls) & set(URL_FIELDS)):
        raise ValueError(f"{', '.join(clash)}: already the sidebar's settings in the URL")


def controls_from_query(controls: Mapping[str, Control], params: Mapping[str, str]
                        ) -> tuple[dict[str, object], list[str]]:
    """The widget values (by session-state key) a URL asks for, for the controls it names, and a
    note per replaced value."""
    values, notes = {}, []
    for name, control in controls.items():
        if name in params:
            raw = params[name]
            raw = (raw[-1] if raw else "") if isinstance(raw, (list, tuple)) else raw
            values[control.key], note = control.from_query(name, raw)
            notes += [note] if note else []
    return values, notes


def controls_to_query(controls: Mapping[str, Control], state: Mapping) -> dict[str, str]:
    """The URL parameters for the controls whose value in `state` is not the default (as
    Streamlit's own bind="query-params" leaves defaults out). A value that does not fit its
    control (a widget not yet redrawn can hold a raw one) is left out too."""
    return {name: control.to_query(state[control.key]) for name, control in controls.items()
            if control.key in state and control.fits(state[control.key])
            and not _same(state[control.key], control.default)}


def _same(value, default) -> bool:
    if isinstance(default, (list, tuple)):
        return list(value) == list(default)
    return value == default
