"""The hand-written backward passes, checked by finite differences, free of torch's kernels."""

from __future__ import annotations

import inspect
import re

import pytest
import torch

from normlab import functional as NF
from normlab import norms


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads, and one thread keeps a busy machine fast."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def double(*shape, requires_grad=True):
    return (torch.randn(shape, dtype=torch.float64) * 2 + 0.5).requires_grad_(requires_grad)


def gradcheck(fn, inputs):
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7), (
        "backward disagrees with finite differences"
    )


@pytest.mark.parametrize("shape", [(6, 4), (4, 3, 5), (3, 2, 3, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_backward_matches_finite_differences(shape, affine):
    torch.manual_seed(0)
    x = double(*shape)
    weight, bias = (double(shape[1]), double(shape[1])) if affine else (None, None)
    gradcheck(lambda x, w, b: NF.batch_norm(x, None, None, w, b, training=True), (x, weight, bias))


def test_batchnorm_eval_backward_matches_finite_differences():
    torch.manual_seed(0)
    x, weight, bias = double(5, 3, 4), double(3), double(3)
    mean, var = torch.randn(3, dtype=torch.float64), torch.rand(3, dtype=torch.float64) + 0.5
    gradcheck(lambda x, w, b: NF.batch_norm(x, mean, var, w, b, training=False), (x, weight, bias))


@pytest.mark.parametrize("shape, normalized_shape", [((5, 7), (7,)), ((2, 3, 4, 5), (4, 5))])
@pytest.mark.parametrize("weight_bias", [(True, True), (True, False), (False, False)])
def test_layernorm_backward_matches_finite_differences(shape, normalized_shape, weight_bias):
    torch.manual_seed(0)
    x = double(*shape)
    weight = double(*normalized_shape) if weight_bias[0] else None
    bias = double(*normalized_shape) if weight_bias[1] else None
    gradcheck(lambda x, w, b: NF.layer_norm(x, normalized_shape, w, b), (x, weight, bias))


@pytest.mark.parametrize("shape, normalized_shape", [((5, 7), (7,)), ((2, 3, 4, 5), (4, 5))])
@pytest.mark.parametrize("affine", [True, False])
def test_rmsnorm_backward_matches_finite_differences(shape, normalized_shape, affine):
    torch.manual_seed(0)
    x = double(*shape)
    weight = double(*normalized_shape) if affine else None
    gradcheck(lambda x, w: NF.rms_norm(x, normalized_shape, w, eps=1e-6), (x, weight))


@pytest.mark.parametrize("shape, num_groups", [((3, 6, 2, 2), 2), ((4, 6), 3), ((2, 4, 5), 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_groupnorm_backward_matches_finite_differences(shape, num_groups, affine):
    torch.manual_seed(0)
    x = double(*shape)
    weight, bias = (double(shape[1]), double(shape[1])) if affine else (None, None)
    gradcheck(lambda x, w, b: NF.group_norm(x, num_groups, w, b), (x, weight, bias))


def test_dyt_backward_matches_finite_differences():
    torch.manual_seed(0)
    gradcheck(NF.dyt, (double(4, 5), double(), double(5), double(5)))


def test_functional_batch_norm_updates_running_stats_only_when_training():
    x = torch.randn(10, 3, dtype=torch.float64)
    running_mean, running_var = (
        torch.zeros(3, dtype=torch.float64),
        torch.ones(3, dtype=torch.float64),
    )
    NF.batch_norm(x, running_mean, running_var, training=False)
    assert torch.equal(running_mean, torch.zeros(3, dtype=torch.float64))
    NF.batch_norm(x, running_mean, running_var, training=True, momentum=0.5)
    expected = 0.5 + 0.5 * x.var(dim=0, unbiased=True)
    assert torch.allclose(running_var, expected), (running_var - expected).abs().max()


def test_running_stats_carry_no_gradient():
    x = double(10, 3)
    running_mean, running_var = (
        torch.zeros(3, dtype=torch.float64),
        torch.ones(3, dtype=torch.float64),
    )
    NF.batch_norm(x, running_mean, running_var, training=True)
    assert not running_mean.requires_grad and not running_var.requires_grad


def test_parameters_without_grad_get_none():
    x, weight = double(4, 6), double(6, requires_grad=False)
    NF.layer_norm(x, 6, weight).sum().backward()
    assert x.grad is not None and weight.grad is None


# --- No borrowed kernels ------------------------------------------------------------------------

TORCH_NORM_CALL = re.compile(
    r"(\bF|functional|\btorch|\bnn|\baten|\bops)\s*\.\s*"
    r"(native_\w+|_?(batch|layer|rms|group|instance)_norm\w*|(BatchNorm|LayerNorm|RMSNorm|GroupNorm)\w*)"
)


@pytest.mark.parametrize("module", [NF, norms])
def test_source_does_not_call_torch_norm_kernels(module):
    source = inspect.getsource(module)
    found = TORCH_NORM_CALL.findall(source) + re.findall(r"import torch\.nn\.functional", source)
    assert not found, f"{module.__name__} calls torch's own normalization: {found}"


def test_pattern_catches_the_calls_it_is_meant_to():
    calls = ["F.batch_norm(x)", "torch.layer_norm(x)", "torch.native_batch_norm(x)",
             "nn.BatchNorm1d(3)", "torch.nn.functional.rms_norm(x)", "F.group_norm(x)"]  # fmt: skip
    for call in calls:
        assert TORCH_NORM_CALL.search(call), call


def test_layers_run_with_torch_norm_functionals_disabled(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a torch normalization kernel was called")

    for owner in (torch, torch.nn.functional):
        for name in ("batch_norm", "layer_norm", "rms_norm", "group_norm", "native_batch_norm",
                     "native_layer_norm", "native_group_norm"):  # fmt: skip
            if hasattr(owner, name):
                monkeypatch.setattr(owner, name, forbidden)
    layers = [(norms.BatchNorm1d(4), (3, 4)), (norms.BatchNorm2d(4), (3, 4, 2, 2)),
              (norms.LayerNorm(4), (3, 4)), (norms.RMSNorm(4), (3, 4)),
              (norms.GroupNorm(2, 4), (3, 4)), (norms.DyT(4), (3, 4))]  # fmt: skip
    for layer, shape in layers:
        x = torch.randn(shape, requires_grad=True)
        layer(x).sum().backward()
        layer.eval()
        layer(x)


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5)])
def test_bias_without_weight_is_a_shift(shape):
    torch.manual_seed(0)
    x, bias = double(*shape), double(shape[1])
    view = (1, shape[1]) + (1,) * (len(shape) - 2)
    no_bias = NF.batch_norm(x, None, None, training=True)
    assert torch.allclose(NF.batch_norm(x, None, None, None, bias, True), no_bias + bias.view(view))
    no_bias = NF.group_norm(x, 2)
    assert torch.allclose(NF.group_norm(x, 2, None, bias), no_bias + bias.view(view))
    gradcheck(lambda x, b: NF.batch_norm(x, None, None, None, b, training=True), (x, bias))
    gradcheck(lambda x, b: NF.group_norm(x, 2, None, b), (x, bias))
