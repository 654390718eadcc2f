"""What a class opens first: the default experiment, "Start here", the Compare page's norms.

Used by the app (its sidebar's starting values, the home page's button, the Compare page's
first selection), by `normlab precompute` (which trains `warm_configs()` into the run cache
before a class arrives) and by the run cache. The app's cadence lives here too: every run,
short or long, draws about the same number of points.
"""

from __future__ import annotations

import dataclasses

from normlab.config import SEQUENCE_DATASETS, TRANSFORMER_NORMS, TrainConfig

SNAPSHOTS_PER_RUN = 30  # per-layer snapshots (and evaluations) per run, whatever its length


def with_cadence(cfg: TrainConfig) -> TrainConfig:
    """`cfg` with snapshot and evaluation spacing set from its steps (300 steps -> every 10)."""
    every = max(1, round(cfg.steps / SNAPSHOTS_PER_RUN))
    return dataclasses.replace(cfg, record_every=every, eval_every=every)


DEFAULT_CONFIG = with_cadence(TrainConfig())  # the app's experiment before a control moves

# "Start here" on the home page: Ioffe & Szegedy's setting in small, a deep sigmoid MLP whose
# inputs drift without a norm (the page then suggests adding batch norm).
START_HERE = with_cadence(dataclasses.replace(
    DEFAULT_CONFIG, norm="none", depth=20, activation="sigmoid", init="xavier"))

COMPARED_NORMS = ("none", "batch", "layer", "rms")  # the Compare page's first selection


def warm_configs() -> list[TrainConfig]:
    """The runs a class opens first: the live lab's (and inspector's) default, the Compare page's
    norms at that default, and "Start here" without a norm and with the BatchNorm it suggests."""
    configs = [DEFAULT_CONFIG] + [dataclasses.replace(DEFAULT_CONFIG, norm=norm)
                                  for norm in COMPARED_NORMS if norm != DEFAULT_CONFIG.norm]
    return configs + [START_HERE, dataclasses.replace(START_HERE, norm="batch")]


def fit_to_model(cfg: TrainConfig) -> tuple[TrainConfig, list[str]]:
    """`cfg` with what its model cannot take replaced, and one note per replacement.

    The transformer reads token sequences (a table or image dataset becomes "reverse") and
    normalises each token (batch or group norm becomes layer norm); the MLP and CNN do not
    read tokens (a sequence dataset becomes "digits"). The CLI and the sidebar call this when
    the model is chosen, so `--model transformer` alone trains.
    """
    changes, notes = {}, []
    if cfg.model == "transformer":
        if cfg.dataset not in SEQUENCE_DATASETS:
            changes["dataset"] = "reverse"
        if cfg.norm not in TRANSFORMER_NORMS:
            changes["norm"] = "layer"
        if cfg.width % cfg.heads:
            changes["heads"] = next(h for h in range(cfg.heads, 0, -1) if cfg.width % h == 0)
    elif cfg.dataset in SEQUENCE_DATASETS:
        changes["dataset"] = "digits"
    for name, value in changes.items():
        notes.append(f"{name}: the {cfg.model} cannot take {getattr(cfg, name)}, used {value}")
    return dataclasses.replace(cfg, **changes), notes


def fit_to_dataset(cfg: TrainConfig) -> tuple[TrainConfig, list[str]]:
    """`cfg` with a model that reads its dataset (a sequence task: the transformer; anything
    else: the mlp, unless it is already the mlp or cnn), then `fit_to_model`."""
    sequences = cfg.dataset in SEQUENCE_DATASETS
    if sequences != (cfg.model == "transformer"):
        model = "transformer" if sequences else "mlp"
        fitted, notes = fit_to_model(dataclasses.replace(cfg, model=model))
        return fitted, [f"model: the {cfg.model} cannot read {cfg.dataset}, used {model}", *notes]
    return cfg, []
