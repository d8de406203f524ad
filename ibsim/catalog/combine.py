"""Many results files as one dataset, along a new dimension ``experiment``.

:func:`combine` opens each file, takes the chosen variables, reads them into
memory, closes the file and concatenates the pieces along ``experiment`` with
an outer join, as ``xarray.open_mfdataset(..., combine="nested",
concat_dim="experiment", join="outer")`` would: files with other runs, epochs,
layers or estimators align on their coordinates, with NaN where a file has no
value. The ``experiment`` coordinate holds the experiment names; non-index
coordinates along it hold each file's catalog ``id``, its ``path`` and, per
config key that differs across the files, the value as text (the coordinate
is named after the key, or ``config_<key>`` where the key is also the name of
a dimension or variable, e.g. ``config_estimator``).
"""
from __future__ import annotations

from typing import Sequence

import xarray as xr

from ibsim.catalog.entry import Entry
from ibsim.catalog.query import value_text
from ibsim.errors import ResultsFileError
from ibsim.resultsfile.reader import open_dataset, require


def coordinate_name(key: str, taken: set[str]) -> str:
    """The coordinate name of a config key: the key, or ``config_<key>`` if taken."""
    return f"config_{key}" if key in taken else key


def read_piece(entry: Entry, variables: Sequence[str]) -> xr.Dataset:
    """The chosen variables of one file, in memory, with their coordinates.

    Raises:
        ResultsFileError: The file cannot be read or lacks a variable.
    """
    ds = open_dataset(entry.path)
    try:
        available = ", ".join(sorted(str(v) for v in ds.data_vars))
        require(ds, variables, "Catalog.load", entry.path, hint=f"it has {available}")
        try:
            piece = ds[list(variables)].load()
        except Exception as error:
            raise ResultsFileError(f"{entry.path} is truncated or damaged ({type(error).__name__}: {error})") from None
    finally:
        ds.close()
    piece.attrs = {}
    return piece


def combine(entries: Sequence[Entry], variables: Sequence[str], differing: Sequence[str]) -> xr.Dataset:
    """Concatenate the variables of readable entries along ``experiment``.

    Args:
        entries: Readable entries, in order.
        variables: Variables to take from each file.
        differing: Config keys to add as text coordinates along ``experiment``.

    Returns:
        The combined dataset (in memory).

    Raises:
        ResultsFileError: There are no entries, or a file cannot be read or
            lacks a variable.
    """
    if not entries:
        raise ResultsFileError("no readable results files to load")
    variables = list(dict.fromkeys(variables))
    pieces = [read_piece(entry, variables) for entry in entries]
    taken = {"experiment", "id", "path"}
    for piece in pieces:
        taken.update(str(name) for name in piece.variables)
        taken.update(str(dim) for dim in piece.dims)
    names = {key: coordinate_name(key, taken) for key in differing}
    labelled = []
    for entry, piece in zip(entries, pieces):
        piece = piece.expand_dims(experiment=[entry.name])
        coords = {"id": ("experiment", [entry.id]), "path": ("experiment", [str(entry.path)])}
        for key, name in names.items():
            coords[name] = ("experiment", [value_text(entry.config.get(key))])
        labelled.append(piece.assign_coords(coords))
    combined = xr.concat(
        labelled, dim="experiment", join="outer", data_vars="all", coords="minimal", compat="override",
        combine_attrs="drop",
    )
    combined.attrs = {
        "title": "ibsim results of several experiments",
        "variables": ", ".join(variables),
    }
    return combined
