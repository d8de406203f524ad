"""The catalog as a table: one row per results file.

:func:`catalog_table` turns entries into a :class:`pandas.DataFrame` with fixed
columns (id, name, status, runs, epochs, estimators, final accuracies, path)
followed by one column per requested config key; list values are shown as
text (``[10, 7, 5]``) so a column holds one kind of value.
:func:`format_table` writes such a frame as plain, aligned text for the
terminal (``ibsim ls``): text left-aligned, numbers right-aligned, accuracies
with three decimals and missing values as ``-``.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import pandas as pd

from ibsim.catalog.entry import Entry
from ibsim.catalog.query import value_text

#: Config keys the table shows when none are asked for.
DEFAULT_KEYS: tuple[str, ...] = (
    "dataset",
    "activation_fn",
    "architecture",
    "optimizer",
    "learning_rate",
    "estimator",
    "calculate_mi_for",
)

#: The columns every table has, in order.
BASE_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "status",
    "n_runs",
    "epochs",
    "estimators",
    "final_train_accuracy",
    "final_test_accuracy",
    "path",
)

ACCURACY_COLUMNS = ("final_train_accuracy", "final_test_accuracy")


def cell(value: Any) -> Any:
    """A config value as a table cell: lists and tables as text, scalars as they are."""
    if isinstance(value, (list, tuple, dict)):
        return value_text(value)
    return value


def catalog_table(entries: Iterable[Entry], keys: Sequence[str] = DEFAULT_KEYS) -> pd.DataFrame:
    """The table of some entries.

    Args:
        entries: The entries, one row each.
        keys: Config keys to add as columns after the fixed ones (a key that
            is already a fixed column is not repeated).

    Returns:
        A DataFrame with the columns of :data:`BASE_COLUMNS` and then ``keys``.
        ``id`` is the experiment's stable id (text), ``n_runs`` and ``epochs`` are nullable integers (missing for
        unreadable files), the accuracies floats (NaN when unknown), and a key
        absent from an entry's config is None.
    """
    extra = [k for k in dict.fromkeys(keys) if k not in BASE_COLUMNS]
    rows = []
    for entry in entries:
        readable = entry.readable
        epochs = entry.config.get("epochs")
        row: dict[str, Any] = {
            "id": entry.id,
            "name": entry.name,
            "status": entry.status,
            "n_runs": entry.n_runs if readable else None,
            "epochs": epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None,
            "estimators": ", ".join(entry.estimators),
            "final_train_accuracy": entry.final_train_accuracy,
            "final_test_accuracy": entry.final_test_accuracy,
            "path": str(entry.path),
        }
        for key in extra:
            row[key] = cell(entry.config.get(key))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*BASE_COLUMNS, *extra])
    for column in ("n_runs", "epochs"):
        frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
    for column in ACCURACY_COLUMNS:
        frame[column] = frame[column].astype("float64")
    for column in ("id", "name", "status", "estimators", "path"):
        frame[column] = frame[column].astype(object)
    return frame


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _text(column: str, value: Any) -> str:
    if _is_missing(value):
        return "-"
    if column in ACCURACY_COLUMNS:
        return f"{float(value):.3f}"
    if isinstance(value, str):
        return value
    return value_text(value)


def _numeric(value: Any) -> bool:
    if isinstance(value, (str, bool)):
        return False
    if isinstance(value, (int, float)):
        return True
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    return bool(kind) and kind in "iuf"


def format_table(frame: pd.DataFrame, gap: str = "  ") -> str:
    """A table as aligned plain text, a header line and one line per row.

    Args:
        frame: The table (e.g. from :func:`catalog_table`).
        gap: Text between columns.

    Returns:
        The text (no trailing newline). Columns of numbers are right-aligned,
        other columns left-aligned; missing values show as ``-``.
    """
    columns = [str(c) for c in frame.columns]
    cells = [[_text(c, v) for c, v in zip(columns, row)] for row in frame.itertuples(index=False, name=None)]
    right = []
    for position, column in enumerate(columns):
        values = [row[position] for row in frame.itertuples(index=False, name=None)]
        present = [v for v in values if not _is_missing(v)]
        right.append(bool(present) and all(_numeric(v) for v in present))
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(items: list[str]) -> str:
        parts = [item.rjust(w) if r else item.ljust(w) for item, w, r in zip(items, widths, right)]
        return gap.join(parts).rstrip()

    return "\n".join([line(columns), *(line(row) for row in cells)])
