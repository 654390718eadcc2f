"""Many seeds of one config trained together: one batched model, weights stacked on a seed dim.

A verdict needs several seeds, and a loop of engine runs costs seeds x one run. Here the
seeds of one MLP config are one model whose every weight has a leading seed dim (S, ...):
each linear layer is one batched matmul (`torch.baddbmm`), each norm takes its statistics
within a seed (batch norm over that seed's own batch), and one optimizer steps all seeds at
once. SGD, momentum and Adam are elementwise with a step count all seeds share, so
torch.optim on the stacked tensors is exactly each seed's optimizer.

Each seed starts from what `engine.prepare(cfg.replace(seed=s))` gives that seed: its data
split, initial weights and batch indices, taken from it rather than recomputed, so they are
the same by construction. The twin test (tests/test_seeds.py) checks that every seed's
metrics equal `engine.train` of that seed alone.

Written out (batched matmuls and a hand-written backward) rather than
`torch.func.stack_module_state` + `vmap`, for two reasons. vmap cannot run normlab's norms
at all: they are autograd.Functions without `setup_context` (RuntimeError from functorch).
And on a plain-torch
copy of the default MLP, `vmap(grad(loss))` over 8 seeds took 6.7 ms a step against 1.9 ms
written out (engine, one seed: 1.2 ms; benchmarks/seeds_bench.py): every op goes through
functorch's batching rules and autograd's graph, forward and backward, and at 64x64 matrices
that per-op overhead is the cost. Written out, a step is ~60 whole-stack ops and no graph.

The CNN, GroupNorm and DyT are not batched: `train_seeds_looped` trains them seed by seed with
the engine, and `train_seeds` hands them to it. For the CNN batching would not pay: its
default run is compute-bound, and a grouped convolution over 8 seeds measured 53 ms against
4.4 ms for one seed's convolution (forward + backward, one thread), worse than a loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from normlab.config import TrainConfig
from normlab.engine import METRIC_COLUMNS, build_optimizer, prepare, train

BATCHED_NORMS = ("none", "batch", "layer", "rms")
SEED_METRIC_COLUMNS = ("seed", *METRIC_COLUMNS)
SEED_STATUS_COLUMNS = ("seed", "status", "steps_run", "diverged_at", "message")

_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                "gelu": F.gelu}


def batchable(cfg: TrainConfig) -> bool:
    """Whether `train_seeds` can train `cfg` as one batched model (else it loops the engine)."""
    return cfg.model == "mlp" and cfg.norm in BATCHED_NORMS


@dataclass
class SeedRuns:
    """What training many seeds of one config produced.

    metrics: one row per (seed, evaluation), engine's metric columns plus `seed`; the values
    are those engine.train gives the seed alone, except wall_time, which is the batch's.
    status: one row per seed: status ("finished" or "diverged"), steps_run, diverged_at,
    message (engine's divergence message). batched: False when the engine was looped.
    """

    config: TrainConfig
    seeds: tuple[int, ...]
    metrics: pd.DataFrame
    status: pd.DataFrame
    wall_time: float
    batched: bool
    model: nn.Module | None = None  # the batched model after training, its seeds those that
    # finished, in `seeds` order (None when the engine was looped)

    def final(self) -> pd.DataFrame:
        """The last evaluation of each seed, one row per seed."""
        return self.metrics.groupby("seed", sort=False).tail(1).reset_index(drop=True)

    def final_values(self, column: str = "val_accuracy") -> dict[int, float]:
        """{seed: `column` at its last evaluation} for the seeds that finished: what
        normlab.stats.paired_differences pairs up. Diverged seeds are left out (say so)."""
        finished = set(self.status.loc[self.status["status"] == "finished", "seed"])
        final = self.final()
        return {int(s): float(v) for s, v in zip(final["seed"], final[column]) if s in finished}


# ---------------------------------------------------------------------------------------------
# The batched model: plain functions for the math (forward and hand-written backward, as in
# normlab.functional, with a seed dim in front), a thin module that owns the stacks.
#
# No autograd: at these sizes a step is ~60 small ops, and autograd's per-node bookkeeping
# cost about as much as the arithmetic. Each backward below is the textbook formula; the
# twin test checks all of it against the engine (whose norms are checked against torch).
# ---------------------------------------------------------------------------------------------


def stacked_linear(x: Tensor, weight_t: Tensor, bias: Tensor) -> Tensor:
    """x (S, B, I) @ weight_t (S, I, O) + bias (S, O): every seed's linear layer at once."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight_t)  # (S, B, O)


def batch_norm_train(x: Tensor, weight: Tensor, bias: Tensor, eps: float):
    """Batch norm of x (S, B, D), each seed over its own batch: y, (xhat, invstd), mean, var."""
    mean = x.mean(1, keepdim=True)  # (S, 1, D)
    xhat = x - mean  # (S, B, D), centred
    var = xhat.square().mean(1, keepdim=True)  # (S, 1, D), biased
    invstd = torch.rsqrt(var + eps)  # (S, 1, D)
    xhat.mul_(invstd)
    return torch.addcmul(bias.unsqueeze(1), xhat, weight.unsqueeze(1)), (xhat, invstd), mean, var


def batch_norm_eval(x, weight, bias, running_mean, running_var, eps: float) -> Tensor:
    """Batch norm of x (S, N, D) with each seed's running statistics (S, D)."""
    invstd = torch.rsqrt(running_var + eps).unsqueeze(1)  # (S, 1, D)
    xhat = (x - running_mean.unsqueeze(1)).mul_(invstd)
    return torch.addcmul(bias.unsqueeze(1), xhat, weight.unsqueeze(1))


def batch_norm_backward(grad_y: Tensor, saved, weight: Tensor):
    """dx = gamma r (dy - dbeta/n - xhat dgamma/n); returns dx, dgamma, dbeta."""
    xhat, invstd = saved
    n = xhat.shape[1]
    grad_bias = grad_y.sum(1)  # (S, D)
    grad_weight = (grad_y * xhat).sum(1)  # (S, D)
    scale = weight.unsqueeze(1) * invstd  # (S, 1, D), gamma * r
    coef = (grad_weight.unsqueeze(1) * scale).mul_(-1 / n)  # (S, 1, D)
    shift = (grad_bias.unsqueeze(1) * scale).mul_(-1 / n)  # (S, 1, D)
    return torch.addcmul(shift, xhat, coef).addcmul_(grad_y, scale), grad_weight, grad_bias


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float):
    """Layer norm of x (S, B, D) over D, per-seed weight and bias (S, D): y, (xhat, invstd)."""
    xhat = x - x.mean(-1, keepdim=True)  # (S, B, D), centred
    invstd = torch.rsqrt(xhat.square().mean(-1, keepdim=True) + eps)  # (S, B, 1)
    xhat.mul_(invstd)
    return torch.addcmul(bias.unsqueeze(1), xhat, weight.unsqueeze(1)), (xhat, invstd)


def layer_norm_backward(grad_y: Tensor, saved, weight: Tensor):
    """dx = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), means over D."""
    xhat, invstd = saved
    grad_weight, grad_bias = (grad_y * xhat).sum(1), grad_y.sum(1)  # (S, D)
    dxhat = grad_y * weight.unsqueeze(1)  # (S, B, D)
    grad_x = dxhat - dxhat.mean(-1, keepdim=True)
    grad_x.sub_(xhat * (dxhat * xhat).mean(-1, keepdim=True)).mul_(invstd)
    return grad_x, grad_weight, grad_bias


def rms_norm(x: Tensor, weight: Tensor, eps: float):
    """RMS norm of x (S, B, D) over D, per-seed gain (S, D): y, (xhat, invrms)."""
    invrms = torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)  # (S, B, 1)
    xhat = x * invrms
    return xhat * weight.unsqueeze(1), (xhat, invrms)


def rms_norm_backward(grad_y: Tensor, saved, weight: Tensor):
    """dx = r (dxhat - xhat mean(dxhat xhat)), mean over D; no bias."""
    xhat, invrms = saved
    grad_weight = (grad_y * xhat).sum(1)  # (S, D)
    dxhat = grad_y * weight.unsqueeze(1)  # (S, B, D)
    grad_x = dxhat.sub_(xhat * (dxhat * xhat).mean(-1, keepdim=True)).mul_(invrms)
    return grad_x, grad_weight, None


def activation_backward(name: str, grad: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """The activation's input gradient, from its input x and output y (torch's own kernels)."""
    if name == "relu":
        return torch.ops.aten.threshold_backward(grad, y, 0)
    if name == "tanh":
        return torch.ops.aten.tanh_backward(grad, y)
    if name == "sigmoid":
        return torch.ops.aten.sigmoid_backward(grad, y)
    return torch.ops.aten.gelu_backward(grad, x)


class StackedMLP(nn.Module):
    """normlab's MLP for S seeds at once, with a hand-written backward.

    Engine's parameter `a.b` is `a__b` here, of shape (S, *its shape), except that linear
    weights are stored transposed, (S, in, out), so the batched matmuls need no transpose
    (the optimizer is elementwise: the layout changes nothing).
    """

    def __init__(self, cfg: TrainConfig, models: Sequence[nn.Module], dtype: torch.dtype):
        super().__init__()
        self.norm, self.activation = cfg.norm, cfg.activation
        self.norm_before_activation = cfg.norm_position == "before"
        self.bn_momentum = cfg.bn_momentum
        self.depth = cfg.depth
        self.batches_tracked = 0  # shared: every seed still training has taken every step
        self.norm_eps = _norm_eps(models[0], dtype)
        states = [model.state_dict() for model in models]
        for name in states[0]:
            if name.endswith("num_batches_tracked"):
                continue
            stacked = torch.stack([state[name] for state in states]).to(dtype)  # (S, ...)
            if name.endswith("linear.weight") or name == "head.weight":
                stacked = stacked.transpose(1, 2).contiguous()  # (S, in, out)
            key = name.replace(".", "__")
            if name.endswith(("running_mean", "running_var")):
                self.register_buffer(key, stacked)
            else:
                self.register_parameter(key, nn.Parameter(stacked))

    def _get(self, name: str) -> Tensor:
        return getattr(self, name.replace(".", "__"))

    def _norm_forward(self, i: int, x: Tensor, training: bool):
        """The norm of layer i: (output, what its backward needs)."""
        get = lambda name: self._get(f"blocks.{i}.norm.{name}")  # noqa: E731
        if self.norm == "none":
            return x, None
        if self.norm == "layer":
            return layer_norm(x, get("weight"), get("bias"), self.norm_eps)
        if self.norm == "rms":
            return rms_norm(x, get("weight"), self.norm_eps)
        running_mean, running_var = get("running_mean"), get("running_var")
        if not training:
            return batch_norm_eval(x, get("weight"), get("bias"), running_mean, running_var,
                                   self.norm_eps), None
        y, saved, mean, var = batch_norm_train(x, get("weight"), get("bias"), self.norm_eps)
        momentum = self.bn_momentum
        if momentum is None:  # cumulative average: the k-th batch has weight 1/k
            momentum = 1.0 / (self.batches_tracked + 1)
        n = x.shape[1]
        running_mean.mul_(1 - momentum).add_(mean.squeeze(1), alpha=momentum)
        running_var.mul_(1 - momentum).add_(var.squeeze(1) * (n / (n - 1)), alpha=momentum)
        return y, saved

    def _norm_backward(self, i: int, grad: Tensor, saved) -> Tensor:
        """The norm's input gradient; its parameter gradients go into their .grad."""
        if self.norm == "none":
            return grad
        weight = self._get(f"blocks.{i}.norm.weight")
        backward = {"batch": batch_norm_backward, "layer": layer_norm_backward,
                    "rms": rms_norm_backward}[self.norm]
        grad, weight.grad, grad_bias = backward(grad, saved, weight)
        if grad_bias is not None:
            self._get(f"blocks.{i}.norm.bias").grad = grad_bias
        return grad

    @torch.no_grad()
    def forward(self, x: Tensor, keep: bool = False):
        """Logits (S, N, C) of x (S, N, ...); in training mode BN uses and updates batch stats.

        keep=True also returns what `backward` needs (the layers' inputs and outputs).
        """
        x = x.flatten(2)  # (S, N, D): digits images become 64 features
        act = _ACTIVATIONS[self.activation]
        tape = []
        for i in range(self.depth):
            h = stacked_linear(x, self._get(f"blocks.{i}.linear.weight"),
                               self._get(f"blocks.{i}.linear.bias"))  # (S, N, width)
            if self.norm_before_activation:
                normed, saved = self._norm_forward(i, h, self.training)
                out = act(normed)
                tape.append((x, normed, out, saved))  # activation input is the norm output
            else:
                activated = act(h)
                out, saved = self._norm_forward(i, activated, self.training)
                tape.append((x, h, activated, saved))
            x = out
        if self.training and self.norm == "batch":
            self.batches_tracked += 1
        logits = stacked_linear(x, self._get("head.weight"), self._get("head.bias"))
        return (logits, (tape, x)) if keep else logits  # (S, N, C)

    @torch.no_grad()
    def backward(self, grad_logits: Tensor, kept) -> None:
        """Set every parameter's .grad from dL/dlogits (S, B, C) and `forward(keep=True)`."""
        tape, x = kept
        head = self._get("head.weight")
        head.grad = torch.bmm(x.transpose(1, 2), grad_logits)  # (S, width, C)
        self._get("head.bias").grad = grad_logits.sum(1)
        grad = torch.bmm(grad_logits, head.transpose(1, 2))  # (S, B, width)
        for i in reversed(range(self.depth)):
            x_in, act_in, act_out, saved = tape[i]
            if self.norm_before_activation:
                grad = activation_backward(self.activation, grad, act_in, act_out)
                grad = self._norm_backward(i, grad, saved)
            else:
                grad = self._norm_backward(i, grad, saved)
                grad = activation_backward(self.activation, grad, act_in, act_out)
            weight = self._get(f"blocks.{i}.linear.weight")
            weight.grad = torch.bmm(x_in.transpose(1, 2), grad)  # (S, in, out)
            self._get(f"blocks.{i}.linear.bias").grad = grad.sum(1)
            if i > 0:
                grad = torch.bmm(grad, weight.transpose(1, 2))  # (S, B, in)

    @torch.no_grad()
    def keep(self, index: Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Drop every seed not in `index` (S',) from the stacks and the optimizer's state."""
        for key, tensor in [*self.named_parameters(), *self.named_buffers()]:
            kept = tensor.detach()[index].clone()
            if isinstance(tensor, nn.Parameter):
                state = optimizer.state.get(tensor, {})
                for name, value in state.items():
                    if value.dim() > 0:  # Adam's step is a shared scalar
                        state[name] = value[index].clone()
                tensor.data, tensor.grad = kept, None
            else:
                setattr(self, key, kept)


def cross_entropy_and_grad(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Each seed's mean cross-entropy (S,) over its batch, and its gradient (S, B, C)."""
    log_probs = torch.log_softmax(logits, -1)  # (S, B, C)
    target = y.unsqueeze(-1)  # (S, B, 1)
    loss = log_probs.gather(-1, target).squeeze(-1).mean(1).neg_()  # (S,)
    minus_one = torch.full(target.shape, -1.0, dtype=logits.dtype, device=logits.device)
    grad = log_probs.exp_().scatter_add_(-1, target, minus_one)  # softmax - onehot
    return loss, grad.div_(logits.shape[1])


def _norm_eps(model: nn.Module, dtype: torch.dtype) -> float:
    """The eps of the model's norm layers (RMSNorm's None is finfo(dtype).eps, as in torch)."""
    for module in model.modules():
        if hasattr(module, "eps") and module is not model:
            return torch.finfo(dtype).eps if module.eps is None else module.eps
    return 0.0


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


EVAL_CHUNK = 128  # validation examples per seed and pass: (S, 128, width) stays in cache


@torch.no_grad()
def _evaluate(model: StackedMLP, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-seed validation loss and accuracy (S,), in eval mode, as engine.evaluate."""
    model.eval()
    # In eval mode every example is on its own, so chunks give the same logits; the whole
    # set at once (S, N, width) falls out of cache: 30% slower per run at the defaults.
    logits = torch.cat([model(chunk) for chunk in x.split(EVAL_CHUNK, dim=1)], 1)  # (S, N, C)
    model.train()
    losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)  # (S,)
    return losses, (logits.argmax(-1) == y).float().mean(1)


def train_seeds(cfg: TrainConfig, seeds: Sequence[int] = (0, 1, 2, 3, 4),
                dtype: torch.dtype = torch.float32) -> SeedRuns:
    """Train `cfg` once per seed, all seeds as one batched model; per-seed metrics as engine.

    Each seed gets the data split, initial weights and batches `engine.prepare` gives it, the
    engine's optimizer and loss, and validation every `cfg.eval_every` steps. A seed whose loss
    becomes NaN or infinite stops there, as the engine stops (one last metrics row, status
    "diverged"); the others go on. `dtype` float64 makes the twin test exact to rounding.
    Configs the batched model does not cover (see `batchable`) go to `train_seeds_looped`.

    Raises:
        ConfigError: the config cannot train (e.g. batch norm with batch size 1).
    """
    seeds = _distinct(seeds)
    if not batchable(cfg):
        return train_seeds_looped(cfg, seeds)
    setups = [prepare(cfg.replace(seed=seed)) for seed in seeds]
    cfg = setups[0].config
    model = StackedMLP(cfg, [setup.model for setup in setups], dtype)
    optimizer = build_optimizer(cfg, model.parameters())  # the engine's, hyperparameters and all
    for group in optimizer.param_groups:
        group["foreach"] = True  # one call per op for all tensors: the same elementwise math
    x_train = torch.stack([s.data.x_train for s in setups]).to(dtype).flatten(2)  # (S, N, D)
    y_train = torch.stack([s.data.y_train for s in setups])  # (S, N)
    x_val = torch.stack([s.data.x_val for s in setups]).to(dtype).flatten(2)  # (S, V, D)
    y_val = torch.stack([s.data.y_val for s in setups])  # (S, V)
    batch_size = setups[0].batches.batch_size

    alive = list(seeds)  # the seeds still training, in stack order
    batches = [setup.batches for setup in setups]
    rows: list[dict] = []
    status = {seed: dict(seed=seed, status="finished", steps_run=cfg.steps, diverged_at=None,
                         message="") for seed in seeds}
    device = x_train.device
    losses = torch.zeros(len(seeds), device=device)  # float32, as the engine sums its losses
    correct = torch.zeros(len(seeds), dtype=torch.long, device=device)
    seen = 0
    start = time.perf_counter()

    def log(step: int, which: Sequence[int]) -> None:
        """A metrics row for the stacked seeds at positions `which`."""
        val_loss, val_accuracy = _evaluate(model, x_val, y_val)
        for j in which:
            rows.append(dict(
                seed=alive[j], step=step, examples=step * batch_size,
                train_loss=float(losses[j]) / seen if seen else math.nan,
                train_accuracy=float(correct[j]) / (seen * batch_size) if seen else math.nan,
                val_loss=float(val_loss[j]), val_accuracy=float(val_accuracy[j]),
                wall_time=time.perf_counter() - start))

    log(0, range(len(alive)))
    offsets = torch.arange(len(seeds), device=device).unsqueeze(1)  # (S, 1): seed s at s * N
    for step in range(cfg.steps):
        index = torch.stack([b.next() for b in batches]).to(device)  # (S, B)
        flat = (index + offsets[: len(alive)] * x_train.shape[1]).flatten()  # (S * B,)
        x = x_train.flatten(0, 1).index_select(0, flat).view(len(alive), -1, x_train.shape[2])
        y = y_train.flatten().index_select(0, flat).view(len(alive), -1)  # (S, B, D), (S, B)
        logits, tape = model(x, keep=True)  # (S, B, C)
        loss, grad_logits = cross_entropy_and_grad(logits, y)  # (S,), (S, B, C)
        finite = torch.isfinite(loss)
        kept = None
        if not bool(finite.all()):
            bad = finite.logical_not().nonzero().flatten().tolist()
            if seen:  # the finite losses since the last row, as the engine logs them
                log(step, bad)
            for j in bad:
                status[alive[j]].update(status="diverged", steps_run=step, diverged_at=step,
                                        message=_divergence_message(cfg, step, float(loss[j])))
            kept = finite.nonzero().flatten()  # (S',)
            if len(kept) == 0:
                break
        # Seeds share no weight, so each gets exactly the gradient of its own loss; a diverged
        # seed's NaNs stay in its own slices, which are dropped right after the step.
        model.backward(grad_logits, tape)
        optimizer.step()
        if kept is not None:
            model.keep(kept, optimizer)
            x_train, y_train, x_val, y_val = (t[kept] for t in (x_train, y_train, x_val, y_val))
            logits, loss, y = logits[kept], loss[kept], y[kept]
            losses, correct = losses[kept], correct[kept]
            alive = [alive[j] for j in kept.tolist()]
            batches = [batches[j] for j in kept.tolist()]
        losses += loss.detach()
        correct += (logits.detach().argmax(-1) == y).sum(1)
        seen += 1
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            log(done, range(len(alive)))
            losses.zero_(), correct.zero_()
            seen = 0
    wall_time = time.perf_counter() - start
    metrics = _frame(rows, SEED_METRIC_COLUMNS).sort_values(["seed", "step"], kind="stable")
    return SeedRuns(cfg, seeds, metrics.reset_index(drop=True),
                    _frame(list(status.values()), SEED_STATUS_COLUMNS), wall_time, batched=True,
                    model=model)


def train_seeds_looped(cfg: TrainConfig, seeds: Sequence[int] = (0, 1, 2, 3, 4)) -> SeedRuns:
    """Train `cfg` once per seed with `engine.train`, one after the other: the slow path, for
    the configs the batched model does not cover (the CNN, GroupNorm, DyT)."""
    seeds = _distinct(seeds)
    rows, status = [], []
    start = time.perf_counter()
    for seed in seeds:
        run = train(cfg.replace(seed=seed), record=False)
        frame = run.metrics
        frame.insert(0, "seed", seed)
        rows.append(frame)
        status.append(dict(seed=seed, status=run.status, steps_run=run.step,
                           diverged_at=run.diverged_at, message=run.message))
    wall_time = time.perf_counter() - start
    return SeedRuns(cfg.validated(), seeds, pd.concat(rows, ignore_index=True),
                    _frame(status, SEED_STATUS_COLUMNS), wall_time, batched=False)


def _distinct(seeds: Sequence[int]) -> tuple[int, ...]:
    seeds = tuple(int(seed) for seed in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one (got {seeds})")
    return seeds


def _frame(rows: list[dict], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def _divergence_message(cfg: TrainConfig, step: int, loss: float) -> str:
    from normlab.engine import _divergence_message as engine_message  # one wording, engine's

    return engine_message(cfg, step, loss)
