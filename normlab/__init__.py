"""normlab: Batch, Layer and RMS normalization from scratch, and a lab to watch them train."""

from normlab.config import ConfigError, TrainConfig
from normlab.engine import Run, stream, train
from normlab.registry import NORMS, build_norm

__all__ = ["NORMS", "ConfigError", "Run", "TrainConfig", "build_norm", "stream", "train"]
__version__ = "0.1.0"
