"""Datasets that work offline, deterministic by seed, split into train and validation."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from normlab.config import DATASETS, SEQUENCE_DATASETS


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: torch.Tensor  # (N, 2) or (N, 1, 8, 8), float32; (N, T) int64 tokens for sequences
    y_train: torch.Tensor  # (N,), int64; (N, A) answer tokens for sequences
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def to(self, device: str) -> Dataset:
        move = {k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_val", "y_val")}
        return Dataset(self.name, num_classes=self.num_classes, **move)


def spirals(n: int, noise: float, rng: np.random.Generator, arms: int = 3):
    """Interleaved spiral arms, one class each: needs a non-linear boundary."""
    per_arm = n // arms
    t = np.sqrt(rng.uniform(0, 1, (arms, per_arm))) * 3.0 * np.pi  # (arms, per_arm)
    angle = t + 2 * np.pi * np.arange(arms)[:, None] / arms
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=-1).reshape(-1, 2) / (3 * np.pi)
    y = np.repeat(np.arange(arms), per_arm)
    return x + noise * rng.normal(size=x.shape) * 0.5, y


def circles(n: int, noise: float, rng: np.random.Generator):
    """An inner disc inside an outer ring."""
    y = rng.integers(0, 2, n)
    radius = np.where(y == 0, rng.uniform(0, 0.5, n), rng.uniform(0.7, 1.0, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x + noise * rng.normal(size=x.shape), y


def xor(n: int, noise: float, rng: np.random.Generator):
    """Class = whether the two coordinates share a sign."""
    x = rng.uniform(-1, 1, (n, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return x + noise * rng.normal(size=x.shape), y


def gaussians(n: int, noise: float, rng: np.random.Generator, classes: int = 4):
    """Overlapping blobs around the corners of a square."""
    y = rng.integers(0, classes, n)
    centers = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=float)[:classes] * 0.6
    return centers[y] + (0.25 + noise) * rng.normal(size=(n, 2)), y


SYNTHETIC = {"spirals": spirals, "circles": circles, "xor": xor, "gaussians": gaussians}
NUM_CLASSES = {"spirals": 3, "circles": 2, "xor": 2, "gaussians": 4, "digits": 10}

# Sequence tasks: a prompt of DIGITS random digits, the separator, then the answer. Tokens 0-9
# are digits and SEPARATOR is "="; the transformer predicts the answer's tokens one by one.
DIGITS = 8  # prompt (and answer) length: long enough that reversing needs attention by position
SEPARATOR = 10
VOCAB = 11


def reverse(n: int, rng: np.random.Generator):
    """Prompt 3 1 4 1 5 9 2 6, answer 6 2 9 5 1 4 1 3: each output reads one input position."""
    prompt = rng.integers(0, 10, (n, DIGITS))
    return prompt, prompt[:, ::-1]


def sort(n: int, rng: np.random.Generator):
    """Prompt 3 1 4 1 5 9 2 6, answer 1 1 2 3 4 5 6 9: each output must count the inputs."""
    prompt = rng.integers(0, 10, (n, DIGITS))
    return prompt, np.sort(prompt, axis=1)


SEQUENCE_TASKS = {"reverse": reverse, "sort": sort}
ANSWER_LENGTH = {name: DIGITS for name in SEQUENCE_TASKS}  # logits the transformer returns


def as_sequences(prompt: np.ndarray, answer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) for next-token training on the answer: the input is prompt, "=",
    answer without its last token; the targets are the answer (the last A positions' next
    tokens). Causal attention keeps each answer token from seeing itself or later ones."""
    separator = np.full((len(prompt), 1), SEPARATOR)
    x = np.concatenate([prompt, separator, answer[:, :-1]], axis=1)  # (N, 2 * DIGITS)
    return x, np.ascontiguousarray(answer)  # (N, DIGITS)


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # ships inside scikit-learn: no download

    digits = load_digits()
    return digits.images.astype(np.float32) / 16.0, digits.target.astype(np.int64)


def load_dataset(
    name: str, seed: int = 0, n_samples: int = 2000, noise: float = 0.1, val_fraction: float = 0.25
) -> Dataset:
    """The named dataset, shuffled and split by `seed`; inputs standardised on the train split."""
    rng = np.random.default_rng(seed)
    if name == "digits":
        images, y = _digits_arrays()
        x = images[:, None]  # (N, 1, 8, 8)
    elif name in SYNTHETIC:
        x, y = SYNTHETIC[name](n_samples, noise, rng)
    elif name in SEQUENCE_DATASETS:
        return _sequences(name, rng, n_samples, val_fraction)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    order = rng.permutation(len(y))
    n_val = max(1, int(round(len(y) * val_fraction)))
    val, train = order[:n_val], order[n_val:]
    x = x.astype(np.float32)
    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    x = (x - mean) / std
    as_x = lambda idx: torch.from_numpy(np.ascontiguousarray(x[idx]))  # noqa: E731
    as_y = lambda idx: torch.from_numpy(y[idx].astype(np.int64))  # noqa: E731
    return Dataset(name, as_x(train), as_y(train), as_x(val), as_y(val), int(y.max()) + 1)


def _sequences(name: str, rng: np.random.Generator, n: int, val_fraction: float) -> Dataset:
    """A sequence task's tokens, split (no standardising: they are token ids)."""
    x, y = as_sequences(*SEQUENCE_TASKS[name](n, rng))
    n_val = max(1, int(round(n * val_fraction)))  # every sequence is a fresh random draw
    as_long = lambda a: torch.from_numpy(np.ascontiguousarray(a).astype(np.int64))  # noqa: E731
    return Dataset(name, as_long(x[n_val:]), as_long(y[n_val:]), as_long(x[:n_val]),
                   as_long(y[:n_val]), VOCAB)


class BatchStream:
    """Minibatch indices from a seeded generator: the same seed gives the same batches.

    Each epoch is a fresh permutation cut into full batches (the remainder is dropped, so batch
    norm never meets a lone example at an epoch's end).
    """

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, min(batch_size, n)
        self.generator = torch.Generator().manual_seed(seed)
        self._queue: list[torch.Tensor] = []

    def next(self) -> torch.Tensor:
        if not self._queue:
            order = torch.randperm(self.n, generator=self.generator)
            full = self.n // self.batch_size * self.batch_size
            self._queue = list(order[:full].split(self.batch_size))[::-1]
        return self._queue.pop()
