"""``ibsim ls``: list the results files below a folder as a table.

``ibsim ls FOLDER [--where key=value ...] [--name REGEX] [--differing] [--keys k1,k2]``
prints one aligned line per results file (id, name, status, runs, epochs,
estimators, final accuracies, path and some config keys); the id is the
experiment's stable id (a hash of config, seed and data, stored in the file).
``--where`` values are TOML, as for ``--set``; for a list-valued key (such as
``estimator`` or ``architecture``) a single value means "contains", and specs
(``estimator``, ``dataset``) compare as specs, however they are written;
``--name`` is a regular expression searched in the
experiment name; ``--differing`` shows only the config keys whose values differ
across the listed experiments. Unreadable files are listed with status
``unreadable``, and runs without a finished file yet (their part folders) with
``running``, ``interrupted`` or ``failed``; after the table, one line for each
of these says why (the error) or what to do (the command that resumes it).

:func:`add_ls_command` adds the command to the ``ibsim`` parser's
subcommands; its handler is :func:`command_ls`.
"""
from __future__ import annotations

import argparse
from typing import Any

from ibsim.catalog.catalog import Catalog, status_counts
from ibsim.catalog.query import check_keys
from ibsim.catalog.table import ACCURACY_COLUMNS, DEFAULT_KEYS, catalog_table, format_table
from ibsim.errors import ConfigError
from ibsim.config.config import parse_overrides


def add_ls_command(commands: Any) -> argparse.ArgumentParser:
    """Add the ``ls`` command to an argparse subparsers object.

    Args:
        commands: What ``parser.add_subparsers()`` returned.

    Returns:
        The ``ls`` parser; its ``handler`` default is :func:`command_ls`.
    """
    ls = commands.add_parser(
        "ls", help="list the results files below a folder: names, configs, accuracies",
        description="List the ibsim results files (*.nc) below a folder as a table.",
    )
    ls.add_argument("folder", help="folder to scan for results files (recursively)")
    ls.add_argument(
        "--where", action="append", default=[], metavar="KEY=VALUE",
        help="keep experiments whose config key has this TOML value, e.g. --where activation_fn=relu "
             "--where 'architecture=[10,7,5]' (repeat to combine); for a list-valued key a single value means "
             "'contains': --where 'estimator=binning(bin_size=0.07)' keeps files with that estimator among others",
    )
    ls.add_argument("--name", metavar="REGEX", help="keep experiments whose name matches this regular expression")
    ls.add_argument("--differing", action="store_true",
                    help="show only the config keys whose values differ across the listed experiments")
    ls.add_argument("--keys", metavar="K1,K2",
                    help=f"config keys to show as columns (default: {','.join(DEFAULT_KEYS)})")
    ls.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    ls.add_argument("--quiet", "-q", action="store_true", help="no summary line")
    ls.set_defaults(handler=command_ls)
    return ls


def parse_where(items: list[str]) -> dict[str, Any]:
    """``["lr=0.1", "architecture=[10,7]"]`` → ``{"lr": 0.1, "architecture": [10, 7]}`` (TOML values).

    Raises:
        ConfigError: An item is not ``key=value``.
    """
    for item in items:
        if "=" not in item or not item.partition("=")[0].strip():
            raise ConfigError(f"--where expects key=value, got {item!r}")
    return parse_overrides(items)


def parse_keys(text: str | None) -> list[str] | None:
    """``"a,b, c"`` → ``["a", "b", "c"]``; None stays None."""
    if text is None:
        return None
    return [key.strip() for key in text.split(",") if key.strip()]


def command_ls(args: argparse.Namespace) -> int:
    """Print the table of the results files below ``args.folder``.

    Args:
        args: Parsed arguments of the ``ls`` command.

    Returns:
        0 (also when nothing is found: a message says so).

    Raises:
        ConfigError: The folder does not exist, or a ``--where``/``--keys`` key
            is in no file's config, or ``--name`` is not a valid pattern.
    """
    catalog = Catalog(args.folder)
    if len(catalog) == 0:
        print(f"no results files (*.nc) in {catalog.root}")
        return 0
    where = parse_where(list(getattr(args, "where", None) or []))
    name = getattr(args, "name", None)
    selected = catalog.find(name, where=where) if (where or name is not None) else catalog
    if len(selected) == 0:
        filters = [f"--name {name}"] if name is not None else []
        filters += [f"--where {item}" for item in getattr(args, "where", None) or []]
        print(f"no experiments in {catalog.root} match {' '.join(filters)} ({len(catalog)} listed without them)")
        return 0
    keys = parse_keys(getattr(args, "keys", None))
    if keys and catalog.keys:
        check_keys(keys, catalog.keys, str(catalog.root))
    differing = selected.differing_keys() if getattr(args, "differing", False) else None
    if differing is not None:
        columns = list(dict.fromkeys([*differing, *(keys or [])]))
        frame = catalog_table(selected, columns)
        fixed = ["id", "name", "status", *ACCURACY_COLUMNS]
        frame = frame[fixed + [k for k in columns if k not in fixed]]
    else:
        frame = catalog_table(selected, keys if keys is not None else DEFAULT_KEYS)
        frame["path"] = [entry.relpath.as_posix() for entry in selected]
    print(format_table(frame))
    others = [entry for entry in selected if not entry.readable]
    for entry in others:
        print(f"{entry.status} {entry.id} ({entry.relpath.as_posix()}): {entry.note}")
    if not getattr(args, "quiet", False):
        count = f"{len(selected)} of {len(catalog)}" if len(selected) != len(catalog) else f"{len(catalog)}"
        note = "".join(f", {n} {status}" for status, n in status_counts(others).items())
        extra_note = "; no config key differs" if differing == [] else ""
        print(f"{count} experiment(s) in {catalog.root}{note}{extra_note}")
    return 0
