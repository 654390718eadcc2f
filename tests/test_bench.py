"""The benchmark script runs end to end and prints its ratio lines (no timing is asserted), and
its loops compute the same thing: the engine and the plain torch loop end at the same
validation loss."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The loops share data, initial weights and batches; they differ only in float32 rounding
# (normlab's norms against torch's), which 40 steps grow to ~3e-8 here (and 300 steps to
# 9e-3 for batch norm, see the README). Other batches or other initial weights move it by
# ~1e-2 or more.
VAL_LOSS_GAP = 1e-3


@pytest.mark.slow
def test_quick_benchmark_prints_every_ratio(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--threads", "1",
         "--json", str(tmp_path / "bench.json")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "torch.set_num_threads(1)" in out
    for norm in ("BatchNorm1d", "LayerNorm", "RMSNorm", "GroupNorm", "DyT"):
        for shape in ("2048x1024", "64x128"):
            assert re.search(rf"^{shape}\s+{norm}\s.*\d+\.\d+x", out, re.M), (norm, shape, out)
    for norm in ("none", "batch", "layer", "rms"):
        assert re.search(rf"^{norm}\s.*(\d+\.\d+x\s+){{3}}", out, re.M), (norm, out)
    assert "(c) GPU" in out
    results = json.loads((tmp_path / "bench.json").read_text())
    assert len(results["norms"]) == 10 and len(results["training"]) == 4
    gaps = {row["norm"]: row["val_loss_gap"] for row in results["training"]}
    assert all(gap <= VAL_LOSS_GAP for gap in gaps.values()), gaps
