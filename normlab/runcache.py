"""Finished runs kept on disk, so a fresh server replays them instead of making a class wait.

`normlab precompute` trains the app's starting experiments (defaults.warm_configs) into the folder,
e.g. when a Docker image is built; the app's run store looks there when its memory has no run
for a config and saves the runs it finishes, and the folder stays under `max_bytes` by dropping
the least recently used. One pickle per config, named by a hash of the config and of normlab's
and torch's versions, so an upgrade never replays stale numbers. Unpickling runs code: only
normlab should write this folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from normlab import __version__
from normlab.config import TrainConfig
from normlab.defaults import warm_configs
from normlab.engine import Run, train

MAX_BYTES = 512 * 2**20  # a default run pickles to ~0.7 MB, a 64-layer one to ~10 MB

def cache_dir() -> Path:
    """$NORMLAB_CACHE_DIR, else normlab/ in the user's cache folder (~/.cache)."""
    if folder := os.environ.get("NORMLAB_CACHE_DIR"):
        return Path(folder).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "normlab"


class RunCache:
    """A folder of finished runs, one file per config, at most `max_bytes` in all.

    Every method is safe from several threads and processes: files are written whole under a
    temporary name, then renamed. A folder that cannot be written only means nothing is saved.
    """

    def __init__(self, directory: str | os.PathLike, max_bytes: int = MAX_BYTES):
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def path(self, cfg: TrainConfig) -> Path:
        key = json.dumps({"config": cfg.to_dict(), "normlab": __version__,
                          "torch": torch.__version__}, sort_keys=True)
        return self.directory / f"run-{hashlib.sha256(key.encode()).hexdigest()[:32]}.pkl"

    def load(self, cfg: TrainConfig) -> tuple[Run, bool] | None:
        """(run, clean) saved for `cfg`, or None if there is none or it cannot be read."""
        path = self.path(cfg)
        try:
            with path.open("rb") as file:
                saved = pickle.load(file)
            run, clean = saved["run"], bool(saved["clean"])
        except FileNotFoundError:
            return None
        except Exception:  # a torn or outdated file is a miss; unpickling fails many ways
            return None
        if not isinstance(run, Run) or run.config != cfg:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: dropped last
        return run, clean

    def save(self, run: Run, clean: bool = True) -> bool:
        """Keep a finished or diverged run; a drawn (not clean) one never replaces a saved one.

        clean=False marks wall times inflated by live drawing (see appkit.RunStore). Returns
        whether the run was written.
        """
        if run.status not in ("finished", "diverged"):
            return False
        path = self.path(run.config)
        if not clean and path.exists():
            return False
        temporary = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".run-", suffix=".tmp")
            with os.fdopen(handle, "wb") as file:
                pickle.dump({"run": run, "clean": clean}, file, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)  # readers see the whole file or none
        except OSError:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
            return False
        self.trim()
        return True

    def trim(self) -> None:
        """Drop the least recently used runs until the folder holds at most `max_bytes`."""
        files = []
        for path in self.directory.glob("run-*.pkl"):
            with contextlib.suppress(OSError):  # another process may have just removed it
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
            total -= size

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("run-*.pkl"))


def precompute(cache: RunCache, configs: list[TrainConfig] | None = None,
               report: Callable[[str], None] = print) -> list[Run]:
    """Train every config the cache lacks (default: `warm_configs()`) and save it there.

    Raises OSError if a run cannot be saved, so a build step that relies on it fails loudly.
    """
    cache.directory.mkdir(parents=True, exist_ok=True)  # an unwritable place fails before training
    runs = []
    for cfg in configs if configs is not None else warm_configs():
        label = f"norm={cfg.norm} depth={cfg.depth} activation={cfg.activation} steps={cfg.steps}"
        if (saved := cache.load(cfg)) is not None and saved[1]:
            runs.append(saved[0])
            report(f"cached   {label}")
            continue
        run = train(cfg)
        if not cache.save(run, clean=True):
            raise OSError(f"could not save the run ({run.status}) to {cache.directory}")
        runs.append(run)
        report(f"trained  {label}: {run.status} in {run.wall_time:.1f} s")
    return runs
