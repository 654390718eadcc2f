import pytest
import torch

from normlab.config import DATASETS, SEQUENCE_DATASETS
from normlab.data import SEQUENCE_TASKS, SYNTHETIC, load_dataset


@pytest.mark.parametrize("name", DATASETS)
def test_datasets_are_deterministic_by_seed(name):
    a, b = load_dataset(name, seed=1), load_dataset(name, seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    c = load_dataset(name, seed=2)
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize("name", DATASETS)
def test_split_is_disjoint_and_sized(name):
    data = load_dataset(name, seed=0, val_fraction=0.25)
    total = len(data.y_train) + len(data.y_val)
    assert abs(len(data.y_val) - 0.25 * total) <= 1
    assert data.y_train.max() < data.num_classes
    tokens = name in SEQUENCE_DATASETS  # token ids, not features
    assert data.x_train.dtype == (torch.int64 if tokens else torch.float32)
    assert data.y_train.dtype == torch.int64


def test_digits_is_the_real_uci_set_as_images():
    data = load_dataset("digits")
    assert data.input_shape == (1, 8, 8)
    assert data.num_classes == 10
    assert len(data.y_train) + len(data.y_val) == 1797


def test_inputs_are_standardised_on_the_train_split():
    data = load_dataset("spirals", seed=0)
    torch.testing.assert_close(data.x_train.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.x_train.std(0), torch.ones(2), atol=1e-2, rtol=0)


def test_every_dataset_name_in_config_is_one_the_loader_knows():
    assert set(DATASETS) == {*SYNTHETIC, "digits", *SEQUENCE_TASKS}
    assert set(SEQUENCE_DATASETS) == set(SEQUENCE_TASKS)
