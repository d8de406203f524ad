"""Component specs: ``name`` or ``name(key=value, ...)`` strings.

Datasets and estimators are chosen by a spec in the config
(``estimator = "kde_upper(variance=0.001)"``). The same text is the estimator's
coordinate label in results files, so a label can be parsed back into the
estimator that made it.
"""
from __future__ import annotations

import re
import tomllib
from typing import Any, Mapping

from ibsim.toml_text import format_value, parse_inline_table
from ibsim.errors import ConfigError

_SPEC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name(a=1, b='x')"`` into ``("name", {"a": 1, "b": "x"})``.

    Raises:
        ConfigError: If the text is not a name with an optional parameter list.
    """
    if not isinstance(spec, str):
        raise ConfigError(f"expected a name such as 'binning(bin_size=0.07)', got {spec!r}")
    match = _SPEC.match(spec)
    if not match:
        raise ConfigError(
            f"cannot read {spec!r}: expected a name with optional parameters, "
            "such as 'binning' or 'binning(bin_size=0.07)'"
        )
    name, inner = match.group(1), match.group(2)
    if inner is None or not inner.strip():
        return name, {}
    try:
        return name, parse_inline_table(inner)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"cannot read the parameters of {spec!r}: {error}; write them as "
            "key = value pairs with TOML values, e.g. 'binning(bin_size=0.07)'"
        ) from None


def format_spec(name: str, params: Mapping[str, Any]) -> str:
    """The canonical text of a spec: ``name(k1=v1, k2=v2)`` in the given order."""
    if not params:
        return name
    return f"{name}(" + ", ".join(f"{k}={format_value(v)}" for k, v in params.items()) + ")"
