"""Runs written by hand for tests: a known validation-loss curve, no training."""

from normlab.config import TrainConfig
from normlab.engine import Run


def finished_run(cfg: TrainConfig, losses: list[float], status: str = "finished") -> Run:
    """A Run with a hand-written validation-loss curve, one evaluation every 10 steps."""
    run = Run(cfg, status=status)
    for i, loss in enumerate(losses):
        run._metrics.append(step=10 * i, examples=0, train_loss=loss, train_accuracy=0.0,
                            val_loss=loss, val_accuracy=1 - loss / 3, wall_time=0.1 * i)
    return run
