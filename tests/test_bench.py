"""The benchmark script runs end to end and prints its ratio lines (no timing is asserted)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
