"""The from-scratch layers against their torch.nn twins, and the known traps, one test each."""

from __future__ import annotations

import copy
import inspect
import math

import pytest
import torch
from torch import nn

from normlab import norms


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads, and one thread keeps a busy machine fast."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def assert_close(ours, theirs, dtype, what, tol=TOL):
    """Both tensors (or both None) agree to the dtype's tolerance; the max error is shown."""
    if ours is None or theirs is None:
        assert ours is None and theirs is None, f"{what}: ours={ours!r} torch={theirs!r}"
        return
    assert ours.shape == theirs.shape, f"{what}: shape {tuple(ours.shape)} vs {tuple(theirs.shape)}"
    error = (ours.double() - theirs.double()).abs().max().item() if ours.numel() else 0.0
    scale = max(1.0, theirs.double().abs().max().item()) if theirs.numel() else 1.0
    assert error <= tol[dtype] * scale, f"{what}: max error {error:.3g} (tolerance {tol[dtype]})"


def randomize_parameters(layer: nn.Module) -> None:
    """Non-trivial weight and bias, so their gradients and effect are checked too."""
    with torch.no_grad():
        for param in layer.parameters():
            param.copy_(torch.randn_like(param) * 0.5 + 1.0)


def compare_step(ours, theirs, x, dtype, tol=TOL):
    """One forward and backward through both layers: outputs, gradients and buffers agree."""
    x_ours = x.clone().requires_grad_()
    x_theirs = x.clone().requires_grad_()
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    assert_close(y_ours, y_theirs, dtype, "output", tol)
    grad_y = torch.randn_like(y_theirs)
    y_ours.backward(grad_y)
    y_theirs.backward(grad_y)
    assert_close(x_ours.grad, x_theirs.grad, dtype, "input gradient", tol)
    theirs_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_close(param.grad, theirs_params[name].grad, dtype, f"{name} gradient", tol)
    ours.zero_grad(set_to_none=True)
    theirs.zero_grad(set_to_none=True)
    theirs_buffers = dict(theirs.named_buffers())
    assert set(dict(ours.named_buffers())) == set(theirs_buffers)
    for name, buffer in ours.named_buffers():
        if buffer.dtype == torch.long:
            assert buffer.item() == theirs_buffers[name].item(), name
        else:
            assert_close(buffer, theirs_buffers[name], dtype, name, tol)


def run_twins(ours, theirs, shape, dtype, train_steps=3, tol=TOL):
    """A few training steps, then eval mode, with identical inputs for both layers."""
    ours.to(dtype)
    theirs.to(dtype)
    randomize_parameters(theirs)
    ours.load_state_dict(theirs.state_dict())
    for _ in range(train_steps):
        compare_step(ours, theirs, torch.randn(shape, dtype=dtype) * 3 + 1, dtype, tol)
    ours.eval()
    theirs.eval()
    compare_step(ours, theirs, torch.randn(shape, dtype=dtype) * 3 + 1, dtype, tol)


DTYPES = [torch.float64, torch.float32]
BN_SHAPES = [
    (norms.BatchNorm1d, nn.BatchNorm1d, (64, 128)),
    (norms.BatchNorm1d, nn.BatchNorm1d, (8, 16, 5)),
    (norms.BatchNorm2d, nn.BatchNorm2d, (4, 3, 5, 5)),
]


@pytest.mark.parametrize("ours_cls, torch_cls, shape", BN_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track_running_stats", [True, False])
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_batchnorm_matches_torch(
    ours_cls, torch_cls, shape, dtype, momentum, affine, track_running_stats, eps
):
    kwargs = dict(
        eps=eps, momentum=momentum, affine=affine, track_running_stats=track_running_stats
    )
    run_twins(ours_cls(shape[1], **kwargs), torch_cls(shape[1], **kwargs), shape, dtype)


def test_batchnorm_without_bias_matches_torch():
    run_twins(
        norms.BatchNorm1d(16, bias=False), nn.BatchNorm1d(16, bias=False), (8, 16), torch.float64
    )


LN_SHAPES = [
    ((64, 128), 128),
    ((8, 16, 5), (5,)),
    ((4, 3, 5, 5), (3, 5, 5)),
    ((2, 3, 4, 6), [4, 6]),
]


@pytest.mark.parametrize("shape, normalized_shape", LN_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
@pytest.mark.parametrize("elementwise_affine, bias", [(True, True), (True, False), (False, True)])
def test_layernorm_matches_torch(shape, normalized_shape, dtype, eps, elementwise_affine, bias):
    kwargs = dict(eps=eps, elementwise_affine=elementwise_affine, bias=bias)
    ours, theirs = (
        norms.LayerNorm(normalized_shape, **kwargs),
        nn.LayerNorm(normalized_shape, **kwargs),
    )
    run_twins(ours, theirs, shape, dtype)


@pytest.mark.parametrize("shape, normalized_shape", LN_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [None, 1e-6, 1e-2])
@pytest.mark.parametrize("elementwise_affine", [True, False])
def test_rmsnorm_matches_torch(shape, normalized_shape, dtype, eps, elementwise_affine):
    kwargs = dict(eps=eps, elementwise_affine=elementwise_affine)
    ours, theirs = norms.RMSNorm(normalized_shape, **kwargs), nn.RMSNorm(normalized_shape, **kwargs)
    run_twins(ours, theirs, shape, dtype)


@pytest.mark.parametrize(
    "shape, num_groups",
    [((4, 6, 5, 5), 1), ((4, 6, 5, 5), 2), ((4, 6, 5, 5), 3), ((4, 6, 5, 5), 6), ((64, 128), 8),
     ((4, 8, 7), 2)],
)  # fmt: skip
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_groupnorm_matches_torch(shape, num_groups, dtype, affine, eps):
    channels = shape[1]
    ours = norms.GroupNorm(num_groups, channels, eps=eps, affine=affine)
    theirs = nn.GroupNorm(num_groups, channels, eps=eps, affine=affine)
    run_twins(ours, theirs, shape, dtype)


def test_groupnorm_without_bias_matches_torch():
    ours, theirs = norms.GroupNorm(2, 6, bias=False), nn.GroupNorm(2, 6, bias=False)
    run_twins(ours, theirs, (4, 6, 3, 3), torch.float64)


# --- Twins to floating-point precision: odd shapes, batch 2, 2-D and 4-D ----------------------

PRECISE = {torch.float64: 1e-12, torch.float32: 1e-5}  # relative to the largest value
TWIN_CASES = [
    ("BatchNorm1d", (7,), (2, 7)),  # batch 2: the smallest batch with a variance
    ("BatchNorm1d", (13,), (5, 13)),
    ("BatchNorm1d", (5,), (3, 5, 7)),
    ("BatchNorm2d", (3,), (2, 3, 5, 7)),
    ("BatchNorm2d", (5,), (3, 5, 1, 1)),
    ("LayerNorm", (7,), (2, 7)),
    ("LayerNorm", ((5, 7),), (3, 5, 7)),
    ("LayerNorm", ((3, 5, 7),), (2, 3, 5, 7)),
    ("RMSNorm", (7,), (2, 7)),
    ("RMSNorm", ((5, 7),), (3, 5, 7)),
    ("RMSNorm", ((3, 5, 7),), (2, 3, 5, 7)),
    ("GroupNorm", (3, 9), (2, 9, 5, 7)),
    ("GroupNorm", (1, 5), (2, 5)),
    ("GroupNorm", (5, 5), (3, 5, 7)),
]


@pytest.mark.parametrize("name, args, shape", TWIN_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_norm_matches_torch_to_floating_point_precision(name, args, shape, dtype):
    """Outputs, input and parameter gradients, running statistics: train, then eval."""
    torch.manual_seed(0)
    tol = PRECISE
    if name.startswith("BatchNorm") and shape[0] * math.prod(shape[2:]) == 2:
        # Two values per channel: x̂ = ±1 up to eps, so dx is a difference of nearly equal
        # terms times r (up to ~100 here); float32 keeps about three digits of it, in torch too.
        tol = {**PRECISE, torch.float32: 1e-3}
    run_twins(getattr(norms, name)(*args), getattr(nn, name)(*args), shape, dtype, tol=tol)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", [(2, 6), (2, 6, 3, 3)])
def test_batchnorm_running_stats_match_torch_to_floating_point_precision(momentum, shape):
    torch.manual_seed(0)
    cls = norms.BatchNorm1d if len(shape) == 2 else norms.BatchNorm2d
    torch_cls = nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d
    ours, theirs = cls(6, momentum=momentum), torch_cls(6, momentum=momentum)
    run_twins(ours, theirs, shape, torch.float64, train_steps=6, tol=PRECISE)


def _twin_case_layers(name, args, dtype):
    torch.manual_seed(0)
    layer = getattr(norms, name)(*args).to(dtype)
    randomize_parameters(layer)
    return layer, copy.deepcopy(layer)


@pytest.mark.parametrize("name, args, shape", TWIN_CASES + [("DyT", (7,), (3, 7))])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("training", [True, False])
def test_forward_without_autograd_equals_forward_with_it(name, args, shape, dtype, training):
    """Under no_grad the layer skips its autograd Function: same output, same buffers, bit for
    bit."""
    with_grad, without_grad = _twin_case_layers(name, args, dtype)
    with_grad.train(training)
    without_grad.train(training)
    x = torch.randn(shape, dtype=dtype) * 3 + 1
    expected = with_grad(x.clone().requires_grad_())
    with torch.no_grad():
        y = without_grad(x)
    assert expected.requires_grad and not y.requires_grad
    assert y.dtype == expected.dtype and torch.equal(y, expected.detach()), (
        f"max error {(y.double() - expected.detach().double()).abs().max().item():.3g}"
    )
    for (name_a, a), (_, b) in zip(with_grad.named_buffers(), without_grad.named_buffers()):
        assert torch.equal(a, b), name_a


@pytest.mark.parametrize("name, args, shape", TWIN_CASES)
def test_frozen_layer_on_an_input_without_grad_skips_autograd(name, args, shape):
    layer, reference = _twin_case_layers(name, args, torch.float64)
    layer.requires_grad_(False)
    x = torch.randn(shape, dtype=torch.float64)
    y = layer(x)
    assert y.grad_fn is None and not y.requires_grad
    assert torch.equal(y, reference(x).detach())


@pytest.mark.parametrize("name, args, shape", TWIN_CASES)
def test_second_derivative_is_refused_as_before(name, args, shape):
    """The backward passes are once-differentiable; create_graph=True says so instead of
    returning a wrong second derivative."""
    layer, _ = _twin_case_layers(name, args, torch.float64)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    (grad_x,) = torch.autograd.grad(layer(x).pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        grad_x.sum().backward()


# --- DyT: checked against its formula, differentiated by plain autograd ----------------------


@pytest.mark.parametrize(
    "channels_last, shape", [(True, (8, 10, 16)), (True, (64, 16)), (False, (4, 16, 5, 5))]
)
def test_dyt_matches_its_formula(channels_last, shape):
    torch.manual_seed(0)
    layer = norms.DyT(16, channels_last=channels_last).double()
    randomize_parameters(layer)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    alpha = layer.alpha.detach().clone().requires_grad_()
    weight = layer.weight.detach().clone().requires_grad_()
    bias = layer.bias.detach().clone().requires_grad_()
    view = (-1,) if channels_last else (-1, 1, 1)
    expected = weight.view(view) * torch.tanh(alpha * x) + bias.view(view)
    x_ours = x.detach().clone().requires_grad_()
    y = layer(x_ours)
    assert_close(y, expected, torch.float64, "output")
    grad_y = torch.randn_like(y)
    y.backward(grad_y)
    expected.backward(grad_y)
    assert_close(x_ours.grad, x.grad, torch.float64, "input gradient")
    assert_close(layer.alpha.grad, alpha.grad, torch.float64, "alpha gradient")
    assert_close(layer.weight.grad, weight.grad, torch.float64, "weight gradient")
    assert_close(layer.bias.grad, bias.grad, torch.float64, "bias gradient")


def test_dyt_alpha_is_a_scalar_starting_at_half():
    layer = norms.DyT(32)
    assert layer.alpha.shape == () and layer.alpha.item() == 0.5
    assert torch.equal(layer.weight, torch.ones(32)) and torch.equal(layer.bias, torch.zeros(32))
    assert norms.DyT(32, alpha_init_value=2.0).alpha.item() == 2.0


# --- Known traps --------------------------------------------------------------------------------


def test_normalizes_with_biased_variance():
    x = torch.randn(5, 3, dtype=torch.float64) * 4 + 2
    y = norms.BatchNorm1d(3, eps=0.0).double()(x)
    assert_close(
        y.var(dim=0, unbiased=False), torch.ones(3, dtype=torch.float64), torch.float64, "var"
    )


def test_running_var_is_unbiased():
    x = torch.randn(5, 3, dtype=torch.float64) * 4 + 2
    layer = norms.BatchNorm1d(
        3, momentum=1.0
    ).double()  # momentum 1: the running stats are the batch's
    layer(x)
    expected = x.var(dim=0, unbiased=True)
    assert_close(layer.running_var, expected, torch.float64, "running_var")
    assert_close(layer.running_mean, x.mean(dim=0), torch.float64, "running_mean")


def test_momentum_is_weight_of_new_batch():
    x = torch.randn(16, 3, dtype=torch.float64) + 5
    layer = norms.BatchNorm1d(3, momentum=0.1).double()
    layer(x)
    expected_mean = 0.9 * torch.zeros(3, dtype=torch.float64) + 0.1 * x.mean(dim=0)
    expected_var = 0.9 * torch.ones(3, dtype=torch.float64) + 0.1 * x.var(dim=0, unbiased=True)
    assert_close(layer.running_mean, expected_mean, torch.float64, "running_mean")
    assert_close(layer.running_var, expected_var, torch.float64, "running_var")


def test_momentum_none_is_cumulative_average():
    batches = [torch.randn(8, 3, dtype=torch.float64) * (k + 1) + k for k in range(5)]
    layer = norms.BatchNorm1d(3, momentum=None).double()
    for x in batches:
        layer(x)
    assert layer.num_batches_tracked.item() == 5
    mean_of_means = torch.stack([x.mean(dim=0) for x in batches]).mean(dim=0)
    mean_of_vars = torch.stack([x.var(dim=0, unbiased=True) for x in batches]).mean(dim=0)
    assert_close(layer.running_mean, mean_of_means, torch.float64, "running_mean")
    assert_close(layer.running_var, mean_of_vars, torch.float64, "running_var")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rms_eps_none_is_dtype_eps(dtype):
    x = torch.randn(4, 8, dtype=dtype) * 1e-4  # mean square ~1e-8: the eps is visible
    eps = torch.finfo(dtype).eps
    expected = x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
    y = norms.RMSNorm(8, eps=None).to(dtype)(x)
    assert_close(y, expected, dtype, "output with eps=finfo(dtype).eps")
    other = norms.RMSNorm(8, eps=1e-6).to(dtype)(x)
    assert (other - expected).abs().max() > 1e-3, "eps=None should not behave like eps=1e-6"


@pytest.mark.parametrize(
    "layer, shape",
    [(norms.BatchNorm1d(64), (1, 64)), (norms.BatchNorm1d(4), (1, 4, 1)),
     (norms.BatchNorm2d(4), (1, 4, 1, 1)),
     (norms.BatchNorm1d(4, track_running_stats=False), (1, 4))],
)  # fmt: skip
def test_batchnorm_one_value_per_channel_explains_why(layer, shape):
    with pytest.raises(ValueError, match="more than 1 value per channel") as info:
        layer(torch.randn(shape))
    message = str(info.value)
    assert str(tuple(shape)) in message
    assert "variance needs at least two values" in message
    assert "batch size of at least 2" in message and "model.eval()" in message


def test_one_value_per_channel_is_fine_in_eval_and_not_counted():
    layer = norms.BatchNorm1d(4)
    with pytest.raises(ValueError):
        layer(torch.randn(1, 4))
    assert layer.num_batches_tracked.item() == 0, "a batch that failed must not be counted"
    layer.eval()
    assert layer(torch.randn(1, 4)).shape == (1, 4)


def test_one_example_with_many_positions_is_enough():
    layer = norms.BatchNorm1d(4)
    assert layer(torch.randn(1, 4, 6)).shape == (1, 4, 6)  # 6 values per channel


def test_bn_output_depends_on_batch_mates():
    torch.manual_seed(0)
    layer = norms.BatchNorm1d(8)
    first = torch.randn(1, 8)
    alone = layer(torch.cat([first, torch.randn(3, 8)]))[0]
    with_others = layer(torch.cat([first, torch.randn(3, 8) + 5]))[0]
    assert (alone - with_others).abs().max() > 0.1


@pytest.mark.parametrize("layer", [norms.LayerNorm(8), norms.RMSNorm(8), norms.GroupNorm(2, 8)])
def test_per_example_norms_ignore_batch_mates(layer):
    torch.manual_seed(0)
    first = torch.randn(1, 8)
    alone = layer(torch.cat([first, torch.randn(3, 8)]))[0]
    with_others = layer(torch.cat([first, torch.randn(3, 8) + 5]))[0]
    assert_close(alone, with_others, torch.float32, "first example")


def test_eval_mode_uses_running_stats():
    layer = norms.BatchNorm1d(3)
    with torch.no_grad():
        layer.running_mean.copy_(torch.tensor([1.0, 2.0, 3.0]))
        layer.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    layer.eval()
    x = torch.randn(5, 3)
    expected = (x - layer.running_mean) / torch.sqrt(layer.running_var + layer.eps)
    assert_close(layer(x), expected, torch.float32, "eval output")
    assert layer.num_batches_tracked.item() == 0


def test_track_running_stats_false_uses_batch_stats_in_eval():
    layer = norms.BatchNorm2d(3, track_running_stats=False)
    assert layer.running_mean is None and layer.running_var is None
    assert layer.num_batches_tracked is None
    x = torch.randn(4, 3, 2, 2)
    train_output = layer(x)
    layer.eval()
    assert_close(layer(x), train_output, torch.float32, "eval output")


@pytest.mark.parametrize(
    "layer", [norms.BatchNorm1d(4, affine=False), norms.LayerNorm(4, elementwise_affine=False),
              norms.RMSNorm(4, elementwise_affine=False), norms.GroupNorm(2, 4, affine=False)],
)  # fmt: skip
def test_affine_false_has_no_parameters(layer):
    assert layer.weight is None and getattr(layer, "bias", None) is None
    assert list(layer.parameters()) == []


@pytest.mark.parametrize("layer, shape", [(norms.BatchNorm1d(4), (2, 4, 3, 3)),
                                          (norms.BatchNorm1d(4), (4,)),
                                          (norms.BatchNorm2d(4), (2, 4, 3))])  # fmt: skip
def test_wrong_input_dims_raise_value_error(layer, shape):
    with pytest.raises(ValueError, match=f"got {len(shape)}D input"):
        layer(torch.randn(shape))


def test_layernorm_wrong_trailing_shape_raises_value_error():
    with pytest.raises(ValueError, match="normalized_shape"):
        norms.LayerNorm(8)(torch.randn(2, 4))
    with pytest.raises(ValueError, match="normalized_shape"):
        norms.RMSNorm([3, 4])(torch.randn(4, 3))


def test_groupnorm_needs_groups_that_divide_channels():
    with pytest.raises(ValueError, match="divisible"):
        norms.GroupNorm(3, 8)


def test_int_normalized_shape_is_the_last_dim():
    assert norms.LayerNorm(8).normalized_shape == (8,)
    assert norms.RMSNorm(8).weight.shape == (8,)


# --- Drop-in for torch.nn -----------------------------------------------------------------------

PAIRS = [
    (norms.BatchNorm1d, nn.BatchNorm1d, (6,)),
    (norms.BatchNorm2d, nn.BatchNorm2d, (6,)),
    (norms.LayerNorm, nn.LayerNorm, ([3, 4],)),
    (norms.RMSNorm, nn.RMSNorm, (6,)),
    (norms.GroupNorm, nn.GroupNorm, (2, 6)),
]


@pytest.mark.parametrize("ours_cls, torch_cls, args", PAIRS)
def test_constructor_signature_matches_torch(ours_cls, torch_cls, args):
    def described(cls):
        parameters = inspect.signature(cls.__init__).parameters.values()
        return [(p.name, p.default, p.kind) for p in parameters]

    assert described(ours_cls) == described(torch_cls)


@pytest.mark.parametrize("ours_cls, torch_cls, args", PAIRS)
@pytest.mark.parametrize("affine", [True, False])
def test_state_dict_round_trips_both_ways(ours_cls, torch_cls, args, affine):
    flag = "affine" if "affine" in inspect.signature(torch_cls).parameters else "elementwise_affine"
    ours, theirs = ours_cls(*args, **{flag: affine}), torch_cls(*args, **{flag: affine})
    randomize_parameters(theirs)
    for buffer in theirs.buffers():
        buffer.add_(3 if buffer.dtype == torch.long else torch.rand_like(buffer))
    ours.load_state_dict(theirs.state_dict())
    fresh = torch_cls(*args, **{flag: affine})
    fresh.load_state_dict(ours.state_dict())
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for name, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[name], value), name
        assert torch.equal(fresh.state_dict()[name], value), name


@pytest.mark.parametrize("ours_cls, torch_cls, args", PAIRS)
def test_repr_matches_torch(ours_cls, torch_cls, args):
    assert repr(ours_cls(*args)) == repr(torch_cls(*args))


def test_reset_running_stats_and_parameters():
    layer = norms.BatchNorm1d(3)
    layer(torch.randn(4, 3) + 2)
    with torch.no_grad():
        layer.weight.mul_(3)
    layer.reset_running_stats()
    assert torch.equal(layer.running_mean, torch.zeros(3))
    assert torch.equal(layer.running_var, torch.ones(3))
    assert layer.num_batches_tracked.item() == 0
    assert torch.equal(layer.weight, torch.full((3,), 3.0)), "reset_running_stats keeps weights"
    layer.reset_parameters()
    assert torch.equal(layer.weight, torch.ones(3))


def test_device_and_dtype_arguments_are_honoured():
    layer = norms.BatchNorm1d(3, dtype=torch.float64)
    assert layer.weight.dtype == torch.float64 and layer.running_var.dtype == torch.float64
    assert layer.num_batches_tracked.dtype == torch.long
    assert norms.LayerNorm(3, dtype=torch.float64).bias.dtype == torch.float64


@pytest.mark.parametrize(
    "ours, theirs, shape",
    [(norms.BatchNorm1d(16), nn.BatchNorm1d(16), (8, 16)),
     (norms.LayerNorm(16), nn.LayerNorm(16), (8, 16)),
     (norms.RMSNorm(16), nn.RMSNorm(16), (8, 16)),
     (norms.GroupNorm(4, 16), nn.GroupNorm(4, 16), (8, 16))],
)  # fmt: skip
def test_bfloat16_input_is_computed_in_float32(ours, theirs, shape):
    x = torch.randn(shape).to(torch.bfloat16)
    expected = theirs(x.float())
    y = ours(x)
    assert y.dtype == torch.bfloat16
    error = (y.float() - expected).abs().max().item()
    assert error < 0.05, f"max error {error:.3g} against the float32 result"


INPLACE_CASES = [
    ("BatchNorm1d", "affine", (5, 6), (6,)),
    ("BatchNorm2d", "affine", (5, 6, 2, 2), (6,)),
    ("LayerNorm", "elementwise_affine", (5, 6), (6,)),
    ("RMSNorm", "elementwise_affine", (5, 6), (6,)),
    ("GroupNorm", "affine", (5, 6, 3), (2, 6)),
]


@pytest.mark.parametrize("name, flag, shape, args", INPLACE_CASES)
@pytest.mark.parametrize("affine", [True, False])
def test_inplace_relu_after_the_layer_still_backpropagates(name, flag, shape, args, affine):
    ours = getattr(norms, name)(*args, **{flag: affine}).double()
    theirs = getattr(nn, name)(*args, **{flag: affine}).double()
    x = torch.randn(shape, dtype=torch.float64)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    relu = nn.ReLU(inplace=True)  # the usual conv -> norm -> ReLU(inplace=True) pattern
    relu(ours(x_ours)).sum().backward()
    relu(theirs(x_theirs)).sum().backward()
    assert_close(x_ours.grad, x_theirs.grad, torch.float64, "input gradient")
