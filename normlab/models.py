"""An MLP and a small CNN built from a TrainConfig, with the norm taken from the registry."""

from __future__ import annotations

import math

import torch
from torch import nn

from normlab import norms
from normlab.config import TrainConfig
from normlab.registry import build_norm

# The layer for each name in config.ACTIVATIONS (where the names are defined).
ACTIVATION_LAYERS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


class Block(nn.Module):
    """One hidden layer: linear (or conv), then norm and activation in the chosen order.

    The recorder hooks `norm` (its input is "pre-norm", its output "post-norm") and the block
    itself (its output is the layer's output), so every block is instrumented the same way.
    """

    def __init__(self, linear: nn.Module, norm: nn.Module, activation: nn.Module, before: bool):
        super().__init__()
        self.linear, self.norm, self.activation = linear, norm, activation
        self.norm_before_activation = before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        if self.norm_before_activation:
            return self.activation(self.norm(x))
        return self.norm(self.activation(x))


class MLP(nn.Module):
    def __init__(self, in_features: int, num_classes: int, cfg: TrainConfig):
        super().__init__()
        widths = [in_features] + [cfg.width] * cfg.depth
        self.blocks = nn.ModuleList(
            Block(
                nn.Linear(d_in, d_out),
                build_norm(cfg.norm, d_out),
                ACTIVATION_LAYERS[cfg.activation](),
                cfg.norm_position == "before",
            )
            for d_in, d_out in zip(widths[:-1], widths[1:])
        )
        self.head = nn.Linear(cfg.width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (N, D): digits images become 64 features
        for block in self.blocks:
            x = block(x)  # (N, width)
        return self.head(x)  # (N, classes)


class CNN(nn.Module):
    """3x3 convolutions that keep the image size, global average pooling, a linear head.

    BatchNorm2d takes statistics per channel over (N, H, W); LayerNorm and RMSNorm per example
    over (C, H, W): on images the two really differ.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, cfg: TrainConfig):
        super().__init__()
        channels, height, width = input_shape
        chans = [channels] + [cfg.width] * cfg.depth
        self.blocks = nn.ModuleList(
            Block(
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                build_norm(cfg.norm, (c_out, height, width)),
                ACTIVATION_LAYERS[cfg.activation](),
                cfg.norm_position == "before",
            )
            for c_in, c_out in zip(chans[:-1], chans[1:])
        )
        self.head = nn.Linear(cfg.width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)  # (N, C, H, W)
        return self.head(x.mean(dim=(2, 3)))  # (N, classes)


def build_model(cfg: TrainConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The model for `cfg`, with weights drawn from `cfg.seed` only (not from the global RNG).

    Linear and conv weights come from one generator seeded by cfg.seed and drawn in layer order,
    so runs that differ only in the norm start from identical weights.
    """
    if cfg.model == "cnn":
        model = CNN(input_shape, num_classes, cfg)
    else:
        model = MLP(math.prod(input_shape), num_classes, cfg)
    init_weights(model, cfg)
    for module in model.modules():
        if isinstance(module, (norms.BatchNorm1d, norms.BatchNorm2d)):
            module.momentum = cfg.bn_momentum
    return model


def _fan_in(weight: torch.Tensor) -> int:
    return math.prod(weight.shape[1:])


@torch.no_grad()
def init_weights(model: nn.Module, cfg: TrainConfig) -> None:
    generator = torch.Generator().manual_seed(cfg.seed)
    gain_of_activation = nn.init.calculate_gain(
        "relu" if cfg.activation in ("relu", "gelu") else cfg.activation
    )
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    for layer in layers:
        fan_in, fan_out = _fan_in(layer.weight), layer.weight.shape[0]
        if layer is model.head:
            std = 1.0 / math.sqrt(fan_in)  # not a hidden layer: the gain only breaks hidden ones
        elif cfg.init == "kaiming":
            std = cfg.init_gain * gain_of_activation / math.sqrt(fan_in)
        elif cfg.init == "xavier":
            std = cfg.init_gain * gain_of_activation * math.sqrt(2.0 / (fan_in + fan_out))
        else:  # "normal": the textbook mistake, std 1 whatever the fan-in
            std = cfg.init_gain
        noise = torch.randn(layer.weight.shape, generator=generator)
        layer.weight.copy_(noise * std)
        layer.bias.zero_()
