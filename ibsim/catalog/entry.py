"""One results file of a catalog: what it holds, read once, in a few numbers.

An :class:`Entry` is the catalog's summary of a results file: the experiment's
name and complete stored config, when it was written, how many runs and
recorded epochs it holds, its estimates and its final accuracies. Reading an
entry opens the file once with :func:`ibsim.resultsfile.reader.open_dataset`,
reads only the small variables it needs, and closes it. A file that cannot be
read (not NetCDF, truncated, not an ibsim file, of a newer format, unfinished,
damaged: lacking a variable every results file has or with dimensions that
disagree, or with a stored config that is not TOML) becomes an entry with
status ``"unreadable"`` and the error text instead: a catalog lists every file
it finds.

The stored config is parsed with :mod:`tomllib` into a plain dict and not
validated through :class:`~ibsim.config.Config`, so files written by another
version of ibsim (with keys this version does not know) still list.

An entry's id is the experiment's stable id
(:func:`ibsim.resultsfile.provenance.experiment_id`, a hash of the config, the
seed and the data checksum): the file's ``experiment_id`` attribute, or for
files written before ibsim stored it, computed from the stored config. Runs
without a finished file get the id their file will have; an unreadable file
gets a hash of its size and first bytes (:func:`file_id`). None of these
depend on where the file lies, so moving files or adding others keeps them.
"""
from __future__ import annotations

import hashlib
import socket
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ibsim.catalog.query import format_config
from ibsim.errors import ResultsFileError
from ibsim.resultsfile.provenance import ID_LENGTH, experiment_id
from ibsim.resultsfile.reader import open_dataset
from ibsim.pipeline.parts import PartStore

COMPLETED = "completed"
UNREADABLE = "unreadable"
#: statuses of runs that have a part folder but no finished file yet
RUNNING, INTERRUPTED, FAILED = "running", "interrupted", "failed"


@dataclass(frozen=True)
class Entry:
    """A results file of a catalog.

    Attributes:
        id: The experiment's stable id, 12 hex characters (see the module
            docstring): the same config, seed and data give the same id
            wherever the file lies, so copies of a file share it.
        path: The file.
        relpath: The file relative to the catalog's folder.
        name: The experiment's name (``attrs["name"]``; the file's stem when
            the file is unreadable).
        status: ``"completed"`` or ``"unreadable"`` for files; ``"running"``,
            ``"interrupted"`` (its process is gone: ``ibsim run --resume``
            continues it) or ``"failed"`` (with the error) for runs that have a
            part folder and no finished file yet.
        config: The complete stored config (empty when unreadable).
        created: UTC time the file was written (``attrs["created"]``), if known.
        final_train_accuracy: Training accuracy at the end: per run, the last
            recorded epoch where it is finite; then the mean over runs (NaN if
            no run has one).
        final_test_accuracy: The same for the test split.
        n_runs: Runs in the file (0 when unreadable).
        n_epochs: Recorded epochs in the file (0 when unreadable).
        estimators: Labels of the estimates in the file.
        error: Why the file is unreadable or the run failed (None otherwise).
        hint: For a run without a finished file, what to do about it or who
            is running it (e.g. the command that resumes it).
    """

    id: str
    path: Path
    relpath: Path
    name: str
    status: str
    config: dict[str, Any] = field(default_factory=dict)
    created: str | None = None
    final_train_accuracy: float = float("nan")
    final_test_accuracy: float = float("nan")
    n_runs: int = 0
    n_epochs: int = 0
    estimators: tuple[str, ...] = ()
    error: str | None = None
    hint: str | None = None

    @property
    def readable(self) -> bool:
        """Whether the file could be read."""
        return self.status == COMPLETED

    def get(self, key: str, default: Any = None) -> Any:
        """A value of the stored config (``default`` when the key is absent)."""
        return self.config.get(key, default)

    def describe(self, *keys: str) -> str:
        """The name and some config values, e.g. ``"relu_a: activation_fn=relu"`` (a plot title).

        Args:
            *keys: Config keys to show (e.g. the catalog's ``differing_keys()``).
        """
        return f"{self.name}: {format_config(self.config, *keys)}" if keys else self.name

    @property
    def error_line(self) -> str:
        """The first line of the error ('' when the file is readable)."""
        return first_line(self.error)

    @property
    def note(self) -> str:
        """One line on an entry that is not a completed file: its error or its hint ('' otherwise)."""
        return self.error_line or (self.hint or "")

    def __repr__(self) -> str:
        if not self.readable:
            return f"<Entry {self.id}: {self.relpath} {self.status}: {self.note}>"
        return (
            f"<Entry {self.id}: {self.name} ({self.relpath}), {self.n_runs} runs, {self.n_epochs} epochs, "
            f"test accuracy {self.final_test_accuracy:.3f}>"
        )


def first_line(text: str | None) -> str:
    """The first non-empty line of ``text`` ('' for None or empty text)."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def final_accuracy(values: np.ndarray) -> float:
    """Mean over runs of each run's last finite value.

    Args:
        values: Accuracies, shape (run, epoch).

    Returns:
        The mean, or NaN when no run has a finite value.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[None, :]
    last = []
    for row in values:
        finite = np.flatnonzero(np.isfinite(row))
        if finite.size:
            last.append(row[finite[-1]])
    return float(np.mean(last)) if last else float("nan")


def file_id(path: Path, fallback: str = "") -> str:
    """The id of a file whose config cannot be read: a hash of its size and
    first MiB (of ``fallback`` when the file cannot be read either)."""
    digest = hashlib.sha256(b"ibsim unreadable file\n")
    try:
        with open(path, "rb") as handle:
            digest.update(str(path.stat().st_size).encode() + b"\n")
            digest.update(handle.read(1 << 20))
    except OSError:
        digest.update(fallback.encode("utf-8"))
    return digest.hexdigest()[:ID_LENGTH]


def stored_id(attrs: dict[str, Any], config: dict[str, Any]) -> str:
    """A file's id: its ``experiment_id`` attribute, or computed from its config."""
    value = attrs.get("experiment_id")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return experiment_id(config)


def read_run_entry(parts: Path, relpath: Path) -> Entry:
    """An entry for a run that has a part folder and no finished file yet.

    Its status comes from the folder's ``run.json``: ``"failed"`` (with the
    error), ``"running"`` while the process that wrote it is alive (on this
    host; a run of another host is taken at its word), and ``"interrupted"``
    when that process is gone, e.g. killed (the hint names the command that
    resumes it).

    Args:
        parts: The part folder (``<name>.nc.parts``).
        relpath: The results file it will write, relative to the catalog's folder.
    """
    store = PartStore(parts)
    record = store.read_run() or {}
    status = record.get("status")
    pid, host = record.get("pid"), record.get("host")
    if status == RUNNING and host == socket.gethostname() and not store.held_by_live_process():
        status = INTERRUPTED
    if status not in (RUNNING, FAILED):
        status = INTERRUPTED
    try:
        config = tomllib.loads(record.get("config") or "")
    except tomllib.TOMLDecodeError:
        config = {}
    entry_id = experiment_id(config) if config else file_id(parts / "run.json", relpath.as_posix())
    output = parts.with_name(parts.name[: -len(".parts")])
    resume = f"resume with: ibsim run CONFIG --resume --output {output}"
    hints = {RUNNING: f"running as process {pid} on {host}", INTERRUPTED: f"interrupted; {resume}",
             FAILED: resume}
    error = record.get("error") if status == FAILED else None
    return Entry(id=entry_id, path=output, relpath=relpath, name=str(record.get("name") or relpath.stem),
                 status=status, config=config, created=record.get("started"),
                 error=error or (f"failed: {resume}" if status == FAILED else None), hint=hints[status])


def read_entry(path: Path, relpath: Path) -> Entry:
    """Read a results file into an :class:`Entry`; never raises for a bad file.

    Args:
        path: The file.
        relpath: The file relative to the catalog's folder.

    Returns:
        The entry (status ``"unreadable"`` with the error when the file cannot
        be read).
    """

    def unreadable(error: str) -> Entry:
        return Entry(id=file_id(path, relpath.as_posix()), path=path, relpath=relpath, name=path.stem,
                     status=UNREADABLE, error=error)

    try:
        ds = open_dataset(path)
    except ResultsFileError as error:
        return unreadable(str(error))
    except Exception as error:  # anything else the file system or HDF5 raise
        return unreadable(f"{path} cannot be read ({type(error).__name__}: {error})")
    try:
        attrs = dict(ds.attrs)
        try:
            config = tomllib.loads(str(attrs.get("config", "")))
        except tomllib.TOMLDecodeError as error:
            return unreadable(f"{path}: the stored config is not valid TOML ({error})")
        name = attrs.get("name") or config.get("name") or path.stem
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if "accuracy" in ds and "split" in ds["accuracy"].dims:
                accuracy = ds["accuracy"].transpose("run", "epoch", "split")
                splits = [str(s) for s in ds["split"].values]
                values = accuracy.values
                train = final_accuracy(values[..., splits.index("training")]) if "training" in splits else float("nan")
                test = final_accuracy(values[..., splits.index("test")]) if "test" in splits else float("nan")
            else:
                train = test = float("nan")
        estimators = tuple(str(e) for e in ds["estimator"].values) if "estimator" in ds.coords else ()
        return Entry(
            id=stored_id(attrs, config),
            path=path,
            relpath=relpath,
            name=str(name),
            status=COMPLETED,
            config=config,
            created=str(attrs["created"]) if "created" in attrs else None,
            final_train_accuracy=train,
            final_test_accuracy=test,
            n_runs=int(ds.sizes.get("run", 0)),
            n_epochs=int(ds.sizes.get("epoch", 0)),
            estimators=estimators,
        )
    except Exception as error:  # a truncated or damaged file fails only when read
        return unreadable(f"{path} is truncated or damaged ({type(error).__name__}: {error})")
    finally:
        ds.close()
