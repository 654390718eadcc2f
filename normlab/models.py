"""An MLP, a small CNN and a tiny decoder-only transformer built from a TrainConfig, with the
norm taken from the registry."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from normlab import norms
from normlab.config import TrainConfig
from normlab.data import ANSWER_LENGTH
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


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which each position sees itself and the positions before."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape  # (B, T, C)
        q, k, v = self.qkv(x).split(width, dim=2)  # (B, T, C) each
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, heads, T, C / heads)
        return self.proj(y.transpose(1, 2).reshape(batch, length, width))  # (B, T, C)


class TransformerBlock(nn.Module):
    """Attention then a feed-forward layer, each inside a residual connection, with a norm
    before each sublayer (pre-LN: x + f(norm(x))) or after each residual sum (post-LN, the
    original transformer: norm(x + f(x))).

    The recorder measures it as it measures a Block: `norm` is the feed-forward sublayer's norm
    (its input and output), `activation` the feed-forward's, and `linear` its second matrix
    (W² of Xiong et al. 2020, whose gradient their Theorem 1 bounds).
    """

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        width = cfg.width
        self.attention_norm = build_norm(cfg.norm, width)
        self.attention = CausalSelfAttention(width, cfg.heads)
        self.norm = build_norm(cfg.norm, width)
        self.expand = nn.Linear(width, 4 * width)
        self.activation = ACTIVATION_LAYERS[cfg.activation]()
        self.linear = nn.Linear(4 * width, width)
        self.pre_norm = cfg.norm_position == "before"

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.activation(self.expand(x)))  # (B, T, 4C) inside

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.attention(self.attention_norm(x))
            return x + self.feed_forward(self.norm(x))  # (B, T, C)
        x = self.attention_norm(x + self.attention(x))
        return self.norm(x + self.feed_forward(x))  # (B, T, C)


class Transformer(nn.Module):
    """A tiny decoder-only transformer: token and position embeddings, `cfg.depth` blocks, a
    final norm when the blocks are pre-LN (as GPT-2; post-LN blocks end on a norm already),
    and a linear head.

    Returns the logits of the last `answer_length` positions as (B, vocab, A), classes in dim 1
    as F.cross_entropy takes a sequence, so the engine's step and evaluation (loss, argmax(1)
    accuracy per answer token) apply unchanged.
    """

    def __init__(self, length: int, vocab: int, answer_length: int, cfg: TrainConfig):
        super().__init__()
        self.answer_length = answer_length
        self.tokens = nn.Embedding(vocab, cfg.width)
        self.positions = nn.Embedding(length, cfg.width)
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.depth))
        self.final_norm = (build_norm(cfg.norm, cfg.width) if cfg.norm_position == "before"
                           else nn.Identity())
        self.head = nn.Linear(cfg.width, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1], device=x.device)
        h = self.tokens(x) + self.positions(positions)  # (B, T, C)
        for block in self.blocks:
            h = block(h)  # (B, T, C)
        logits = self.head(self.final_norm(h[:, -self.answer_length:]))  # (B, A, vocab)
        return logits.transpose(1, 2)  # (B, vocab, A)


def build_model(cfg: TrainConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The model for `cfg`, with weights drawn from `cfg.seed` only (not from the global RNG).

    Linear and conv weights come from one generator seeded by cfg.seed and drawn in layer order,
    so runs that differ only in the norm start from identical weights.
    """
    if cfg.model == "cnn":
        model = CNN(input_shape, num_classes, cfg)
    elif cfg.model == "transformer":
        model = Transformer(input_shape[0], num_classes, ANSWER_LENGTH[cfg.dataset], cfg)
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
    for embedding in [m for m in model.modules() if isinstance(m, nn.Embedding)]:
        # after the layers, so the MLP's and CNN's draws are what they always were
        embedding.weight.copy_(torch.randn(embedding.weight.shape, generator=generator))
