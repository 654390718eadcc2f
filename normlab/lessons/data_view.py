"""See the data: what the network learned, as decision regions over a 2-D data set, or as the
validation digits it gets wrong.

For the 2-D toy sets (spirals, circles, xor, gaussians) each norm's network is trained with
engine.prepare + engine.train_step (the engine's own step) and, at a few snapshot steps, asked
for its class over a grid covering the data: the decision regions, as TensorFlow Playground
draws them. For digits, the validation images the trained network misclassifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn

from normlab.config import TrainConfig
from normlab.data import _digits_arrays
from normlab.engine import prepare, train_step
from normlab.lessons._common import Progress, ShouldStop, Sweep, frame

TOY_DATASETS = ("spirals", "circles", "xor", "gaussians")
# Small enough to redraw in well under a second a norm; spirals need a few hundred steps.
DATA_VIEW_QUICK = TrainConfig(dataset="spirals", depth=3, width=32, steps=400, lr=0.05,
                              n_samples=600, eval_every=100, record_every=100)
DIGITS_QUICK = DATA_VIEW_QUICK.replace(dataset="digits", width=64, steps=200)
SNAPSHOTS = (0, 50, 150, 400)
GRID = 60  # grid points per axis: 60 x 60 predictions per panel, ~30 kB a frame

POINT_COLUMNS = ("split", "x", "y", "label")
REGION_COLUMNS = ("norm", "step", "x", "y", "predicted", "confidence")
ACCURACY_COLUMNS = ("norm", "step", "train_accuracy", "val_accuracy")
DIGIT_COLUMNS = ("norm", "example", "true", "predicted", "confidence", "row", "col", "ink")


class DataView(NamedTuple):
    points: pd.DataFrame  # the data set: split, x, y, label
    regions: pd.DataFrame  # per (norm, snapshot step, grid point): predicted class, confidence
    accuracy: pd.DataFrame  # per (norm, snapshot step): train and validation accuracy


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Class and its probability for each row of x, in eval mode (batch norm: running stats)."""
    was_training = model.training
    model.eval()
    probabilities = model(x).softmax(-1)  # (N, C)
    model.train(was_training)
    confidence, predicted = probabilities.max(-1)
    return predicted, confidence


def grid_over(points: torch.Tensor, size: int = GRID, margin: float = 0.15) -> torch.Tensor:
    """A size x size grid of (x, y) covering `points` (N, 2) with a margin: (size * size, 2)."""
    low, high = points.min(0).values, points.max(0).values  # (2,)
    pad = margin * (high - low)
    xs = torch.linspace(float(low[0] - pad[0]), float(high[0] + pad[0]), size)
    ys = torch.linspace(float(low[1] - pad[1]), float(high[1] + pad[1]), size)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")  # (size, size) each
    return torch.stack([gx.flatten(), gy.flatten()], 1)


def decision_regions(
    norms: Sequence[str] = ("none", "batch"),
    base: TrainConfig = DATA_VIEW_QUICK,
    snapshots: Sequence[int] = SNAPSHOTS,
    grid: int = GRID,
    every: int | None = None,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> DataView:
    """What each norm's network predicts over the plane of a 2-D data set, at each snapshot.

    Trains `base` with each norm (same seed: same data, initial weights and batches) up to
    the last snapshot step, the norms in step with each other; at every step in `snapshots`
    (0 = before training), and every `every` steps besides, each model is evaluated on a
    grid x grid lattice over the data. After each of those steps `progress(fraction, frame)`
    gets that step's DataView (every norm at that step): what a live view draws, the same
    rows the returned DataView holds for that step. A run that diverges keeps the snapshots
    it reached; a stop ends the training at the next frame.
    """
    if base.dataset not in TOY_DATASETS:
        raise ValueError(f"decision regions need a 2-D data set, one of {', '.join(TOY_DATASETS)}"
                         f" (got {base.dataset!r})")
    last = max(int(s) for s in snapshots)
    frames = set(int(s) for s in snapshots)
    if every:
        frames |= set(range(0, last + 1, every))
    cfg = base.replace(steps=max(last, 1))
    # norm -> (data, model, optimizer, batches); same seed: the same data for every norm
    runs = {norm: prepare(cfg.replace(norm=norm))[1:] for norm in norms}
    data = next(iter(runs.values()))[0]
    points = _points(data)
    lattice = grid_over(torch.cat([data.x_train, data.x_val]), grid)  # (grid * grid, 2)
    finite = dict.fromkeys(norms, True)
    regions, accuracy = [], []
    for step in range(last + 1):
        if step in frames:
            now = [_snapshot(norm, step, model, data, lattice)
                   for norm, (_, model, _, _) in runs.items() if finite[norm]]
            regions += [region for region, _ in now]
            accuracy += [score for _, score in now]
            if progress is not None:
                progress(step / max(last, 1), DataView(
                    points, pd.concat([r for r, _ in now], ignore_index=True)
                    if now else frame([], REGION_COLUMNS), frame([s for _, s in now],
                                                                 ACCURACY_COLUMNS)))
        if step == last or not any(finite.values()) or (
                should_stop is not None and should_stop()):
            break
        for norm, (_, model, optimizer, batches) in runs.items():
            if finite[norm]:
                index = batches.next()
                finite[norm] = train_step(model, optimizer, data.x_train[index],
                                          data.y_train[index]).finite
    regions_frame = (pd.concat(regions, ignore_index=True) if regions
                     else frame([], REGION_COLUMNS))
    return DataView(points, regions_frame[list(REGION_COLUMNS)],
                    frame(accuracy, ACCURACY_COLUMNS))


def _snapshot(norm: str, step: int, model: nn.Module, data, lattice: torch.Tensor):
    """One norm's regions over the lattice and its accuracies, at one step."""
    predicted, confidence = _predict(model, lattice)
    # narrow dtypes: a run keeps ~20 frames of grid * grid rows per norm, copied per session
    region = pd.DataFrame({"norm": norm, "step": np.int32(step), "x": lattice[:, 0].numpy(),
                           "y": lattice[:, 1].numpy(),
                           "predicted": predicted.numpy().astype(np.int8),
                           "confidence": confidence.numpy()})  # x, y, confidence: float32
    score = dict(norm=norm, step=step,
                 train_accuracy=float((_predict(model, data.x_train)[0] == data.y_train)
                                      .float().mean()),
                 val_accuracy=float((_predict(model, data.x_val)[0] == data.y_val)
                                    .float().mean()))
    return region, score


def _points(data) -> pd.DataFrame:
    parts = [pd.DataFrame({"split": split, "x": x[:, 0].numpy(), "y": x[:, 1].numpy(),
                           "label": y.numpy()})
             for split, x, y in (("train", data.x_train, data.y_train),
                                 ("validation", data.x_val, data.y_val))]
    return pd.concat(parts, ignore_index=True)[list(POINT_COLUMNS)]


def validation_images(cfg: TrainConfig) -> np.ndarray:
    """The digits validation images of `cfg`'s split, unstandardised (ink 0..1): (V, 8, 8).

    load_dataset standardises every pixel over the training split, which makes a rarely inked
    corner pixel glow; the raw images come from the same permutation load_dataset draws.
    """
    images, labels = _digits_arrays()
    order = np.random.default_rng(cfg.seed).permutation(len(labels))
    n_val = max(1, int(round(len(labels) * cfg.val_fraction)))
    return images[order[:n_val]]


def misclassified_digits(
    norms: Sequence[str] = ("none", "batch"),
    base: TrainConfig = DIGITS_QUICK,
    count: int = 8,
    progress: Progress = None,
    should_stop: ShouldStop = None,
) -> pd.DataFrame:
    """The first `count` validation digits each norm's trained network gets wrong, pixel by
    pixel: norm, example (its index in the validation split), true, predicted, confidence
    (the predicted class's probability), row, col, ink (0..1)."""
    if base.dataset != "digits":
        raise ValueError(f"misclassified digits need dataset 'digits' (got {base.dataset!r})")
    sweep = Sweep(len(norms), progress, should_stop)
    rows = []
    for norm in norms:
        if sweep.stopped():
            break
        cfg, data, model, optimizer, batches = prepare(base.replace(norm=norm))
        for _ in range(cfg.steps):
            index = batches.next()
            if not train_step(model, optimizer, data.x_train[index], data.y_train[index]).finite:
                break
        predicted, confidence = _predict(model, data.x_val)
        wrong = (predicted != data.y_val).nonzero().flatten()[:count].tolist()
        images = validation_images(cfg)
        for example in wrong:
            for row in range(8):
                for col in range(8):
                    rows.append(dict(norm=norm, example=example, true=int(data.y_val[example]),
                                     predicted=int(predicted[example]),
                                     confidence=float(confidence[example]), row=row, col=col,
                                     ink=float(images[example, row, col])))
        sweep.advance()
    return frame(rows, DIGIT_COLUMNS)
