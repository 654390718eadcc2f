"""TrainConfig: every knob of a run in one dataclass, shared by the CLI, the app and notebooks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from normlab.registry import BATCH_DEPENDENT, NORMS

DATASETS = ("spirals", "circles", "xor", "gaussians", "digits", "reverse", "sort")
IMAGE_DATASETS = ("digits",)
SEQUENCE_DATASETS = ("reverse", "sort")  # token sequences, generated: for the transformer
MODELS = ("mlp", "cnn", "transformer")
# Norms a transformer block can hold: batch norm would take its statistics over the batch and
# every position, so a token's output would depend on later tokens and on other sequences;
# group norm's groups are channels of (N, C, *) images. Layer norm, RMS norm and DyT work per
# token, as in the papers (Xiong et al. 2020; Zhang & Sennrich 2019; Zhu et al. 2025).
TRANSFORMER_NORMS = ("none", "layer", "rms", "dyt")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")
OPTIMIZERS = ("sgd", "momentum", "adam")
INITS = ("kaiming", "xavier", "normal")
NORM_POSITIONS = ("before", "after")
DEVICES = ("cpu", "cuda")


def knob(default, why: str, choices: tuple[str, ...] | None = None):
    """A TrainConfig field: its default, why it is that (the CLI's --help), its allowed values."""
    return dataclasses.field(default=default, metadata={"help": why, "choices": choices})


class ConfigError(ValueError):
    """A configuration that cannot train, with a message that says why and what to do."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run. Two equal configs give the same numbers (on one device).

    Each field is `knob(default, why, choices)`: the why is the CLI's help text, the choices
    are what `validated()` and the CLI accept; numeric ranges are in LIMITS below.
    """

    norm: str = knob("batch", "one of registry.NORMS: none, batch, layer, rms, group, dyt",
                     tuple(NORMS))
    dataset: str = knob("digits", "real 8x8 handwriting; the 2-D toy sets show what LN does to "
                        "radius", DATASETS)
    model: str = knob("mlp", "mlp, cnn (image datasets only) where BN and LN truly differ, or a "
                      "small decoder-only transformer (sequence datasets only)", MODELS)
    depth: int = knob(6, "hidden layers: deep enough that un-normalised activations drift "
                      "(blocks, for the transformer)")
    width: int = knob(64, "units per hidden layer (channels for the cnn, d_model for the "
                      "transformer)")
    heads: int = knob(2, "transformer only: attention heads; width must divide by it (head "
                      "size 32 at width 64)")
    activation: str = knob("relu", "", ACTIVATIONS)
    norm_position: str = knob("before", "norm before the activation (Ioffe & Szegedy) or after "
                              "it; in the transformer, before each sublayer (pre-LN) or after "
                              "the residual sum (post-LN, the original)", NORM_POSITIONS)
    init: str = knob("kaiming", "kaiming suits relu; xavier suits tanh/sigmoid; normal is std 1",
                     INITS)
    init_gain: float = knob(1.0, "multiplies every initial weight: >1 explodes, <1 vanishes")
    batch_size: int = knob(64, "")
    lr: float = knob(0.05, "")
    optimizer: str = knob("momentum", "sgd, momentum (0.9) or adam", OPTIMIZERS)
    warmup_steps: int = knob(0, "learning rate rises linearly from 0 to lr over these steps; "
                             "post-LN transformers need it (Xiong et al. 2020)")
    steps: int = knob(300, "a few seconds on a laptop CPU")
    seed: int = knob(0, "same seed, same initial weights and batches whatever the norm")
    bn_momentum: float | None = knob(0.1, "weight of the new batch in BN's running stats; None "
                                     "averages")
    n_samples: int = knob(2000, "synthetic datasets only; digits has 1797")
    noise: float = knob(0.1, "synthetic datasets only: std of the Gaussian jitter")
    val_fraction: float = knob(0.25, "")
    eval_every: int = knob(10, "steps between validation points (a metrics row)")
    record_every: int = knob(10, "steps between per-layer snapshots (histograms, stats, "
                             "gradients)")
    bins: int = knob(40, "histogram bins per layer and snapshot")
    threads: int = knob(1, "torch CPU threads for this run: a server trains many runs at once")
    device: str = knob("cpu", "cuda runs there when torch sees a GPU", DEVICES)

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed, validated."""
        return dataclasses.replace(self, **changes).validated()

    def validated(self) -> TrainConfig:
        """Self, or a ConfigError that names the field, the value and what would work."""
        for spec in dataclasses.fields(self):
            if spec.metadata["choices"] is not None:
                _choice(spec.name, getattr(self, spec.name), spec.metadata["choices"])
        for name, (lo, hi) in LIMITS.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ConfigError(f"{name} must be between {lo} and {hi} (got {value})")
        if self.bn_momentum is not None and not 0 < self.bn_momentum <= 1:
            raise ConfigError(f"bn_momentum must be in (0, 1] or None (got {self.bn_momentum})")
        self._check_model_and_dataset()
        # The MLP's batch norm sees one value per unit in a batch of 1; the CNN's BatchNorm2d
        # pools N·H·W values per channel (64 for one 8x8 digit), so batch 1 is valid there.
        if self.batch_size == 1 and self.norm in BATCH_DEPENDENT and self.model == "mlp":
            raise ConfigError(
                "Batch norm cannot train with batch size 1 in the MLP: it normalises each unit "
                "with the mean and variance over the batch, and one value has no variance (its "
                "output would be all zeros). Use a batch size of at least 2, or layer or RMS "
                "norm, which normalise each example on its own, or the cnn, whose batch norm "
                "pools every pixel of a channel (H·W values even for one image)."
            )
        return self

    def _check_model_and_dataset(self) -> None:
        if self.model == "cnn" and self.dataset not in IMAGE_DATASETS:
            raise ConfigError(
                f"the cnn needs images: pick dataset {' or '.join(IMAGE_DATASETS)} "
                f"(got {self.dataset}), or use the mlp"
            )
        if (self.model == "transformer") != (self.dataset in SEQUENCE_DATASETS):
            raise ConfigError(
                f"the transformer reads token sequences and only it does: pick model "
                f"transformer with dataset {' or '.join(SEQUENCE_DATASETS)}, or another dataset "
                f"with the mlp or cnn (got model {self.model}, dataset {self.dataset})"
            )
        if self.model != "transformer":
            return
        if self.norm not in TRANSFORMER_NORMS:
            raise ConfigError(
                f"the transformer takes norm {', '.join(TRANSFORMER_NORMS)} (got {self.norm}): "
                "batch norm's statistics over the batch and every position would let each "
                "token see later tokens and other sequences, and group norm groups image "
                "channels. Transformers normalise each token on its own: use layer or rms."
            )
        if self.width % self.heads:
            raise ConfigError(f"width ({self.width}) must be divisible by heads ({self.heads}): "
                              "each head gets width / heads features")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")


# Inclusive ranges for the numeric fields: the CLI, the app's sliders and URL clamping read these.
LIMITS: dict[str, tuple[float, float]] = {
    "depth": (1, 64),
    "width": (2, 1024),
    "heads": (1, 16),
    "init_gain": (0.01, 100.0),
    "batch_size": (1, 1024),
    "lr": (1e-6, 100.0),
    "steps": (1, 100_000),
    "warmup_steps": (0, 100_000),
    "seed": (0, 2**31 - 1),
    "n_samples": (100, 100_000),
    "noise": (0.0, 5.0),
    "val_fraction": (0.05, 0.9),
    "eval_every": (1, 100_000),
    "record_every": (1, 100_000),
    "bins": (5, 200),
    "threads": (0, 256),
}

