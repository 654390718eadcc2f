"""Build a normalization layer from its name: the one place a new norm is added."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from normlab import norms


@dataclass(frozen=True)
class NormEntry:
    """How one norm is built after a Linear (features) and after a Conv2d (images)."""

    label: str
    features: Callable[[int], nn.Module]  # input (N, D)
    images: Callable[[int, int, int], nn.Module]  # input (N, C, H, W), given C, H, W


def _groups(channels: int) -> int:
    """The largest of 8, 4, 2, 1 that divides the channel count (GroupNorm needs a divisor)."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


NORMS: dict[str, NormEntry] = {
    "none": NormEntry("No norm", lambda d: nn.Identity(), lambda c, h, w: nn.Identity()),
    "batch": NormEntry("BatchNorm", norms.BatchNorm1d, lambda c, h, w: norms.BatchNorm2d(c)),
    "layer": NormEntry("LayerNorm", norms.LayerNorm, lambda c, h, w: norms.LayerNorm([c, h, w])),
    "rms": NormEntry("RMSNorm", norms.RMSNorm, lambda c, h, w: norms.RMSNorm([c, h, w])),
    "group": NormEntry(
        "GroupNorm",
        lambda d: norms.GroupNorm(_groups(d), d),
        lambda c, h, w: norms.GroupNorm(_groups(c), c),
    ),
    "dyt": NormEntry(
        "DyT",
        norms.DyT,
        lambda c, h, w: norms.DyT(c, channels_last=False),
    ),
}

# Norms whose training-mode output depends on the other examples in the batch.
BATCH_DEPENDENT = frozenset({"batch"})


def norm_label(name: str) -> str:
    """How a norm is named to people: 'BatchNorm', 'No norm' (an unknown name as it is)."""
    return NORMS[name].label if name in NORMS else str(name)


def build_norm(name: str, features: int | tuple[int, int, int]) -> nn.Module:
    """A fresh norm layer: `features` is D after a Linear or (C, H, W) after a Conv2d."""
    if name not in NORMS:
        raise ValueError(f"unknown norm {name!r}; choose one of {', '.join(NORMS)}")
    entry = NORMS[name]
    return entry.images(*features) if isinstance(features, tuple) else entry.features(features)
