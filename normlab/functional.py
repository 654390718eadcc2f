r"""Normalization math written out by hand: the forward pass and the backward pass.

Each norm is a :class:`torch.autograd.Function` whose ``backward`` is the gradient derived
on paper, not one autograd works out. The modules in :mod:`normlab.norms` own parameters,
buffers and train/eval mode, and call the plain functions at the bottom of this file.

Notation shared by the docstrings. For one set of :math:`n` values normalised together:

.. math::
    \mu = \tfrac1n \textstyle\sum_i x_i, \qquad
    \sigma^2 = \tfrac1n \textstyle\sum_i (x_i - \mu)^2 \ \text{(biased)}, \qquad
    r = 1 / \sqrt{\sigma^2 + \epsilon}, \qquad
    \hat x_i = (x_i - \mu)\, r, \qquad y_i = \gamma \hat x_i + \beta

:math:`dy = \partial L / \partial y` is the gradient arriving from above and
:math:`d\hat x = \gamma \cdot dy` the gradient reaching :math:`\hat x`.

The one result every backward below rests on: :math:`\mu` and :math:`r` depend on every
:math:`x_i` of the set, so

.. math::
    dx_i = \tfrac{r}{n}\Big(n\, d\hat x_i - \textstyle\sum_j d\hat x_j
           - \hat x_i \sum_j d\hat x_j \hat x_j\Big)

The middle term is the path through :math:`\mu`, the last one the path through :math:`\sigma`.
RMS norm has no :math:`\mu`, so it keeps only the first and last terms.

Half-precision inputs (float16, bfloat16) are computed in float32 and cast back, as torch does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = [
    "BatchNormFunction",
    "LayerNormFunction",
    "RMSNormFunction",
    "GroupNormFunction",
    "batch_norm",
    "layer_norm",
    "rms_norm",
    "group_norm",
    "dyt",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _upcast(t: Tensor | None) -> Tensor | None:
    """The tensor in float32 if it is half precision, else unchanged."""
    if t is not None and t.dtype in _LOW_PRECISION:
        return t.float()
    return t


def _affine(xhat: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """y = weight * xhat + bias (either may be missing), never xhat itself."""
    if weight is not None and bias is not None:
        return torch.addcmul(bias, xhat, weight)  # one pass instead of two
    if weight is not None:
        return xhat * weight
    if bias is not None:
        return xhat + bias
    # xhat is saved for backward: an output sharing its memory would make an in-place op
    # after the layer (ReLU(inplace=True)) fail the backward.
    return xhat.clone()


def _channel_view(t: Tensor, like: Tensor) -> Tensor:
    """A per-channel vector (C,) viewed as (1, C, 1, ...) to broadcast against like (N, C, *)."""
    return t.view((1, -1) + (1,) * (like.dim() - 2))


def _channel_affine(
    xhat: Tensor, weight: Tensor | None, bias: Tensor | None, out: Tensor | None = None
) -> Tensor:
    """y = weight_c * xhat + bias_c for xhat (N, C, *); written into `out` when both are given."""
    weight = None if weight is None else _channel_view(_upcast(weight), xhat)
    bias = None if bias is None else _channel_view(_upcast(bias), xhat)
    if weight is not None and bias is not None:
        return _scale_shift(xhat, weight, bias, out)
    return _affine(xhat, weight, bias)


def _scale_shift(t: Tensor, scale: Tensor, shift: Tensor, out: Tensor | None = None) -> Tensor:
    """t * scale + shift for t (N, C, *) and per-channel scale, shift (1, C, 1, ...)."""
    if t.numel() == t.shape[0] * t.shape[1]:  # (N, C): the channel is the innermost dim
        return torch.addcmul(shift, t, scale, out=out)  # one pass
    # With positions after the channel, CPU addcmul is not vectorised for a (1, C, 1, ...)
    # operand, and two passes are faster than one.
    return torch.mul(t, scale, out=out).add_(shift)


def _feature_sum(t: Tensor, dims: tuple[int, ...], scale: float = 1.0) -> Tensor:
    """scale * the sum of t (N, C, *) over `dims`, every dim but dim 1: shape (C,)."""
    if t.dim() == 2:
        # A vector-matrix product: BLAS sums columns about twice as fast as t.sum(0) on CPU.
        return t.new_full((t.shape[0],), scale) @ t
    total = t.sum(dims)
    return total if scale == 1.0 else total.mul_(scale)


def _standardize_rows(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """xhat (M, K) and invstd (M, 1) of each row of x (M, K), with the biased variance."""
    # Mean first, then the mean of the centred squares: exact, and on CPU much faster than
    # torch.var_mean, whose one-pass (Welford) loop is not vectorised.
    xhat = x - x.mean(-1, keepdim=True)  # (M, K), centred
    # The variance is the squared Euclidean length of the centred row over K; vector_norm
    # reduces in one pass without materialising the squares.
    var = torch.linalg.vector_norm(xhat, dim=-1).square_().div_(x.shape[-1])  # (M,)
    invstd = var.add_(eps).rsqrt_().unsqueeze_(-1)  # (M, 1)
    return xhat.mul_(invstd), invstd


def _check_normalized_shape(x: Tensor, normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    """normalized_shape as a tuple, after checking that it matches the last dims of x."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or x.dim() < len(shape) or tuple(x.shape[x.dim() - len(shape) :]) != shape:
        raise ValueError(
            f"normalized_shape={list(shape)} must match the last dims of the input, "
            f"expected input of shape [*, {', '.join(map(str, shape))}], "
            f"got {list(x.shape)}"
        )
    return shape


def _param_dtypes(weight: Tensor | None, bias: Tensor | None) -> tuple:
    return (None if weight is None else weight.dtype, None if bias is None else bias.dtype)


def _to(grad: Tensor | None, dtype: torch.dtype | None) -> Tensor | None:
    """The gradient in the dtype of the tensor it belongs to."""
    return grad if grad is None or dtype is None or grad.dtype == dtype else grad.to(dtype)


# ---------------------------------------------------------------------------------------------
# Batch norm: statistics per channel, over the batch and every spatial position.
# ---------------------------------------------------------------------------------------------


class BatchNormFunction(torch.autograd.Function):
    r"""Batch normalization with a hand-written backward.

    Input :math:`x` of shape :math:`(N, C, *)`; channel :math:`c` is normalised over its
    :math:`n = N \cdot \prod *` values in the batch.

    Forward, with batch statistics (training, or no running statistics):

    .. math::
        \mu_c = \tfrac1n \textstyle\sum x, \quad
        \sigma^2_c = \tfrac1n \textstyle\sum (x - \mu_c)^2, \quad
        r_c = (\sigma^2_c + \epsilon)^{-1/2}, \quad
        \hat x = (x - \mu_c)\, r_c, \quad y = \gamma_c \hat x + \beta_c

    Backward (sums over the :math:`n` values of channel :math:`c`):

    .. math::
        d\beta_c = \textstyle\sum dy, \qquad d\gamma_c = \textstyle\sum dy\, \hat x

        dx = \tfrac{r_c}{n}\big(n\, d\hat x - \textstyle\sum d\hat x
             - \hat x \sum d\hat x\, \hat x\big)
           = \gamma_c r_c \big(dy - \tfrac{d\beta_c}{n} - \hat x\, \tfrac{d\gamma_c}{n}\big)

    The second form holds because :math:`\gamma_c` is constant within the sums, so the two
    sums the input gradient needs are exactly the two parameter gradients.

    With given statistics (eval mode) :math:`\mu_c, \sigma^2_c` are constants, the layer is a
    per-channel affine map and :math:`dx = \gamma_c r_c\, dy`.

    ``forward(x, weight, bias, mean, var, eps)``: pass ``mean = var = None`` to use batch
    statistics. Returns ``(y, mean, var)``: the (biased) statistics used, of shape :math:`(C,)`,
    without gradient.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, mean, var, eps):
        x32 = _upcast(x)
        dims = (0,) + tuple(range(2, x.dim()))  # every dim but the channel
        ctx.use_batch_stats = mean is None
        squares = None
        if ctx.use_batch_stats:
            n = x.numel() // x.shape[1]  # values per channel
            mean = _feature_sum(x32, dims, 1 / n)  # (C,)
            xhat = x32 - _channel_view(mean, x)  # (N, C, *), centred
            squares = xhat.square()  # (N, C, *)
            var = _feature_sum(squares, dims, 1 / n)  # (C,), biased
        else:
            mean, var = _upcast(mean), _upcast(var)
            xhat = x32 - _channel_view(mean, x)
        invstd = torch.rsqrt(var + eps)  # (C,)
        xhat.mul_(_channel_view(invstd, x))
        y = _channel_affine(xhat, weight, bias, out=squares)  # squares are spent: reuse them
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.dims = dims
        ctx.dtypes = (x.dtype, *_param_dtypes(weight, bias))
        ctx.mark_non_differentiable(mean, var)
        return y.to(x.dtype), mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, _grad_mean, _grad_var):
        xhat, invstd, weight = ctx.saved_tensors
        n = xhat.numel() // xhat.shape[1]  # values per channel
        dy = _upcast(grad_y)  # (N, C, *)
        dy_xhat = dy * xhat  # (N, C, *)
        grad_bias = _feature_sum(dy, ctx.dims)  # (C,)
        grad_weight = _feature_sum(dy_xhat, ctx.dims)  # (C,)
        scale = invstd if weight is None else _upcast(weight) * invstd  # (C,) gamma * r
        grad_x = None
        if ctx.needs_input_grad[0]:
            if ctx.use_batch_stats:
                # dx = gamma r (dy - dbeta/n - xhat dgamma/n): a per-channel affine map of xhat,
                # plus gamma r dy. It goes into the memory of dy_xhat, which is spent.
                coef = _channel_view((scale * grad_weight).mul_(-1 / n), xhat)
                shift = _channel_view((scale * grad_bias).mul_(-1 / n), xhat)
                grad_x = _scale_shift(xhat, coef, shift, out=dy_xhat)
                grad_x.addcmul_(dy, _channel_view(scale, xhat))
            else:
                grad_x = torch.mul(dy, _channel_view(scale, xhat), out=dy_xhat)
        x_dtype, w_dtype, b_dtype = ctx.dtypes
        return (
            _to(grad_x, x_dtype),
            _to(grad_weight, w_dtype) if ctx.needs_input_grad[1] else None,
            _to(grad_bias, b_dtype) if ctx.needs_input_grad[2] else None,
            None,
            None,
            None,
        )


# ---------------------------------------------------------------------------------------------
# Layer norm: statistics per example, over its last len(normalized_shape) dims.
# ---------------------------------------------------------------------------------------------


class LayerNormFunction(torch.autograd.Function):
    r"""Layer normalization with a hand-written backward.

    The input is viewed as :math:`(M, D)`: :math:`M` examples (all leading dims) of
    :math:`D = \prod` ``normalized_shape`` features. Each row is normalised on its own:

    .. math::
        \mu = \tfrac1D \textstyle\sum_j x_j, \quad
        \sigma^2 = \tfrac1D \textstyle\sum_j (x_j - \mu)^2, \quad
        r = (\sigma^2 + \epsilon)^{-1/2}, \quad
        \hat x_j = (x_j - \mu)\, r, \quad y_j = \gamma_j \hat x_j + \beta_j

    Backward (sums over the :math:`D` features of a row, except for the parameters, whose
    gradients sum over the :math:`M` rows):

    .. math::
        d\beta_j = \textstyle\sum_{rows} dy_j, \qquad
        d\gamma_j = \textstyle\sum_{rows} dy_j\, \hat x_j, \qquad d\hat x_j = \gamma_j\, dy_j

        dx_j = \tfrac{r}{D}\big(D\, d\hat x_j - \textstyle\sum_k d\hat x_k
               - \hat x_j \sum_k d\hat x_k \hat x_k\big)

    The row sums are matrix-vector products: :math:`\sum_k d\hat x_k = dy \cdot \gamma` and
    :math:`\sum_k d\hat x_k \hat x_k = (dy\, \hat x) \cdot \gamma`, reusing the product that
    :math:`d\gamma` needs.

    ``forward(x, normalized_shape, weight, bias, eps)`` with ``normalized_shape`` a tuple.
    """

    @staticmethod
    def forward(ctx, x, normalized_shape, weight, bias, eps):
        features = math.prod(normalized_shape)
        xhat, invstd = _standardize_rows(_upcast(x).reshape(-1, features), eps)  # (M, D), (M, 1)
        # Computed in the input's shape: an output that is a view could not be changed in place.
        y = _affine(xhat.view(x.shape), _upcast(weight), _upcast(bias))
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.dtypes = (x.dtype, *_param_dtypes(weight, bias))
        ctx.param_shape = normalized_shape
        return y.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        xhat, invstd, weight = ctx.saved_tensors
        rows, features = xhat.shape
        dy = _upcast(grad_y).reshape(rows, features)  # (M, D)
        dy_xhat = dy * xhat  # (M, D)
        x_dtype, w_dtype, b_dtype = ctx.dtypes
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[2]:
            grad_weight = _to(_feature_sum(dy_xhat, (0,)).view(ctx.param_shape), w_dtype)
        if ctx.needs_input_grad[3]:
            grad_bias = _to(_feature_sum(dy, (0,)).view(ctx.param_shape), b_dtype)
        if ctx.needs_input_grad[0]:
            # dx = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), means over a row. It goes
            # into the memory of dy_xhat, which is spent once the row sums are taken.
            if weight is None:
                neg_mean_dxhat = dy.mean(-1, keepdim=True).neg_()  # (M, 1)
                neg_mean_dxhat_xhat = dy_xhat.mean(-1, keepdim=True).neg_()  # (M, 1)
                grad_x = torch.add(dy, neg_mean_dxhat, out=dy_xhat)
            else:
                w32 = _upcast(weight).reshape(features)  # (D,)
                neg_w = w32 * (-1 / features)  # (D,)
                neg_mean_dxhat = (dy @ neg_w).unsqueeze_(-1)  # (M, 1), -mean_j gamma_j dy_j
                neg_mean_dxhat_xhat = (dy_xhat @ neg_w).unsqueeze_(-1)  # (M, 1)
                grad_x = torch.addcmul(neg_mean_dxhat, dy, w32, out=dy_xhat)
            grad_x.addcmul_(xhat, neg_mean_dxhat_xhat).mul_(invstd)
            grad_x = _to(grad_x.view(grad_y.shape), x_dtype)
        return grad_x, None, grad_weight, grad_bias, None


# ---------------------------------------------------------------------------------------------
# RMS norm: like layer norm, without the mean.
# ---------------------------------------------------------------------------------------------


class RMSNormFunction(torch.autograd.Function):
    r"""Root-mean-square normalization with a hand-written backward.

    The input is viewed as :math:`(M, D)` like in layer norm. Nothing is subtracted; each row
    is divided by its root mean square:

    .. math::
        r = \Big(\tfrac1D \textstyle\sum_j x_j^2 + \epsilon\Big)^{-1/2}, \quad
        \hat x_j = x_j\, r, \quad y_j = \gamma_j \hat x_j

    Backward. With no mean there is no :math:`\sum d\hat x` term; the path through
    :math:`r` is the same as layer norm's path through :math:`\sigma`:

    .. math::
        d\gamma_j = \textstyle\sum_{rows} dy_j\, \hat x_j, \qquad d\hat x_j = \gamma_j\, dy_j

        dx_j = r\,\big(d\hat x_j - \hat x_j\, \tfrac1D \textstyle\sum_k d\hat x_k \hat x_k\big)

    ``forward(x, normalized_shape, weight, eps)`` with ``normalized_shape`` a tuple and
    ``eps`` a float.
    """

    @staticmethod
    def forward(ctx, x, normalized_shape, weight, eps):
        features = math.prod(normalized_shape)
        x2 = _upcast(x).reshape(-1, features)  # (M, D)
        mean_square = torch.linalg.vector_norm(x2, dim=-1).square_().div_(features)  # (M,)
        invrms = mean_square.add_(eps).rsqrt_().unsqueeze_(-1)  # (M, 1)
        xhat = x2 * invrms  # (M, D)
        y = _affine(xhat.view(x.shape), _upcast(weight), None)  # not a view: see layer norm
        ctx.save_for_backward(xhat, invrms, weight)
        ctx.dtypes = (x.dtype, None if weight is None else weight.dtype)
        ctx.param_shape = normalized_shape
        return y.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        xhat, invrms, weight = ctx.saved_tensors
        rows, features = xhat.shape
        dy = _upcast(grad_y).reshape(rows, features)  # (M, D)
        grad_x = grad_weight = None
        if weight is None:
            if ctx.needs_input_grad[0]:
                neg_mean_dxhat_xhat = torch.linalg.vecdot(dy, xhat).mul_(-1 / features)  # (M,)
                grad_x = torch.addcmul(dy, xhat, neg_mean_dxhat_xhat.unsqueeze_(-1))
        else:
            w32 = _upcast(weight).reshape(features)  # (D,)
            dy_xhat = dy * xhat  # (M, D)
            if ctx.needs_input_grad[2]:
                grad_weight = _feature_sum(dy_xhat, (0,)).view(ctx.param_shape)
                grad_weight = _to(grad_weight, ctx.dtypes[1])
            if ctx.needs_input_grad[0]:
                neg_mean_dxhat_xhat = (dy_xhat @ w32).mul_(-1 / features)  # (M,)
                grad_x = torch.mul(dy, w32, out=dy_xhat)  # dy_xhat is spent: reuse its memory
                grad_x.addcmul_(xhat, neg_mean_dxhat_xhat.unsqueeze_(-1))
        if grad_x is not None:
            grad_x = _to(grad_x.mul_(invrms).view(grad_y.shape), ctx.dtypes[0])
        return grad_x, None, grad_weight, None


# ---------------------------------------------------------------------------------------------
# Group norm: statistics per example and per group of channels.
# ---------------------------------------------------------------------------------------------


class GroupNormFunction(torch.autograd.Function):
    r"""Group normalization with a hand-written backward.

    Input :math:`(N, C, *)`; the :math:`C` channels are split into :math:`G` groups of
    :math:`C/G`, and each (example, group) set of :math:`K = (C/G) \cdot \prod *` values is
    normalised on its own, exactly like a layer-norm row. The affine map is per channel:
    :math:`y = \gamma_c \hat x + \beta_c`.

    Backward (sums over the :math:`K` values of one example's group, except for the
    parameters, whose gradients sum over examples and positions of channel :math:`c`):

    .. math::
        d\beta_c = \textstyle\sum dy, \qquad d\gamma_c = \textstyle\sum dy\, \hat x, \qquad
        d\hat x = \gamma_c\, dy

        dx = \tfrac{r}{K}\big(K\, d\hat x - \textstyle\sum d\hat x
             - \hat x \sum d\hat x\, \hat x\big)

    Both group sums are built from per-(example, channel) sums of :math:`dy` and
    :math:`dy\,\hat x`, weighted by :math:`\gamma_c`, so each big tensor is read once.

    ``forward(x, num_groups, weight, bias, eps)``.
    """

    @staticmethod
    def forward(ctx, x, num_groups, weight, bias, eps):
        x_rows = _upcast(x).reshape(x.shape[0] * num_groups, -1)  # (N*G, K), a row per group
        xhat, invstd = _standardize_rows(x_rows, eps)  # (N*G, K), (N*G, 1)
        xhat = xhat.view(x.shape)  # (N, C, *)
        y = _channel_affine(xhat, weight, bias)
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.dtypes = (x.dtype, *_param_dtypes(weight, bias))
        return y.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        xhat, invstd, weight = ctx.saved_tensors
        batch, channels = xhat.shape[:2]
        xhat = xhat.view(batch, channels, -1)  # (N, C, S), S = prod(*) or 1
        positions = xhat.shape[2]
        rows = invstd.shape[0]  # N * G
        dy = _upcast(grad_y).reshape(batch, channels, positions)  # (N, C, S)
        # Per (example, channel) sums of dy and dy * xhat; everything else is built from them.
        if positions == 1:
            dy_nc, dy_xhat_nc = dy.view(batch, channels), (dy * xhat).view(batch, channels)
        else:
            dy_nc, dy_xhat_nc = dy.sum(-1), torch.linalg.vecdot(dy, xhat)  # (N, C)
        grad_bias, grad_weight = dy_nc.sum(0), dy_xhat_nc.sum(0)  # (C,)
        grad_x = None
        if ctx.needs_input_grad[0]:
            if weight is None:
                dxhat = dy
            else:
                w32 = _upcast(weight)  # (C,)
                dxhat = dy * w32.view(1, channels, 1)  # (N, C, S)
                dy_nc, dy_xhat_nc = dy_nc * w32, dy_xhat_nc * w32
            per_group = xhat.numel() // rows  # K
            neg_mean_dxhat = dy_nc.view(rows, -1).sum(-1, keepdim=True).mul_(-1 / per_group)
            neg_mean_dxhat_xhat = dy_xhat_nc.view(rows, -1).sum(-1, keepdim=True)
            neg_mean_dxhat_xhat.mul_(-1 / per_group)  # (N*G, 1)
            # dx = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), means over a group
            grad_x = dxhat.reshape(rows, per_group) + neg_mean_dxhat
            grad_x.addcmul_(xhat.view(rows, per_group), neg_mean_dxhat_xhat).mul_(invstd)
            grad_x = grad_x.view(grad_y.shape)
        x_dtype, w_dtype, b_dtype = ctx.dtypes
        return (
            _to(grad_x, x_dtype),
            None,
            _to(grad_weight, w_dtype) if ctx.needs_input_grad[2] else None,
            _to(grad_bias, b_dtype) if ctx.needs_input_grad[3] else None,
            None,
        )


# ---------------------------------------------------------------------------------------------
# The plain functions the modules call.
# ---------------------------------------------------------------------------------------------


def _one_value_per_channel_error(x: Tensor) -> ValueError:
    return ValueError(
        "BatchNorm needs more than 1 value per channel when training "
        f"(got input of shape {tuple(x.shape)}): a variance needs at least two values. "
        "Use a batch size of at least 2, call model.eval(), or use layer or RMS norm, "
        "which normalise each example on its own."
    )


def batch_norm(
    x: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch norm over dim 1 of x (N, C, *); updates the running statistics when training.

    Batch statistics are used when ``training`` or when there are no running statistics.
    The running update is ``running = (1 - momentum) * running + momentum * batch_stat`` with
    the unbiased variance ``n / (n - 1) * var`` (the normalisation itself uses the biased one).
    A cumulative average (``momentum=None`` in the module) is ``momentum = 1 / batches seen``.
    """
    if x.dim() < 2:
        raise ValueError(f"batch_norm expects input of shape (N, C, *), got {tuple(x.shape)}")
    use_batch_stats = training or running_mean is None or running_var is None
    if not use_batch_stats:
        y, _, _ = BatchNormFunction.apply(x, weight, bias, running_mean, running_var, eps)
        return y
    n = x.numel() // x.shape[1]  # values per channel
    if n <= 1:
        raise _one_value_per_channel_error(x)
    y, mean, var = BatchNormFunction.apply(x, weight, bias, None, None, eps)
    if training and running_mean is not None and running_var is not None:
        with torch.no_grad():
            unbiased_var = var * (n / (n - 1))
            running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
            running_var.mul_(1 - momentum).add_(unbiased_var.to(running_var.dtype), alpha=momentum)
    return y


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer norm of x over its last len(normalized_shape) dims."""
    shape = _check_normalized_shape(x, normalized_shape)
    return LayerNormFunction.apply(x, shape, weight, bias, eps)


def rms_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:
    """RMS norm of x over its last len(normalized_shape) dims; eps=None is finfo(dtype).eps."""
    shape = _check_normalized_shape(x, normalized_shape)
    if eps is None:
        eps = torch.finfo(x.dtype).eps
    return RMSNormFunction.apply(x, shape, weight, eps)


def group_norm(
    x: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Group norm of x (N, C, *) with C split into num_groups groups."""
    if x.dim() < 2:
        raise ValueError(f"group_norm expects input of shape (N, C, *), got {tuple(x.shape)}")
    channels = x.shape[1]
    if channels % num_groups != 0:
        raise ValueError(
            f"group_norm needs the channels ({channels}) to be divisible by "
            f"num_groups ({num_groups})"
        )
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.numel() != channels:
            raise ValueError(
                f"group_norm {name} has {param.numel()} values but the input has "
                f"{channels} channels"
            )
    return GroupNormFunction.apply(x, num_groups, weight, bias, eps)


def dyt(
    x: Tensor, alpha: Tensor, weight: Tensor | None = None, bias: Tensor | None = None
) -> Tensor:
    """Dynamic Tanh (Zhu et al. 2025): weight * tanh(alpha * x) + bias, alpha a scalar.

    Not a normalization: no statistics, just a learnable squashing that replaces one.
    Autograd differentiates it. weight and bias broadcast against x as given.
    """
    return _affine(torch.tanh(alpha * x), weight, bias)
