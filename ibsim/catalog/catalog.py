"""The experiment catalog: every results file below a folder, to list, query and load.

ibsim writes one self-describing NetCDF file per experiment, with the complete
config inside, so the files themselves are the database: a :class:`Catalog`
scans a folder tree for ``*.nc`` files, reads a summary of each
(:class:`~ibsim.catalog.entry.Entry`), and answers the questions the seed
framework asked its MongoDB store (``eval_tools``): which experiments are
there, which have this config value or a name like this, which config keys
differ between them, and the results of one or of all of them.

Files below a ``*.parts`` folder (unfinished runs' part stores) and hidden
files and folders (names starting with ``.``, e.g. the temporary
``.<name>.nc.<pid>.tmp`` of a file being written) are skipped. Every other
``*.nc`` file is an entry; one that cannot be read is listed with status
``"unreadable"`` and the reason, never raised. A part folder with a
``run.json`` (a run with no finished file yet) is an entry too, with status
``"running"``, ``"interrupted"`` (its process is gone: ``ibsim run --resume``
continues it) or ``"failed"`` (with the error).

Entries are listed sorted by relative path. Their ids are the experiments'
stable ids (a hash of config, seed and data checksum, stored in each file as
``experiment_id``; see :mod:`ibsim.catalog.entry`), not positions: moving files
or adding others keeps them, and copies of an experiment share one. Ids are
looked up in full or by a unique prefix, and an entry also by its path
relative to the folder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import pandas as pd
import xarray as xr

from ibsim.catalog.combine import combine
from ibsim.catalog.entry import (
    COMPLETED, FAILED, INTERRUPTED, RUNNING, UNREADABLE, Entry, read_entry, read_run_entry,
)
from ibsim.catalog.query import check_keys, spec_matches, value_matches, values_equal
from ibsim.catalog.table import DEFAULT_KEYS, catalog_table
from ibsim.errors import ConfigError, ResultsFileError
from ibsim.results import Results

#: Variables :meth:`Catalog.load` takes by default.
DEFAULT_VARIABLES: tuple[str, ...] = ("I_XT", "I_TY", "accuracy", "loss")

_MISSING = object()


def is_skipped(name: str) -> bool:
    """Whether a file or folder name is one the catalog does not enter.

    Hidden names (starting with ``.``) and ``*.parts`` folders hold temporary
    files of runs in progress.
    """
    return name.startswith(".") or name.endswith(".parts")


def scan(root: Path) -> list[Path]:
    """The ``*.nc`` files below ``root``, relative to it, sorted by relative path.

    Args:
        root: The folder.

    Returns:
        Relative paths, skipping hidden files and folders and ``*.parts``
        folders (see :func:`is_skipped`).
    """
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not is_skipped(d)]
        base = Path(folder)
        for name in files:
            if name.endswith(".nc") and not is_skipped(name):
                found.append((base / name).relative_to(root))
    return sorted(found, key=lambda p: p.as_posix())


def scan_runs(root: Path) -> list[Path]:
    """Part folders (``<name>.nc.parts`` with a ``run.json``) below ``root``,
    relative to it: runs going, interrupted or failed."""
    found: list[Path] = []
    for folder, dirs, _ in os.walk(root):
        base = Path(folder)
        for name in dirs:
            if name.endswith(".nc.parts") and (base / name / "run.json").is_file():
                found.append((base / name).relative_to(root))
        dirs[:] = [d for d in dirs if not is_skipped(d)]
    return sorted(found, key=lambda p: p.as_posix())


def config_keys(entries: Iterable[Entry]) -> list[str]:
    """The config keys of the entries (those with a known config), in order of first appearance."""
    keys: dict[str, None] = {}
    for entry in entries:
        keys.update(dict.fromkeys(entry.config))
    return list(keys)


def _entry_matches(entry: Entry, key: str, wanted: Any) -> bool:
    """Whether an entry's config value at ``key`` matches ``wanted`` (see
    :func:`~ibsim.catalog.query.value_matches`); for ``estimator`` a single
    spec also matches the estimates the file holds (``ibsim estimate`` adds
    estimates the stored config does not list)."""
    if key not in entry.config:
        return False
    if value_matches(entry.config[key], wanted, key):
        return True
    if key == "estimator" and entry.estimators and not isinstance(wanted, (list, tuple)):
        return any(spec_matches(label, wanted, key) for label in entry.estimators)
    return False


def status_counts(entries: Iterable[Entry]) -> dict[str, int]:
    """How many entries have each status, in the order completed, running,
    interrupted, failed, unreadable (statuses with none left out)."""
    order = (COMPLETED, RUNNING, INTERRUPTED, FAILED, UNREADABLE)
    statuses = [entry.status for entry in entries]
    return {status: statuses.count(status) for status in order if status in statuses}


class Catalog:
    """The results files below a folder, as a list of entries to query.

    ``Catalog(folder)`` scans the folder tree; :meth:`find` and :meth:`by_id`
    return filtered catalogs (with the same ids), :meth:`table` a
    :class:`pandas.DataFrame`, :meth:`results` one file's
    :class:`~ibsim.results.Results` and :meth:`load` the chosen variables of
    all files as one :class:`xarray.Dataset`. ``len(catalog)``, iteration
    over its :class:`~ibsim.catalog.entry.Entry` objects and ``catalog[id]``
    work as expected.

    Args:
        folder: The folder to scan (recursively).

    Raises:
        ConfigError: The folder does not exist or is not a folder.

    Example:
        >>> catalog = Catalog("results")                     # doctest: +SKIP
        >>> catalog.find(activation_fn="relu").table()      # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        root = Path(folder)
        if not root.exists():
            raise ConfigError(f"results folder {root} does not exist")
        if not root.is_dir():
            raise ConfigError(f"{root} is not a folder (the catalog lists the results files in a folder)")
        listing = [(rel, False) for rel in scan(root)]
        listing += [(rel.with_name(rel.name[: -len(".parts")]), True) for rel in scan_runs(root)]
        listing.sort(key=lambda item: (item[0].as_posix(), item[1]))
        entries = [
            read_run_entry(root / rel.with_name(rel.name + ".parts"), rel) if is_run else read_entry(root / rel, rel)
            for rel, is_run in listing
        ]
        self._setup(root, entries, config_keys(entries), ())

    def _setup(self, root: Path, entries: list[Entry], keys: list[str], filters: tuple[str, ...]) -> None:
        self.root: Path = root
        self.entries: list[Entry] = entries
        self._keys = keys
        self._filters = filters

    def _subset(self, entries: list[Entry], description: str) -> "Catalog":
        subset = object.__new__(Catalog)
        subset._setup(self.root, entries, self._keys, (*self._filters, description))
        return subset

    # ------------------------------------------------------------ container
    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __getitem__(self, key: str | os.PathLike[str]) -> Entry:
        """The entry with this id (or unique id prefix), or at this path
        relative to the folder (``"tanh/tanh.nc"``).

        Raises:
            ConfigError: No entry matches, the prefix is ambiguous, or several
                files share the id (copies of one experiment: choose one by
                its path).
        """
        found = self._lookup(key)
        if len(found) > 1:
            paths = ", ".join(e.relpath.as_posix() for e in found)
            raise ConfigError(
                f"id {key} is shared by {len(found)} files in {self.root} ({paths}): copies of the same experiment "
                f"(same config, seed and data); choose one by its path, e.g. catalog[{found[0].relpath.as_posix()!r}]"
            )
        return found[0]

    def _lookup(self, key: Any) -> list[Entry]:
        """The entries an id, a unique id prefix or a relative path stands for (at least one)."""
        if isinstance(key, os.PathLike) or (isinstance(key, str) and key.endswith(".nc")):
            wanted = Path(key)
            found = [e for e in self.entries if e.relpath == wanted or e.path == wanted]
            if not found:
                raise ConfigError(f"no experiment at {key} in the catalog of {self.root}")
            return found
        if not isinstance(key, str):
            example = f" such as {self.entries[0].id!r}" if self.entries else ""
            raise ConfigError(
                f"experiment ids are text{example} (the id column of `ibsim ls`; they are hashes of config, seed "
                f"and data, no longer positions in the listing), got {key!r}"
            )
        text = key.strip().lower()
        if not text:
            raise ConfigError("an experiment id cannot be empty")
        exact = [e for e in self.entries if e.id == text]
        if exact:
            return exact
        found = [e for e in self.entries if e.id.startswith(text)]
        ids = list(dict.fromkeys(e.id for e in found))
        if len(ids) > 1:
            raise ConfigError(f"experiment id prefix {key!r} is ambiguous in {self.root}: it starts "
                              f"{', '.join(ids)}; give more characters")
        if not found:
            raise ConfigError(self._no_id(key))
        return found

    def _no_id(self, entry_id: Any) -> str:
        ids = list(dict.fromkeys(e.id for e in self.entries))
        shown = ", ".join(ids[:10]) + (f", ... ({len(ids)} in all)" if len(ids) > 10 else "") if ids else "none"
        return f"no experiment with id {entry_id} in the catalog of {self.root} (ids: {shown})"

    @property
    def ids(self) -> list[str]:
        """The entries' ids, in order."""
        return [entry.id for entry in self.entries]

    @property
    def relpaths(self) -> list[str]:
        """The entries' files relative to the folder (``"tanh/tanh.nc"``), in order."""
        return [entry.relpath.as_posix() for entry in self.entries]

    @property
    def names(self) -> list[str]:
        """The entries' experiment names, in order."""
        return [entry.name for entry in self.entries]

    @property
    def keys(self) -> list[str]:
        """Config keys present in at least one entry's config."""
        return list(self._keys)

    def __repr__(self) -> str:
        counts = f"{len(self.entries)} experiment{'s' if len(self.entries) != 1 else ''}"
        by_status = status_counts(self.entries)
        if set(by_status) - {COMPLETED}:
            counts += " (" + ", ".join(f"{n} {status}" for status, n in by_status.items()) + ")"
        where = f" where {' and '.join(self._filters)}" if self._filters else ""
        shown = ", ".join(f"{e.id}: {e.name}" for e in self.entries[:6])
        more = ", ..." if len(self.entries) > 6 else ""
        return f"<Catalog of {self.root}{where}: {counts}" + (f" [{shown}{more}]>" if shown else ">")

    # -------------------------------------------------------------- queries
    def find(self, name: str | None = None, *, where: Mapping[str, Any] | None = None, **conditions: Any) -> "Catalog":
        """The entries whose name and config match.

        Args:
            name: A regular expression searched in the experiment name (a
                partial match: ``"tanh"`` finds ``tishby_tanh``).
            where: Conditions as a mapping, for keys that cannot be keyword
                arguments (``"name"`` for an exact name, or the ``--where``
                options of ``ibsim ls``).
            **conditions: ``key=value``: keep entries whose config value at
                ``key`` matches ``value``: an equal value, or text of it
                (``architecture="[10, 7, 5]"``, ``learning_rate="0.0004"``); a
                list contains it (``estimator="binning(bin_size=0.07)"``
                matches files with that estimator among others; besides the
                config's estimators, those ``ibsim estimate`` added to the file
                count); specs compare as specs; see :mod:`ibsim.catalog.query`.

        Returns:
            A catalog of the matching entries (same ids). Conditions on config
            values keep only entries with a known config (not unreadable files).

        Raises:
            ConfigError: A key is in no file's config (the message suggests the
                closest key), or ``name`` is not a valid regular expression.
        """
        wanted = {**dict(where or {}), **conditions}
        if wanted and self._keys:
            check_keys(wanted, self._keys, str(self.root))
        pattern = None
        if name is not None:
            try:
                pattern = re.compile(name)
            except re.error as error:
                raise ConfigError(f"invalid name pattern {name!r}: {error}") from None
        kept = []
        for entry in self.entries:
            if pattern is not None and not pattern.search(entry.name):
                continue
            if wanted and not all(_entry_matches(entry, key, value) for key, value in wanted.items()):
                continue
            kept.append(entry)
        described = ([f"name ~ {name!r}"] if name is not None else []) + [f"{k} = {v!r}" for k, v in wanted.items()]
        return self._subset(kept, " and ".join(described) or "all")

    def by_id(self, *ids: str) -> "Catalog":
        """The entries with these ids, in the order given.

        Args:
            *ids: Entry ids, each in full or as a prefix that only one id
                starts with (``"b5e5f5"``), or a file's path relative to the
                folder; an iterable of them works too. All copies of an
                experiment (files sharing its id) are taken.

        Raises:
            ConfigError: An id is not in this catalog, a prefix is ambiguous,
                or an id is not text (ids are no longer integers).
        """
        flat: list[Any] = []
        for item in ids:
            if isinstance(item, Iterable) and not isinstance(item, (str, bytes)):
                flat.extend(item)
            else:
                flat.append(item)
        chosen: dict[int, Entry] = {}
        for item in flat:
            for entry in self._lookup(item):
                chosen.setdefault(id(entry), entry)
        entries = list(chosen.values())
        return self._subset(entries, f"id in {list(dict.fromkeys(e.id for e in entries))}")

    def differing_keys(self) -> list[str]:
        """The config keys whose values differ across the readable entries.

        A key present in some configs and absent from others differs; the key
        ``name`` is left out. Keys come in the order of the stored configs.
        """
        readable = [entry for entry in self.entries if entry.readable]
        differing = []
        for key in config_keys(readable):
            if key == "name":
                continue
            values = [entry.config.get(key, _MISSING) for entry in readable]
            first = values[0]
            for value in values[1:]:
                if (value is _MISSING) != (first is _MISSING) or (
                    value is not _MISSING and not values_equal(first, value)
                ):
                    differing.append(key)
                    break
        return differing

    # -------------------------------------------------------------- outputs
    def table(self, keys: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per entry: id, name, status, n_runs, epochs, estimators, the
        final accuracies, path, then one column per config key.

        Args:
            keys: Config keys to show (default: :data:`~ibsim.catalog.table.DEFAULT_KEYS`).
                Lists show as text, ``"[10, 7, 5]"``.

        Raises:
            ConfigError: A key in ``keys`` is in no file's config.
        """
        if keys is None:
            keys = DEFAULT_KEYS
        else:
            keys = [keys] if isinstance(keys, str) else list(keys)
            if self._keys:
                check_keys(keys, self._keys, str(self.root))
        return catalog_table(self.entries, keys)

    def results(self, entry_id: str | os.PathLike[str]):
        """The :class:`~ibsim.results.Results` of one entry, opened lazily.

        Args:
            entry_id: The entry's id (or a unique prefix), or its path
                relative to the folder.

        Raises:
            ConfigError: No entry or several have this id (see :meth:`__getitem__`).
            ResultsFileError: The file is unreadable, or the run has no
                finished file yet (running, interrupted or failed).
        """
        entry = self[entry_id]
        if entry.status == UNREADABLE:
            raise ResultsFileError(entry.error or f"{entry.path} is unreadable")
        if not entry.readable:
            raise ResultsFileError(f"{entry.path} has no results yet: the run is {entry.status} ({entry.note})")
        return Results.open(entry.path)

    def load(self, variables: Sequence[str] = DEFAULT_VARIABLES) -> xr.Dataset:
        """The readable entries' variables as one dataset along ``experiment``.

        The files are read one by one into memory and concatenated with an
        outer join, so files with different runs, epochs, layers or estimators
        align (NaN where a file has no value). Coordinates along
        ``experiment``: the names (index), ``id``, ``path``, and one text
        coordinate per key of :meth:`differing_keys` (see
        :mod:`ibsim.catalog.combine`).

        Args:
            variables: Variables to take from each file (a single name works too).

        Raises:
            ResultsFileError: No entry is readable, or a file lacks a variable.
        """
        if isinstance(variables, str):
            variables = [variables]
        readable = [entry for entry in self.entries if entry.readable]
        return combine(readable, list(variables), self.differing_keys())
