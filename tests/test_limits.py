"""One run's budget on a shared server: a hostile link is scaled to fit its memory and time
budget with a note, and the scaled run's real peak memory stays under the cap."""

import json
import subprocess
import sys
from pathlib import Path

import appkit
from appkit import limits
from normlab.budget import estimate_peak_bytes

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = {"depth": "64", "width": "1024", "batch_size": "1024", "steps": "100000"}


def test_a_hostile_link_is_cut_to_one_runs_memory_and_time_with_a_note():
    cfg, notes = appkit.config_from_query(HOSTILE)
    assert estimate_peak_bytes(cfg) <= limits.MAX_RUN_BYTES
    assert limits.step_seconds(cfg) <= limits.BUDGET_SECONDS / 10
    assert limits.estimated_seconds(cfg) <= limits.BUDGET_SECONDS
    text = " ".join(notes)
    assert "batch size cut from 1024" in text and "steps cut from 100000" in text, notes


def test_the_default_config_is_not_cut():
    assert limits.within_budget(appkit.DEFAULT_CONFIG) == (appkit.DEFAULT_CONFIG, None)


def test_the_scaled_hostile_run_stays_under_the_memory_cap_when_it_really_trains():
    cfg, _ = appkit.config_from_query(HOSTILE)
    cfg = cfg.replace(steps=3, record_every=1, eval_every=3)  # every step recorded: the peak
    script = (
        "import json, resource, sys\n"
        "from normlab.config import TrainConfig\n"
        "from normlab.engine import train\n"
        "from normlab.data import load_dataset\n"
        "load_dataset('digits', 0, 2000, 0.1, 0.25)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "train(TrainConfig(**json.loads(sys.argv[1])))\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print((after - before) * 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, json.dumps(cfg.to_dict())], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    grown = int(done.stdout.strip().splitlines()[-1])
    assert grown <= limits.MAX_RUN_BYTES, f"{grown / 2**20:.0f} MiB"


def test_a_hostile_transformer_link_is_cut_to_one_runs_memory_and_time_with_a_note():
    hostile = {"model": "transformer", "depth": "64", "width": "1024", "heads": "16",
               "batch_size": "1024", "steps": "100000"}
    cfg, notes = appkit.config_from_query(hostile)
    assert cfg.model == "transformer" and cfg.validated() == cfg
    assert estimate_peak_bytes(cfg) <= limits.MAX_RUN_BYTES
    assert limits.estimated_seconds(cfg) <= limits.BUDGET_SECONDS
    assert "batch size cut from 1024" in " ".join(notes), notes
    # what the cut is for: the link as asked would need tens of gigabytes
    asked = cfg.replace(depth=64, width=1024, batch_size=1024, steps=2)
    assert estimate_peak_bytes(asked) > 20 * limits.MAX_RUN_BYTES
