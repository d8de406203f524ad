"""TOML text: formatting values and documents, and parsing single values.

Python's ``tomllib`` reads TOML but does not write it; the configs ibsim writes
(into results files, into sweep points) are flat tables of scalars and lists
plus an optional ``[sweep]`` table, which this module formats. The round trip
``tomllib.loads(dumps(d)) == d`` is a tested property.
"""
from __future__ import annotations

import math
import re
import tomllib
from typing import Any, Mapping

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_key(key: str) -> str:
    """A TOML key: bare when possible, quoted otherwise."""
    return key if _BARE_KEY.match(key) else format_value(key)


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(char: str) -> str:
    """One character of a TOML basic string."""
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char < " " or char == "\x7f":
        return f"\\u{ord(char):04x}"
    return char


def format_value(value: Any) -> str:
    """Format one value as TOML (str, bool, int, float, list, dict)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + "".join(_escape(c) for c in value) + '"'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{format_key(k)} = {format_value(v)}" for k, v in value.items()) + "}"
    if hasattr(value, "item"):  # numpy scalars
        return format_value(value.item())
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")


def dumps(document: Mapping[str, Any]) -> str:
    """Format a document: top-level scalars first, then one ``[table]`` per mapping."""
    lines = [
        f"{format_key(k)} = {format_value(v)}"
        for k, v in document.items()
        if not isinstance(v, Mapping) and v is not None
    ]
    for key, table in document.items():
        if isinstance(table, Mapping):
            lines.append("")
            lines.append(f"[{format_key(key)}]")
            lines.extend(f"{format_key(k)} = {format_value(v)}" for k, v in table.items() if v is not None)
    return "\n".join(lines) + "\n"


def parse_value(text: str) -> Any:
    """Parse a TOML value; text that is not valid TOML is taken as a plain string.

    ``parse_value("[10,7,5]") == [10, 7, 5]``, ``parse_value("0.1") == 0.1``,
    ``parse_value("kde_upper") == "kde_upper"``.
    """
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def parse_inline_table(text: str) -> dict[str, Any]:
    """Parse ``a = 1, b = "x"`` (the inside of an inline table)."""
    return tomllib.loads(f"v = {{{text}}}")["v"]
