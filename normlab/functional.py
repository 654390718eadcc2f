r"""Normalization math written out by hand: the forward pass and the backward pass.

Each norm is a :class:`torch.autograd.Function` whose ``backward`` is the gradient derived
on paper, not one autograd works out. The modules in :mod:`normlab.norms` own parameters,
buffers and train/eval mode, and call the plain functions at the bottom of this file. When
autograd has nothing to record (``torch.no_grad()``, or no input requires grad) those
functions run the forward alone, without the Function.

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
         = r\Big(d\hat x_i - \operatorname{mean}(d\hat x)
           - \hat x_i \operatorname{mean}(d\hat x\, \hat x)\Big)

The middle term is the path through :math:`\mu`, the last one the path through :math:`\sigma`.
RMS norm has no :math:`\mu`, so it keeps only the first and last terms.

In the code the names follow the math: ``x``, ``xhat``, ``r``, ``dy``, ``dxhat``, ``dgamma``,
``dbeta``, ``dx``; :math:`\gamma, \beta` are the ``weight`` and ``bias`` arguments. Shapes are
at the end of the line. Where a large temporary is spent, the next result is written into its
memory (``out=``): on CPU a fresh large tensor costs page faults, which at 2048x1024 took longer
than the arithmetic on the lab's shared 2-core machine. Half-precision inputs (float16,
bfloat16) are computed in float32 and cast back, as torch does.
"""

from __future__ import annotations

import functools
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


# ---------------------------------------------------------------------------------------------
# Small helpers: dtype bookkeeping, and the few CPU shortcuts, each with its reason.
# ---------------------------------------------------------------------------------------------


def _upcast(t: Tensor | None) -> Tensor | None:
    """The tensor in float32 if it is half precision, else unchanged."""
    if t is not None and t.dtype in _LOW_PRECISION:
        return t.float()
    return t


def _to(t: Tensor | None, dtype: torch.dtype | None) -> Tensor | None:
    """t in `dtype` (a gradient in the dtype of the tensor it belongs to); no call when equal."""
    return t if t is None or dtype is None or t.dtype == dtype else t.to(dtype)


def _dtype(t: Tensor | None) -> torch.dtype | None:
    return None if t is None else t.dtype


def _needs_grad(*tensors: Tensor | None) -> bool:
    """Whether autograd has anything to record: grad mode is on and an input requires grad."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _once_differentiable(backward):
    """torch's once_differentiable without its extra no_grad when grad mode is already off.

    Grad mode is off in every backward but ``backward(create_graph=True)``; there torch's
    wrapper still runs, so a second derivative is refused as before.
    """
    guarded = once_differentiable(backward)

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        return guarded(ctx, *grads) if torch.is_grad_enabled() else backward(ctx, *grads)

    return wrapper


def _column_sums(*tensors: Tensor, scale: float = 1.0) -> tuple[Tensor, ...]:
    """scale * the sum over the rows of each t (N, C), as (1, C).

    A (1, N) row of `scale` times t: BLAS sums columns about 3x faster than t.sum(0) on CPU
    (90 vs 260 us at 2048x1024, 1.6 vs 1.7 us at 64x128).
    """
    row = tensors[0].new_full((1, tensors[0].shape[0]), scale)  # (1, N), shared
    return tuple(row @ t for t in tensors)


def _channel_sums(*tensors: Tensor, scale: float = 1.0) -> tuple[Tensor, ...]:
    """scale * the sum of each t (N, C, *) over every dim but the channel, as (1, C, 1, ...)."""
    if tensors[0].dim() == 2:
        return _column_sums(*tensors, scale=scale)
    dims = (0, *range(2, tensors[0].dim()))
    sums = tuple(t.sum(dims, keepdim=True) for t in tensors)
    return sums if scale == 1.0 else tuple(total.mul_(scale) for total in sums)


def _channel_view(t: Tensor | None, like: Tensor) -> Tensor | None:
    """A per-channel vector (C,) as (1, C, 1, ...), to broadcast against like (N, C, *).

    For like (N, C) it stays (C,), which broadcasts as it is: one op fewer.
    """
    if t is None or like.dim() == 2:
        return t
    return t.view((1, -1) + (1,) * (like.dim() - 2))


def _row_mean_column(features: int, like: Tensor, weight: Tensor | None = None) -> Tensor:
    """The (D, 1) column γ/D (1/D without γ): t (M, D) @ it is the row mean of γ·t.

    A matrix-vector product (one BLAS call) takes a row mean a little faster than t.mean(-1)
    on CPU at small sizes (2.9 vs 3.5 us at 64x128, column included; equal at 2048x1024), and
    folds γ in without multiplying the whole tensor by it.
    """
    if weight is None:
        return like.new_full((features, 1), 1 / features)
    return _upcast(weight).reshape(features, 1) / features


def _mean_square_of_rows(t: Tensor) -> Tensor:
    """The mean of t² over each row of t (M, D), as (M, 1).

    vector_norm reduces in one pass without materialising the squares: 120 us at 2048x1024
    against 250 for t.square().mean(-1), which writes a second tensor the size of t.
    """
    return torch.linalg.vector_norm(t, dim=-1, keepdim=True).square_().div_(t.shape[-1])


def _affine(xhat: Tensor, weight: Tensor | None, bias: Tensor | None, out=None) -> Tensor:
    """y = weight * xhat + bias, either may be missing (then y is xhat itself); into `out`."""
    if weight is not None and bias is not None:
        return torch.addcmul(bias, xhat, weight, out=out)
    if weight is not None:
        return torch.mul(xhat, weight, out=out)
    if bias is not None:
        return torch.add(xhat, bias, out=out)
    return xhat


def _not_xhat(y: Tensor, xhat: Tensor) -> Tensor:
    """y, copied if it is (a view of) xhat: xhat is saved for backward, and an in-place op after
    the layer (ReLU(inplace=True)) on an output sharing its memory would make that fail."""
    return y.clone() if y.data_ptr() == xhat.data_ptr() else y


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


# ---------------------------------------------------------------------------------------------
# Batch norm: statistics per channel, over the batch and every spatial position.
# ---------------------------------------------------------------------------------------------


def _batch_norm_forward(x, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps):
    """y, xhat and r of batch norm over x (N, C, *); updates the running statistics, if any,
    when it uses batch statistics. Per-channel tensors are (1, C) for x (N, C), (1, C, 1, ...)
    otherwise."""
    x32 = _upcast(x)  # (N, C, *)
    if use_batch_stats:
        n = x.numel() // x.shape[1]  # values per channel
        (mean,) = _channel_sums(x32, scale=1 / n)  # (1, C)
        xhat = x32 - mean  # (N, C), centred; times r below
        squares = xhat.square()  # (N, C)
        (var,) = _channel_sums(squares, scale=1 / n)  # (1, C), biased
        if running_mean is not None:
            # running = (1 - momentum) running + momentum batch_stat, storing the unbiased
            # variance n/(n-1) var: the factor is folded into the weight of the new batch.
            running_mean.mul_(1 - momentum).add_(mean.view(-1), alpha=momentum)
            running_var.mul_(1 - momentum).add_(var.view(-1), alpha=momentum * n / (n - 1))
    else:
        mean, var = _channel_view(running_mean, x), _channel_view(running_var, x)  # (1, C)
        xhat = x32 - mean  # (N, C)
        squares = None
    r = torch.rsqrt(var + eps)  # (1, C)
    xhat.mul_(r)  # (N, C)
    weight, bias = _channel_view(_upcast(weight), x), _channel_view(_upcast(bias), x)  # (1, C)
    y = _affine(xhat, weight, bias, out=squares)  # (N, C), into the spent squares
    return y, xhat, r


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

    and, when running statistics are given, ``running = (1 - momentum) running + momentum
    batch_stat`` with the unbiased variance :math:`\tfrac{n}{n-1}\sigma^2_c`.

    Backward (sums over the :math:`n` values of channel :math:`c`):

    .. math::
        d\beta_c = \textstyle\sum dy, \qquad d\gamma_c = \textstyle\sum dy\, \hat x

        dx = \tfrac{r_c}{n}\big(n\, d\hat x - \textstyle\sum d\hat x
             - \hat x \sum d\hat x\, \hat x\big)
           = \gamma_c r_c \Big(dy - \frac{d\beta_c + \hat x\, d\gamma_c}{n}\Big)

    The second form holds because :math:`d\hat x = \gamma_c\, dy` with :math:`\gamma_c`
    constant within the sums: :math:`\sum d\hat x = \gamma_c\, d\beta_c` and
    :math:`\sum d\hat x\, \hat x = \gamma_c\, d\gamma_c`. The two sums the input gradient needs
    are the two parameter gradients.

    With given statistics (eval mode) :math:`\mu_c, \sigma^2_c` are constants, the layer is a
    per-channel affine map and :math:`dx = \gamma_c r_c\, dy`.

    ``forward(x, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps)``;
    the running statistics are read (``use_batch_stats=False``) or updated in place (``True``).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps):
        y, xhat, r = _batch_norm_forward(
            x, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps
        )
        ctx.save_for_backward(xhat, r, weight)
        ctx.use_batch_stats = use_batch_stats
        ctx.dtypes = (x.dtype, _dtype(weight), _dtype(bias))
        return _to(_not_xhat(y, xhat), x.dtype)

    @staticmethod
    @_once_differentiable
    def backward(ctx, grad_y):
        xhat, r, weight = ctx.saved_tensors  # (N, C), (1, C), (C,)
        n = xhat.numel() // xhat.shape[1]  # values per channel
        dy = _upcast(grad_y)  # (N, C)
        gamma_r = r if weight is None else _channel_view(_upcast(weight), xhat) * r  # (1, C)
        needs_dx, needs_dgamma, needs_dbeta = ctx.needs_input_grad[:3]
        dgamma = dbeta = dx = None
        if ctx.use_batch_stats or needs_dgamma or needs_dbeta:
            dy_xhat = dy * xhat  # (N, C)
            dbeta, dgamma = _channel_sums(dy, dy_xhat)  # (1, C), (1, C)
        if needs_dx and ctx.use_batch_stats:
            # dx = γr (dy − (dβ + x̂ dγ)/n), in the memory of dy·x̂, which is spent
            correction = torch.addcmul(dbeta, xhat, dgamma, out=dy_xhat)  # (N, C)
            dx = torch.sub(dy, correction, alpha=1 / n, out=correction).mul_(gamma_r)  # (N, C)
        elif needs_dx:
            dx = dy * gamma_r  # (N, C): with given statistics the layer is affine
        x_dtype, w_dtype, b_dtype = ctx.dtypes
        return (
            _to(dx, x_dtype),
            _to(dgamma.view(-1), w_dtype) if needs_dgamma else None,  # (C,)
            _to(dbeta.view(-1), b_dtype) if needs_dbeta else None,  # (C,)
            None, None, None, None, None,
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Layer norm: statistics per example, over its last len(normalized_shape) dims.
# ---------------------------------------------------------------------------------------------


def _normalize_rows(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """xhat (M, K) and r (M, 1) of each row of x (M, K), with the biased variance."""
    mean = x @ _row_mean_column(x.shape[1], x)  # (M, 1)
    xhat = x - mean  # (M, K), centred; times r below
    var = _mean_square_of_rows(xhat)  # (M, 1), biased
    r = torch.rsqrt(var + eps)  # (M, 1)
    return xhat.mul_(r), r


def _layer_norm_forward(x, normalized_shape, weight, bias, eps):
    """y (the shape of x), xhat (M, D) and r (M, 1) of layer norm."""
    features = math.prod(normalized_shape)
    xhat, r = _normalize_rows(_upcast(x).reshape(-1, features), eps)  # (M, D), (M, 1)
    # y in the input's shape: an output that is a view could not be changed in place.
    y = _affine(xhat.view(x.shape), _upcast(weight), _upcast(bias))
    return y, xhat, r


class LayerNormFunction(torch.autograd.Function):
    r"""Layer normalization with a hand-written backward.

    The input is viewed as :math:`(M, D)`: :math:`M` examples (all leading dims) of
    :math:`D = \prod` ``normalized_shape`` features. Each row is normalised on its own:

    .. math::
        \mu = \tfrac1D \textstyle\sum_j x_j, \quad
        \sigma^2 = \tfrac1D \textstyle\sum_j (x_j - \mu)^2, \quad
        r = (\sigma^2 + \epsilon)^{-1/2}, \quad
        \hat x_j = (x_j - \mu)\, r, \quad y_j = \gamma_j \hat x_j + \beta_j

    Backward (means over the :math:`D` features of a row, except for the parameters, whose
    gradients sum over the :math:`M` rows):

    .. math::
        d\beta_j = \textstyle\sum_{rows} dy_j, \qquad
        d\gamma_j = \textstyle\sum_{rows} dy_j\, \hat x_j, \qquad d\hat x_j = \gamma_j\, dy_j

        dx_j = \tfrac{r}{D}\big(D\, d\hat x_j - \textstyle\sum_k d\hat x_k
               - \hat x_j \sum_k d\hat x_k \hat x_k\big)
             = r\big(d\hat x_j - (\operatorname{mean} d\hat x
               + \hat x_j \operatorname{mean} d\hat x\, \hat x)\big)

    The row means are matrix-vector products with the column :math:`\gamma / D`:
    :math:`\operatorname{mean} d\hat x = dy \cdot \gamma / D` and
    :math:`\operatorname{mean} d\hat x\, \hat x = (dy\, \hat x) \cdot \gamma / D`, reusing the
    product that :math:`d\gamma` needs.

    ``forward(x, normalized_shape, weight, bias, eps)`` with ``normalized_shape`` a tuple.
    """

    @staticmethod
    def forward(ctx, x, normalized_shape, weight, bias, eps):
        y, xhat, r = _layer_norm_forward(x, normalized_shape, weight, bias, eps)
        ctx.save_for_backward(xhat, r, weight)
        ctx.dtypes = (x.dtype, _dtype(weight), _dtype(bias))
        ctx.param_shape = normalized_shape
        return _to(_not_xhat(y, xhat), x.dtype)

    @staticmethod
    @_once_differentiable
    def backward(ctx, grad_y):
        xhat, r, weight = ctx.saved_tensors  # (M, D), (M, 1), normalized_shape
        rows, features = xhat.shape
        dy = _upcast(grad_y).reshape(rows, features)  # (M, D)
        dy_xhat = dy * xhat  # (M, D)
        needs_dx, _, needs_dgamma, needs_dbeta, _ = ctx.needs_input_grad
        x_dtype, w_dtype, b_dtype = ctx.dtypes
        dx = dgamma = dbeta = None
        if needs_dgamma or needs_dbeta:
            dgamma, dbeta = _column_sums(dy_xhat, dy)  # (1, D), (1, D)
            dgamma = _to(dgamma.view(ctx.param_shape), w_dtype) if needs_dgamma else None
            dbeta = _to(dbeta.view(ctx.param_shape), b_dtype) if needs_dbeta else None
        if needs_dx:
            gamma_over_d = _row_mean_column(features, dy, weight)  # (D, 1)
            mean_dxhat = dy @ gamma_over_d  # (M, 1)
            mean_dxhat_xhat = dy_xhat @ gamma_over_d  # (M, 1)
            # dx = r (dx̂ − mean dx̂ − x̂ mean dx̂x̂), in the memory of dy·x̂, which is spent
            if weight is None:
                dx = torch.sub(dy, mean_dxhat, out=dy_xhat)  # (M, D), dx̂ − mean dx̂
            else:
                dx = torch.addcmul(-mean_dxhat, dy, _upcast(weight).view(features), out=dy_xhat)
            dx.addcmul_(xhat, mean_dxhat_xhat, value=-1).mul_(r)  # (M, D)
            dx = _to(dx.view(grad_y.shape), x_dtype)
        return dx, None, dgamma, dbeta, None


# ---------------------------------------------------------------------------------------------
# RMS norm: like layer norm, without the mean.
# ---------------------------------------------------------------------------------------------


def _rms_norm_forward(x, normalized_shape, weight, eps):
    """y (the shape of x), xhat (M, D) and r (M, 1) of RMS norm."""
    features = math.prod(normalized_shape)
    x2 = _upcast(x).reshape(-1, features)  # (M, D)
    mean_square = _mean_square_of_rows(x2)  # (M, 1)
    r = torch.rsqrt(mean_square + eps)  # (M, 1)
    xhat = x2 * r  # (M, D)
    y = _affine(xhat.view(x.shape), _upcast(weight), None)  # not a view: see layer norm
    return y, xhat, r


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

        dx_j = r\,\big(d\hat x_j - \hat x_j \operatorname{mean} d\hat x\, \hat x\big),
        \qquad \operatorname{mean} d\hat x\, \hat x = (dy\, \hat x) \cdot \gamma / D

    ``forward(x, normalized_shape, weight, eps)`` with ``normalized_shape`` a tuple and
    ``eps`` a float.
    """

    @staticmethod
    def forward(ctx, x, normalized_shape, weight, eps):
        y, xhat, r = _rms_norm_forward(x, normalized_shape, weight, eps)
        ctx.save_for_backward(xhat, r, weight)
        ctx.dtypes = (x.dtype, _dtype(weight))
        ctx.param_shape = normalized_shape
        return _to(_not_xhat(y, xhat), x.dtype)

    @staticmethod
    @_once_differentiable
    def backward(ctx, grad_y):
        xhat, r, weight = ctx.saved_tensors  # (M, D), (M, 1), normalized_shape
        rows, features = xhat.shape
        dy = _upcast(grad_y).reshape(rows, features)  # (M, D)
        dy_xhat = dy * xhat  # (M, D)
        needs_dx, _, needs_dgamma, _ = ctx.needs_input_grad
        x_dtype, w_dtype = ctx.dtypes
        dx = dgamma = None
        if needs_dgamma:
            (dgamma,) = _column_sums(dy_xhat)  # (1, D)
            dgamma = _to(dgamma.view(ctx.param_shape), w_dtype)
        if needs_dx:
            mean_dxhat_xhat = dy_xhat @ _row_mean_column(features, dy, weight)  # (M, 1)
            # dx = r (dx̂ − x̂ mean dx̂x̂), in the memory of dy·x̂, which is spent
            if weight is None:
                dx = torch.addcmul(dy, xhat, mean_dxhat_xhat, value=-1, out=dy_xhat)  # (M, D)
            else:
                dx = torch.mul(dy, _upcast(weight).view(features), out=dy_xhat)  # (M, D), dx̂
                dx.addcmul_(xhat, mean_dxhat_xhat, value=-1)
            dx = _to(dx.mul_(r).view(grad_y.shape), x_dtype)
        return dx, None, dgamma, None


# ---------------------------------------------------------------------------------------------
# Group norm: statistics per example and per group of channels.
# ---------------------------------------------------------------------------------------------


def _group_norm_forward(x, num_groups, weight, bias, eps):
    """y, xhat (N, C, *) and r (N*G, 1) of group norm: a layer-norm row per (example, group)."""
    x_rows = _upcast(x).reshape(x.shape[0] * num_groups, -1)  # (N*G, K)
    xhat, r = _normalize_rows(x_rows, eps)  # (N*G, K), (N*G, 1)
    xhat = xhat.view(x.shape)  # (N, C, *)
    y = _affine(xhat, _channel_view(_upcast(weight), x), _channel_view(_upcast(bias), x))
    return y, xhat, r


class GroupNormFunction(torch.autograd.Function):
    r"""Group normalization with a hand-written backward.

    Input :math:`(N, C, *)`; the :math:`C` channels are split into :math:`G` groups of
    :math:`C/G`, and each (example, group) set of :math:`K = (C/G) \cdot \prod *` values is
    normalised on its own, exactly like a layer-norm row. The affine map is per channel:
    :math:`y = \gamma_c \hat x + \beta_c`.

    Backward (means over the :math:`K` values of one example's group, except for the
    parameters, whose gradients sum over examples and positions of channel :math:`c`):

    .. math::
        d\beta_c = \textstyle\sum dy, \qquad d\gamma_c = \textstyle\sum dy\, \hat x, \qquad
        d\hat x = \gamma_c\, dy

        dx = \tfrac{r}{K}\big(K\, d\hat x - \textstyle\sum d\hat x
             - \hat x \sum d\hat x\, \hat x\big)
           = r\big(d\hat x - (\operatorname{mean} d\hat x
             + \hat x \operatorname{mean} d\hat x\, \hat x)\big)

    Both group sums are built from per-(example, channel) sums of :math:`dy` and
    :math:`dy\,\hat x`, weighted by :math:`\gamma_c`, so each big tensor is read once.

    ``forward(x, num_groups, weight, bias, eps)``.
    """

    @staticmethod
    def forward(ctx, x, num_groups, weight, bias, eps):
        y, xhat, r = _group_norm_forward(x, num_groups, weight, bias, eps)
        ctx.save_for_backward(xhat, r, weight)
        ctx.dtypes = (x.dtype, _dtype(weight), _dtype(bias))
        return _to(_not_xhat(y, xhat), x.dtype)

    @staticmethod
    @_once_differentiable
    def backward(ctx, grad_y):
        xhat, r, weight = ctx.saved_tensors  # (N, C, *), (N*G, 1), (C,)
        batch, channels = xhat.shape[:2]
        xhat = xhat.view(batch, channels, -1)  # (N, C, S), S = prod(*) or 1
        rows = r.shape[0]  # N * G
        per_group = xhat.numel() // rows  # K
        dy = _upcast(grad_y).reshape(xhat.shape)  # (N, C, S)
        dy_xhat = dy * xhat  # (N, C, S)
        # Sums per (example, channel); the group sums and the parameter gradients add them up.
        dy_nc, dy_xhat_nc = dy.sum(-1), dy_xhat.sum(-1)  # (N, C)
        dbeta, dgamma = dy_nc.sum(0), dy_xhat_nc.sum(0)  # (C,)
        dx = None
        if ctx.needs_input_grad[0]:
            dxhat = dy  # (N, C, S)
            if weight is not None:
                w32 = _upcast(weight)  # (C,)
                dxhat = dy * w32.view(1, channels, 1)  # (N, C, S)
                dy_nc, dy_xhat_nc = dy_nc * w32, dy_xhat_nc * w32  # (N, C): dxhat, dxhat xhat
            mean_dxhat = dy_nc.view(rows, -1).sum(-1, keepdim=True) / per_group  # (N*G, 1)
            mean_dxhat_xhat = dy_xhat_nc.view(rows, -1).sum(-1, keepdim=True) / per_group
            xhat_rows = xhat.view(rows, per_group)  # (N*G, K)
            correction = torch.addcmul(mean_dxhat, xhat_rows, mean_dxhat_xhat)  # (N*G, K)
            dx = (dxhat.reshape(rows, per_group) - correction).mul_(r).view(grad_y.shape)
        x_dtype, w_dtype, b_dtype = ctx.dtypes
        return (
            _to(dx, x_dtype),
            None,
            _to(dgamma, w_dtype) if ctx.needs_input_grad[2] else None,
            _to(dbeta, b_dtype) if ctx.needs_input_grad[3] else None,
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
    if use_batch_stats:
        if x.numel() // x.shape[1] <= 1:
            raise _one_value_per_channel_error(x)
        if not training:
            running_mean = running_var = None  # batch statistics in eval: nothing to update
    args = (x, weight, bias, running_mean, running_var, use_batch_stats, momentum, eps)
    if _needs_grad(x, weight, bias):
        return BatchNormFunction.apply(*args)
    y, _, _ = _batch_norm_forward(*args)
    return _to(y, x.dtype)


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer norm of x over its last len(normalized_shape) dims."""
    shape = _check_normalized_shape(x, normalized_shape)
    if _needs_grad(x, weight, bias):
        return LayerNormFunction.apply(x, shape, weight, bias, eps)
    y, _, _ = _layer_norm_forward(x, shape, weight, bias, eps)
    return _to(y, x.dtype)


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
    if _needs_grad(x, weight):
        return RMSNormFunction.apply(x, shape, weight, eps)
    y, _, _ = _rms_norm_forward(x, shape, weight, eps)
    return _to(y, x.dtype)


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
    if _needs_grad(x, weight, bias):
        return GroupNormFunction.apply(x, num_groups, weight, bias, eps)
    y, _, _ = _group_norm_forward(x, num_groups, weight, bias, eps)
    return _to(y, x.dtype)


def dyt(
    x: Tensor, alpha: Tensor, weight: Tensor | None = None, bias: Tensor | None = None
) -> Tensor:
    """Dynamic Tanh (Zhu et al. 2025): weight * tanh(alpha * x) + bias, alpha a scalar.

    Not a normalization: no statistics, just a learnable squashing that replaces one.
    Autograd differentiates it. weight and bias broadcast against x as given.
    """
    y = torch.tanh(alpha * x)
    return _affine(y, weight, bias)
