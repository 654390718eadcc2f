"""Finished runs kept on disk, so a fresh server replays them instead of making a class wait.

`normlab precompute` trains the app's starting experiments (defaults.warm_configs) into the folder,
e.g. when a Docker image is built; the app's run store looks there when its memory has no run
for a config and saves the runs it finishes, and the folder stays under `max_bytes` by dropping
the least recently used. One file per config, named by a hash of the config and of normlab's
and torch's versions, so an upgrade never replays stale numbers. The file holds data only (see
`RunCache`): reading one never runs code, whoever wrote it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from normlab import __version__
from normlab.config import TrainConfig
from normlab.defaults import warm_configs
from normlab.engine import Run, train
from normlab.recorder import GRAD_COLUMNS, HIST_COLUMNS, STAT_COLUMNS, Table

MAX_BYTES = 512 * 2**20  # a default run takes ~90 kB on disk

def cache_dir() -> Path:
    """$NORMLAB_CACHE_DIR, else normlab/ in the user's cache folder (~/.cache)."""
    if folder := os.environ.get("NORMLAB_CACHE_DIR"):
        return Path(folder).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "normlab"


log = logging.getLogger(__name__)

FORMAT = "normlab-run"  # the header's first field: what marks a file as one this cache wrote
SCHEMA_VERSION = 1  # bump when the layout changes: files of another version are retrained
RUN_NAME = re.compile(r"run-[0-9a-f]{32}\.npz")  # the only files trim() and len() look at
TEMPORARY_NAME = re.compile(r"\.run-[A-Za-z0-9_]+\.tmp")  # mkstemp's names for a file being written
STALE_SECONDS = 600  # a temporary file this old was left by a writer that died: writing takes ms
MAX_MEMBER_BYTES = 2**30  # a column that claims more is not one of ours (a zip bomb, say)
RECORDER_TABLES = {"stats": STAT_COLUMNS, "histograms": HIST_COLUMNS,
                   "gradients": GRAD_COLUMNS}  # Run._recorder_tables; "metrics" is Run._metrics
RUN_FIELDS = ("status", "step", "diverged_at", "message", "wall_time", "num_params")


def disk_cache_off() -> bool:
    """Whether NORMLAB_CACHE_DIR is set but empty, which turns the disk cache off (rather than
    falling back to the home folder, as `cache_dir()` alone would)."""
    folder = os.environ.get("NORMLAB_CACHE_DIR")
    return folder is not None and not folder.strip()


def default_cache() -> RunCache | None:
    """The RunCache at `cache_dir()`, or None (one log line) when `disk_cache_off()`."""
    if disk_cache_off():
        log.warning("NORMLAB_CACHE_DIR is set but empty: finished runs are kept in memory "
                    "only, not on disk")
        return None
    return RunCache(cache_dir())


class BadRunFile(ValueError):
    """A file in the cache folder that is not a readable run of this normlab: why, in words."""


class RunCache:
    """A folder of finished runs, one file per config, at most `max_bytes` in all.

    A run file is a zip archive holding `header.json` (format, schema version, normlab's and
    torch's versions, the config, how the run ended, its columns and a SHA-256 of them) and one
    `.npy` array per column, read with `allow_pickle=False`: numbers and strings only, so no
    file can carry code. A file that is torn, of another version, of another config or not a
    run at all is skipped with one log line and removed, and the run is trained again and
    saved in its place. Only files named `run-<hash>.npz` with such a header are ever counted
    or dropped by the size bound; stale `.run-*.tmp` files are cleaned.

    Every method is safe from several threads and processes: files are written whole under a
    temporary name, then renamed. A folder that cannot be written (read-only, or a file in its
    place) only means nothing is saved, said once in the log; no method raises for it.
    """

    def __init__(self, directory: str | os.PathLike, max_bytes: int = MAX_BYTES):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._said: set = set()  # what has been logged already: each problem once
        self._ours: dict[tuple, bool] = {}  # (name, inode, size) -> has our header, for trim()

    def path(self, cfg: TrainConfig) -> Path:
        key = json.dumps({"config": cfg.to_dict(), "normlab": __version__,
                          "torch": torch.__version__}, sort_keys=True)
        return self.directory / f"run-{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"

    def load(self, cfg: TrainConfig) -> tuple[Run, bool] | None:
        """(run, clean) saved for `cfg`, or None if there is none or it cannot be used."""
        path = self.path(cfg)
        try:
            with zipfile.ZipFile(path) as archive:
                header = _read_header(archive)
                run = _read_run(archive, header, cfg)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            self._say_once("not-a-folder", f"run cache {self.directory} is not a folder: "
                           "runs are not read from or kept on disk")
            return None
        except OSError as error:
            self._say_once(("unreadable", path), f"cannot read {path}: {error}")
            return None
        except Exception as error:  # zipfile, numpy and json fail in many ways; all mean "bad"
            self._discard(path, error)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: dropped last
        return run, bool(header["clean"])

    def save(self, run: Run, clean: bool = True) -> bool:
        """Keep a finished or diverged run; a drawn (not clean) one never replaces a saved one.

        clean=False marks wall times inflated by live drawing (see appkit.RunStore). Returns
        whether the run was written.
        """
        if run.status not in ("finished", "diverged"):
            return False
        path = self.path(run.config)
        if not clean and self._holds_run(path):
            return False
        temporary = None
        try:
            columns = _columns(run)
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".run-", suffix=".tmp")
            with os.fdopen(handle, "wb") as file:
                _write(file, run, clean, columns)
            os.replace(temporary, path)  # readers see the whole file or none
        except (OSError, ValueError) as error:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
            if isinstance(error, ValueError):
                log.warning("run for %s not saved: %s", path.name, error)
            elif self.directory.exists() and not self.directory.is_dir():
                self._say_once("not-a-folder", f"run cache {self.directory} is not a folder: "
                               "runs are not read from or kept on disk")
            else:
                self._say_once("unwritable", f"cannot store runs in {self.directory} "
                               f"({error.strerror or error}): they are kept in memory only")
            return False
        self.trim()
        return True

    def check_writable(self) -> None:
        """Create the folder and a file in it, then remove the file; raises OSError if either
        fails (so `normlab precompute` fails before it trains, not after)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=self.directory, prefix=".run-", suffix=".tmp")
        os.close(handle)
        os.unlink(probe)

    def trim(self) -> None:
        """Drop the least recently used runs until the folder holds at most `max_bytes`, and
        temporary files that a writer left behind. Nothing else in the folder is touched."""
        files = []
        self._ours = {key: ours for key, ours in self._ours.items()  # forget removed files
                      if (self.directory / key[0]).exists()}
        for path, stat in self._entries():
            if TEMPORARY_NAME.fullmatch(path.name):
                if time.time() - stat.st_mtime > STALE_SECONDS:
                    with contextlib.suppress(OSError):
                        path.unlink()
            elif self._is_ours(path, stat):
                files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
            total -= size

    def __len__(self) -> int:
        return sum(1 for path, stat in self._entries() if self._is_ours(path, stat))

    def _entries(self):
        """(path, stat) of every file in the folder named as a run or a temporary file."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if RUN_NAME.fullmatch(name) or TEMPORARY_NAME.fullmatch(name):
                path = self.directory / name
                with contextlib.suppress(OSError):  # another process may have just removed it
                    yield path, path.stat()

    def _is_ours(self, path: Path, stat: os.stat_result) -> bool:
        key = (path.name, stat.st_ino, stat.st_size)
        if key not in self._ours:
            self._ours[key] = self._holds_run(path)
        return self._ours[key]

    def _holds_run(self, path: Path) -> bool:
        """Whether `path` starts like a run this cache wrote (its header; the columns unread)."""
        try:
            with zipfile.ZipFile(path) as archive:
                _read_header(archive)
            return True
        except Exception:  # missing, torn or foreign: not ours
            return False

    def _discard(self, path: Path, error: Exception) -> None:
        """Log a bad file once and remove it, so the retrained run takes its place."""
        self._say_once(("bad", path), f"skipping {path}: not a usable normlab run ({error}); "
                       "the run is trained again and saved in its place")
        with contextlib.suppress(OSError):
            path.unlink()

    def _say_once(self, key, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            log.warning("%s", message)


def _columns(run: Run) -> dict[str, dict[str, np.ndarray]]:
    """{table: {column: array}} of the run's frames; ValueError for a value that is neither a
    number nor a string (it would need pickle)."""
    tables = {"metrics": run._metrics, **run._recorder_tables}
    columns = {}
    for name, table in tables.items():
        if name != "metrics" and name not in RECORDER_TABLES:
            raise ValueError(f"unknown table {name!r}")
        columns[name] = {}
        for column in table.data:
            array = np.asarray(table.data[column])
            if array.dtype.kind not in "biufU":
                raise ValueError(f"{name}.{column} holds {array.dtype} values")
            columns[name][column] = array
    return columns


def _write(file, run: Run, clean: bool, columns: dict[str, dict[str, np.ndarray]]) -> None:
    digest = hashlib.sha256()
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for table, arrays in columns.items():
            for column, array in arrays.items():
                with archive.open(f"{table}/{column}.npy", "w") as member:
                    buffer = _Hashing(member, digest)
                    np.lib.format.write_array(buffer, array, allow_pickle=False)
        header = {"format": FORMAT, "version": SCHEMA_VERSION, "normlab": __version__,
                  "torch": torch.__version__, "config": run.config.to_dict(), "clean": clean,
                  "run": {field: getattr(run, field) for field in RUN_FIELDS},
                  "tables": {table: list(arrays) for table, arrays in columns.items()},
                  "sha256": digest.hexdigest()}
        archive.writestr("header.json", json.dumps(header, allow_nan=False))


class _Hashing:
    """A write-only file that feeds what passes through it to a hash as well."""

    def __init__(self, file, digest):
        self.file, self.digest = file, digest

    def write(self, data) -> int:
        self.digest.update(data)
        return self.file.write(data)


def _read_header(archive: zipfile.ZipFile) -> dict:
    try:
        info = archive.getinfo("header.json")
    except KeyError:
        raise BadRunFile("not a normlab run (no header.json)") from None
    if info.file_size > 2**20:
        raise BadRunFile("not a normlab run (header too large)")
    header = json.loads(archive.read(info))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BadRunFile("not a normlab run")
    if header.get("version") != SCHEMA_VERSION:
        raise BadRunFile(f"schema version {header.get('version')!r}, this normlab reads "
                         f"{SCHEMA_VERSION}")
    return header


def _read_run(archive: zipfile.ZipFile, header: dict, cfg: TrainConfig) -> Run:
    """The Run the archive holds, if it is one of this normlab and torch for `cfg`."""
    if (header.get("normlab"), header.get("torch")) != (__version__, torch.__version__):
        raise BadRunFile(f"written by normlab {header.get('normlab')} with torch "
                         f"{header.get('torch')}")
    if TrainConfig(**header["config"]) != cfg:
        raise BadRunFile("holds another config's run")
    fields = header["run"]
    if fields["status"] not in ("finished", "diverged"):
        raise BadRunFile(f"status {fields['status']!r}")
    run = Run(cfg, status=str(fields["status"]), step=int(fields["step"]),
              diverged_at=None if fields["diverged_at"] is None else int(fields["diverged_at"]),
              message=str(fields["message"]), wall_time=float(fields["wall_time"]),
              num_params=int(fields["num_params"]))
    expected = {"metrics": tuple(run._metrics.data), **RECORDER_TABLES}
    tables = header["tables"]
    if "metrics" not in tables or not set(tables) <= set(expected):
        raise BadRunFile(f"tables {sorted(tables)}")
    digest, built = hashlib.sha256(), {}
    for table, columns in tables.items():
        if tuple(columns) != expected[table]:
            raise BadRunFile(f"{table} has columns {columns}")
        built[table] = Table(expected[table])
        for column in columns:
            info = archive.getinfo(f"{table}/{column}.npy")
            if info.file_size > MAX_MEMBER_BYTES:
                raise BadRunFile(f"{table}.{column} claims {info.file_size} bytes")
            data = archive.read(info)
            digest.update(data)
            array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
            if array.ndim != 1 or array.dtype.kind not in "biufU":
                raise BadRunFile(f"{table}.{column} is {array.dtype} of shape {array.shape}")
            built[table].data[column] = array.tolist()
        if len({len(values) for values in built[table].data.values()}) != 1:
            raise BadRunFile(f"{table}'s columns differ in length")
    if digest.hexdigest() != header["sha256"]:
        raise BadRunFile("checksum does not match")
    run._metrics, run._recorder_tables = built.pop("metrics"), built
    return run


def precompute(cache: RunCache, configs: list[TrainConfig] | None = None,
               report: Callable[[str], None] = print) -> list[Run]:
    """Train every config the cache lacks (default: `warm_configs()`) and save it there.

    Raises OSError if a run cannot be saved, so a build step that relies on it fails loudly.
    """
    cache.check_writable()  # an unwritable place fails before training
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
