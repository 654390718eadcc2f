"""Shared links: the query parameters <-> the TrainConfig they ask for, each value that had to be
replaced or clamped named in a note. Pure: the sidebar (appkit.sidebar) binds it to the URL.
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

