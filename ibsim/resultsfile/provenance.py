"""Provenance of a results file: who made it, from which code, when, and what went wrong on the way.

Besides the complete config (``attrs["config"]``) a results file records the
state of the code and the run that produced it:

- the git commit of the working directory the run was started in, and whether
  it had changes (``git_commit``, ``git_dirty``, ``git_status``; absent when
  that folder is not in a git repository or git is not installed);
- the commit of ibsim itself when it runs from a git checkout
  (``ibsim_commit``, ``ibsim_dirty``);
- the host, the command line, the Python version;
- when the run started and finished (UTC, ISO 8601) and how long it took;
- the warnings the run emitted, one per line;
- a stable experiment id (:func:`experiment_id`): a content hash of the
  config, its seed and the dataset's checksum, which the catalog lists.

:func:`record_run` decorates :func:`ibsim.pipeline.runner.run_experiments`: it
starts a :class:`RunRecord` (start time, host, command line, git state) and
records the Python warnings shown while the function runs; the runner hands the
record to each assembly unit, whose :meth:`RunRecord.attrs` become global
attributes of the results file. :func:`finish_attrs` stamps ``finished_at``
and ``duration_s`` when the file is complete
(:func:`ibsim.resultsfile.writer.write_dataset`). Nothing here fails a run: git
that is missing, slow or confused leaves its attributes out.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import tomllib
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar
from ibsim.datasets.harmonics import VAR_U_SHA256
from ibsim.datasets.mushroom import MUSHROOM_FILE
from ibsim.datasets.mnist import MNIST_FILES
from ibsim.datasets.mnist import FASHION_FILES
from ibsim.spec import parse_spec
from ibsim.datasets import DATASETS
from ibsim.errors import ConfigError

#: Seconds a git command may take before its attributes are left out.
GIT_TIMEOUT_S = 5.0
#: Hex characters of an experiment id.
ID_LENGTH = 12
#: Lines of ``git status --porcelain`` kept in ``git_status``.
GIT_STATUS_LINES = 200

F = TypeVar("F", bound=Callable[..., Any])


# ---------------------------------------------------------------------- time
def utc_now() -> datetime:
    """The current UTC time."""
    return datetime.now(timezone.utc)


def iso_time(moment: datetime) -> str:
    """``moment`` as UTC ISO 8601 text with milliseconds, e.g. ``2024-05-01T12:00:00.123+00:00``."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def finish_attrs(started_at: str, finished: datetime | None = None) -> dict[str, Any]:
    """``finished_at`` and ``duration_s`` of a run that started at ``started_at``.

    Args:
        started_at: The ``started_at`` attribute (ISO 8601).
        finished: When the run finished (default: now).

    Returns:
        The two attributes; only ``finished_at`` when ``started_at`` cannot be read.
    """
    finished = finished or utc_now()
    attrs: dict[str, Any] = {"finished_at": iso_time(finished)}
    try:
        started = datetime.fromisoformat(str(started_at))
    except ValueError:
        return attrs
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    # both ends as written (milliseconds), so duration_s = finished_at - started_at exactly
    finished = datetime.fromisoformat(attrs["finished_at"])
    attrs["duration_s"] = round((finished - started).total_seconds(), 3)
    return attrs


# ----------------------------------------------------------------------- git
def _git(folder: Path, *args: str) -> str | None:
    """Output of ``git args`` run in ``folder``; None when git is missing,
    fails, or takes longer than :data:`GIT_TIMEOUT_S`."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(["git", *args], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(folder: str | os.PathLike[str] | None = None, prefix: str = "git") -> dict[str, Any]:
    """The commit of the git repository holding ``folder`` and whether it has changes.

    Args:
        folder: The folder (default: the current working directory).
        prefix: Prefix of the attribute names.

    Returns:
        ``{prefix}_commit`` (``git rev-parse HEAD``), ``{prefix}_dirty`` (1 when
        ``git status --porcelain`` lists anything, else 0) and, when dirty,
        ``{prefix}_status`` (its lines); an attribute is left out when git
        cannot tell (not a repository, no commit yet, git missing or too slow).
    """
    try:
        where = Path(folder) if folder is not None else Path.cwd()
    except OSError:  # the working directory was removed
        return {}
    state: dict[str, Any] = {}
    commit = _git(where, "rev-parse", "HEAD")
    if commit and commit.strip():
        state[f"{prefix}_commit"] = commit.strip()
    status = _git(where, "status", "--porcelain")
    if status is not None:
        lines = [line for line in status.splitlines() if line.strip()]
        state[f"{prefix}_dirty"] = int(bool(lines))
        if lines:
            more = [f"... ({len(lines) - GIT_STATUS_LINES} more)"] if len(lines) > GIT_STATUS_LINES else []
            state[f"{prefix}_status"] = "\n".join(lines[:GIT_STATUS_LINES] + more)
    return state


def ibsim_checkout() -> Path | None:
    """The git checkout ibsim runs from (the folder holding the ``ibsim``
    package and a ``.git``), or None when ibsim is installed as a package."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / ".git").exists() else None


def ibsim_git_state() -> dict[str, Any]:
    """``ibsim_commit`` and ``ibsim_dirty`` of ibsim's own checkout (empty when not one)."""
    checkout = ibsim_checkout()
    if checkout is None:
        return {}
    state = git_state(checkout, "ibsim")
    state.pop("ibsim_status", None)
    return state


# ------------------------------------------------------------------ warnings
def warning_line(message: Any, category: type | None = None, filename: str = "", lineno: int = 0) -> str:
    """One line for a warning: ``UserWarning: text (file.py:12)``."""
    text = " ".join(str(message).split())
    name = getattr(category, "__name__", "Warning")
    where = f" ({Path(filename).name}:{lineno})" if filename else ""
    return f"{name}: {text}{where}"


@contextlib.contextmanager
def capture_warnings(into: list[str]) -> Iterator[list[str]]:
    """Record the Python warnings shown while the block runs, as lines in
    ``into`` (each distinct line once); they are still shown as before."""
    previous = warnings.showwarning

    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        try:
            text = warning_line(message, category, filename, lineno)
            if text not in into:
                into.append(text)
        finally:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield into
    finally:
        if warnings.showwarning is show:
            warnings.showwarning = previous


# --------------------------------------------------------------- the record
@dataclass
class RunRecord:
    """What is known of a run when it starts, and the warnings it shows.

    Small and picklable: the runner sends it to the workers that write the
    results files.
    """

    started_at: str
    host: str
    command_line: str
    git: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> "RunRecord":
        """A record of a run starting now in this process and working directory."""
        git = {**git_state(), **ibsim_git_state()}
        return cls(iso_time(utc_now()), socket.gethostname(), shlex.join(str(a) for a in sys.argv), git)

    def attrs(self, notes: Iterable[str] = ()) -> dict[str, Any]:
        """The global attributes of a results file of this run.

        Args:
            notes: More warning lines (e.g. the runs that diverged).

        Returns:
            ``started_at``, ``host``, ``command_line``, the git attributes
            that are known and ``warnings`` (one per line, '' when none). ``finished_at`` and ``duration_s`` come when the file
            is complete (:func:`finish_attrs`).
        """
        lines = list(dict.fromkeys([*self.warnings, *(n for n in notes if n)]))
        return {
            "started_at": self.started_at,
            "host": self.host,
            "command_line": self.command_line,
            **self.git,
            "warnings": "\n".join(lines),
        }


_local = threading.local()


def _records() -> list[RunRecord]:
    if not hasattr(_local, "records"):
        _local.records = []
    return _local.records


def current_record() -> RunRecord:
    """The record of the innermost :func:`record_run` call going on in this
    thread, or a new record when there is none."""
    records = _records()
    return records[-1] if records else RunRecord.start()


def record_run(function: F) -> F:
    """Decorator: while ``function`` runs, a :class:`RunRecord` started at the
    call is :func:`current_record` and collects the warnings shown."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        record = RunRecord.start()
        records = _records()
        records.append(record)
        try:
            with capture_warnings(record.warnings):
                return function(*args, **kwargs)
        finally:
            records.remove(record)

    return wrapper  # type: ignore[return-value]


# ------------------------------------------------------------ experiment ids
def _dataset_files_checksums(name: str) -> list[str]:
    """Checksums of the files a registered dataset is read from (empty when unknown)."""
    if name == "harmonics":
        return [f"sha256:{VAR_U_SHA256}"]
    files: list[Any] = []
    if name == "mushroom":
        files = [MUSHROOM_FILE]
    elif name == "mnist":
        files = [MNIST_FILES[k] for k in sorted(MNIST_FILES)]
    elif name == "fashion_mnist":
        files = [FASHION_FILES[k] for k in sorted(FASHION_FILES)]
    return [f"{algorithm}:{digest}" for spec in files for algorithm, digest in spec.checksums]


def data_checksum(dataset: str) -> str:
    """The checksum of a dataset's data, for experiment ids.

    Datasets read from files with published checksums (harmonics' ``var_u.mat``,
    MNIST, Fashion-MNIST, mushroom) give those checksums (``sha256:<hex>``,
    several joined by ``,``); a dataset class may also declare a
    ``data_checksum`` class attribute. Datasets whose spec carries a ``sha256``
    parameter (your own data: ``arrays``, ``file``) give it: ``sha256:<hex>``,
    the checksum of the arrays' names, dtypes, shapes and bytes
    (:func:`ibsim.datasets.arrays_sha256`). Others (generated or bundled data)
    give their spec: ``spec:<dataset spec>``.

    Args:
        dataset: The dataset spec of a config (``harmonics``, ``mnist(subset=all)``).
    """
    try:
        name, params = parse_spec(dataset)
    except ConfigError:  # parameters this version cannot read: the name still tells the files
        name, params = dataset.split("(", 1)[0].strip(), {}
    if isinstance(params.get("sha256"), str) and params["sha256"]:
        return f"sha256:{params['sha256']}"
    try:
        name = DATASETS.canonical(name)
    except ConfigError:
        return f"spec:{dataset}"
    declared = getattr(DATASETS.get(name), "data_checksum", None)
    sums = [str(declared)] if isinstance(declared, str) and declared else _dataset_files_checksums(name)
    return ",".join(sums) if sums else f"spec:{dataset}"


def experiment_id(config: str | Mapping[str, Any]) -> str:
    """The stable id of an experiment: the first :data:`ID_LENGTH` hex characters
    of the sha256 of its config, its seed and its data checksum.

    The config is hashed as its values (canonical JSON with sorted keys), so
    the same config gives the same id however its TOML text is laid out; the
    id does not depend on the file's name or folder.

    Args:
        config: The stored config as TOML text (``attrs["config"]``), as a
            dict read from such text, or a :class:`~ibsim.config.Config`.

    Raises:
        tomllib.TOMLDecodeError: The text is not TOML.
    """
    if hasattr(config, "to_toml"):  # a Config: hash what a results file stores
        config = config.to_toml()
    values = tomllib.loads(config) if isinstance(config, str) else dict(config)
    payload = {
        "config": values,
        "seed": values.get("seed"),
        "data": data_checksum(str(values.get("dataset", ""))),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_LENGTH]


def identity_attrs(config_toml: str) -> dict[str, Any]:
    """``experiment_id`` and ``data_checksum`` of a config (TOML text); empty
    when the text is not TOML."""
    try:
        values = tomllib.loads(config_toml)
    except tomllib.TOMLDecodeError:
        return {}
    return {"experiment_id": experiment_id(values), "data_checksum": data_checksum(str(values.get("dataset", "")))}
