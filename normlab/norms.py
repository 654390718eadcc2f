r"""Normalization layers from scratch, drop-in replacements for their ``torch.nn`` namesakes.

The modules are thin: they own parameters, buffers and train/eval mode, and hand the math
to :mod:`normlab.functional`. Constructor arguments, defaults and parameter/buffer names
match ``torch.nn``, so ``load_state_dict`` works in both directions.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import init

from normlab import functional as NF

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "RMSNorm", "GroupNorm", "DyT"]


def _as_shape(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    """normalized_shape as a tuple; an int n means (n,)."""
    if isinstance(normalized_shape, numbers.Integral):
        return (int(normalized_shape),)
    return tuple(normalized_shape)


class _BatchNorm(nn.Module):
    """What BatchNorm1d and BatchNorm2d share; they differ only in the input dims accepted."""

    _version = 2  # torch's version for this state-dict layout (has num_batches_tracked)
    _expected_dims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.empty(num_features, **factory_kwargs))
            if bias:
                self.bias = nn.Parameter(torch.empty(num_features, **factory_kwargs))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory_kwargs))
            self.register_buffer("running_var", torch.ones(num_features, **factory_kwargs))
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() not in self._expected_dims:
            expected = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"expected {expected} input (got {x.dim()}D input)")

    def extra_repr(self) -> str:
        return (
            "{num_features}, eps={eps}, momentum={momentum}, affine={affine}, "
            "bias={use_bias}, track_running_stats={track_running_stats}".format(
                **self.__dict__, use_bias=self.bias is not None
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        update_running_stats = self.training and self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        if update_running_stats and self.momentum is None:
            # Cumulative average: the k-th batch gets weight 1/k, so all batches count equally.
            momentum = 1.0 / (float(self.num_batches_tracked) + 1.0)
        # Training uses batch statistics; so does eval when no running statistics are kept.
        use_batch_stats = self.training or self.running_mean is None
        y = NF.batch_norm(
            x,
            self.running_mean if update_running_stats or not self.training else None,
            self.running_var if update_running_stats or not self.training else None,
            self.weight,
            self.bias,
            use_batch_stats,
            momentum,
            self.eps,
        )
        if update_running_stats:
            self.num_batches_tracked.add_(1)  # after the call, so a failed batch is not counted
        return y


class BatchNorm1d(_BatchNorm):
    r"""Batch normalization over a 2D or 3D input, written from scratch.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} * \gamma + \beta

    The mean and (biased) variance are computed per channel over the mini-batch (and the
    length dim of a 3D input). :math:`\gamma` and :math:`\beta` are learnable vectors of size
    `C`, initialised to ones and zeros. In training the layer also keeps running estimates,
    ``running = (1 - momentum) * running + momentum * batch_stat``, storing the *unbiased*
    variance in ``running_var``; in eval mode it normalises with those estimates.

    Args:
        num_features: number of channels `C` of the input.
        eps: added to the variance for numerical stability. Default: 1e-5
        momentum: weight of the new batch in the running estimates; ``None`` for a
            cumulative (equal-weight) average over ``num_batches_tracked`` batches.
            Default: 0.1
        affine: learnable :math:`\gamma` and :math:`\beta`. Default: ``True``
        track_running_stats: keep running estimates and use them in eval mode; when
            ``False`` the buffers are ``None`` and batch statistics are used in both modes.
            Default: ``True``
        bias: learnable :math:`\beta` (keyword only). Default: ``True``

    Shape:
        - Input: :math:`(N, C)` or :math:`(N, C, L)`
        - Output: same shape as the input

    Examples::

        >>> bn = BatchNorm1d(100)
        >>> y = bn(torch.randn(20, 100))
    """

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    r"""Batch normalization over a 4D input (a batch of images), written from scratch.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} * \gamma + \beta

    The mean and (biased) variance are computed per channel over the batch and every pixel,
    :math:`N \cdot H \cdot W` values. Parameters, running estimates and modes are those of
    :class:`BatchNorm1d`.

    Args:
        num_features: number of channels `C` of the input.
        eps: added to the variance for numerical stability. Default: 1e-5
        momentum: weight of the new batch in the running estimates; ``None`` for a
            cumulative average. Default: 0.1
        affine: learnable :math:`\gamma` and :math:`\beta`. Default: ``True``
        track_running_stats: keep running estimates and use them in eval mode.
            Default: ``True``
        bias: learnable :math:`\beta` (keyword only). Default: ``True``

    Shape:
        - Input: :math:`(N, C, H, W)`
        - Output: same shape as the input

    Examples::

        >>> bn = BatchNorm2d(16)
        >>> y = bn(torch.randn(8, 16, 28, 28))
    """

    _expected_dims = (4,)


class LayerNorm(nn.Module):
    r"""Layer normalization, written from scratch.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} * \gamma + \beta

    The mean and (biased) variance are computed per example over its last
    ``len(normalized_shape)`` dims, so an example's output does not depend on its batch
    mates, and the layer behaves the same in training and eval mode. :math:`\gamma` and
    :math:`\beta` have shape ``normalized_shape``, initialised to ones and zeros.

    Args:
        normalized_shape: the trailing shape to normalise over; an int means the last dim.
        eps: added to the variance for numerical stability. Default: 1e-5
        elementwise_affine: learnable :math:`\gamma` (and :math:`\beta`). Default: ``True``
        bias: learnable :math:`\beta` when ``elementwise_affine``. Default: ``True``

    Shape:
        - Input: :math:`(*, \text{normalized\_shape})`
        - Output: same shape as the input

    Examples::

        >>> ln = LayerNorm(64)
        >>> y = ln(torch.randn(8, 10, 64))
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.empty(self.normalized_shape, **factory_kwargs))
            if bias:
                self.bias = nn.Parameter(torch.empty(self.normalized_shape, **factory_kwargs))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return NF.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            "{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}, "
            "bias={use_bias}".format(**self.__dict__, use_bias=self.bias is not None)
        )


class RMSNorm(nn.Module):
    r"""Root mean square normalization (Zhang & Sennrich 2019), written from scratch.

    .. math::
        y = \frac{x}{\sqrt{\mathrm{E}[x^2] + \epsilon}} * \gamma

    The mean of squares is taken per example over its last ``len(normalized_shape)`` dims.
    Nothing is subtracted, so the output is invariant to rescaling the input but not to
    shifting it. :math:`\gamma` has shape ``normalized_shape``, initialised to ones; there is
    no bias.

    Args:
        normalized_shape: the trailing shape to normalise over; an int means the last dim.
        eps: added to the mean square; ``None`` means ``torch.finfo(x.dtype).eps``.
            Default: ``None``
        elementwise_affine: learnable :math:`\gamma`. Default: ``True``

    Shape:
        - Input: :math:`(*, \text{normalized\_shape})`
        - Output: same shape as the input

    Examples::

        >>> rms = RMSNorm([10, 64])
        >>> y = rms(torch.randn(8, 10, 64))
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.empty(self.normalized_shape, **factory_kwargs))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return NF.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return "{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}".format(
            **self.__dict__
        )


class GroupNorm(nn.Module):
    r"""Group normalization (Wu & He 2018), written from scratch.

    .. math::
        y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} * \gamma + \beta

    The channels are split into ``num_groups`` groups; the mean and (biased) variance are
    computed per example and per group, over the group's channels and every position. One
    group is layer norm over ``(C, *)``; ``num_channels`` groups is instance norm. Nothing
    depends on the batch. :math:`\gamma` and :math:`\beta` are per channel, of size ``C``.

    Args:
        num_groups: number of groups; must divide ``num_channels``.
        num_channels: number of channels `C` of the input.
        eps: added to the variance for numerical stability. Default: 1e-5
        affine: learnable per-channel :math:`\gamma` and :math:`\beta`. Default: ``True``
        bias: learnable :math:`\beta` (keyword only). Default: ``True``

    Shape:
        - Input: :math:`(N, C, *)`
        - Output: same shape as the input

    Examples::

        >>> gn = GroupNorm(4, 16)
        >>> y = gn(torch.randn(8, 16, 28, 28))
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.empty(num_channels, **factory_kwargs))
            if bias:
                self.bias = nn.Parameter(torch.empty(num_channels, **factory_kwargs))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return NF.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return "{num_groups}, {num_channels}, eps={eps}, affine={affine}, bias={use_bias}".format(
            **self.__dict__, use_bias=self.bias is not None
        )


class DyT(nn.Module):
    r"""Dynamic Tanh (Zhu et al. 2025, "Transformers without Normalization").

    .. math::
        y = \gamma * \tanh(\alpha x) + \beta

    Not a normalization: no statistics are computed, neither over the batch nor over the
    features. A learnable scalar :math:`\alpha` sets how early the tanh saturates, which
    squashes outliers the way a norm layer does. :math:`\gamma` and :math:`\beta` are per
    feature (ones and zeros at the start).

    Args:
        num_features: number of features `C`.
        alpha_init_value: initial value of :math:`\alpha`. Default: 0.5
        channels_last: ``True`` when the features are the last dim, as after a ``Linear``;
            ``False`` when they are dim 1, as in :math:`(N, C, H, W)` after a ``Conv2d``.
            Default: ``True``

    Shape:
        - Input: :math:`(*, C)` if ``channels_last`` else :math:`(N, C, *)`
        - Output: same shape as the input

    Examples::

        >>> dyt = DyT(64)
        >>> y = dyt(torch.randn(8, 10, 64))
    """

    def __init__(
        self, num_features: int, alpha_init_value: float = 0.5, channels_last: bool = True
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.alpha_init_value = alpha_init_value
        self.channels_last = channels_last
        self.alpha = nn.Parameter(torch.empty(()))
        self.weight = nn.Parameter(torch.empty(num_features))
        self.bias = nn.Parameter(torch.empty(num_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.alpha, self.alpha_init_value)
        init.ones_(self.weight)
        init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last:
            return NF.dyt(x, self.alpha, self.weight, self.bias)
        per_channel = (self.num_features,) + (1,) * (x.dim() - 2)  # (C, 1, ...) against (N, C, *)
        return NF.dyt(x, self.alpha, self.weight.view(per_channel), self.bias.view(per_channel))

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, alpha_init_value={self.alpha_init_value}, "
            f"channels_last={self.channels_last}"
        )
