"""Comparing stored config values with the values a user asks for.

A catalog query (``Catalog.find(activation_fn="relu")``, ``ibsim ls --where
learning_rate=0.0004``) compares a config value read from a results file with
a value typed by a user, in Python or on the command line. The two rarely have
the same form: a list may come as ``[10, 7, 5]`` or as the text
``"[10, 7, 5]"``, a number as ``0.0004`` or ``"0.0004"``, and the stored
``estimator`` is always a list even when the config named one estimator. The
rules, in order (the first that holds is a match):

1. the values are equal (numbers by value, lists element by element, a bool
   only equals a bool);
2. the wanted value is text equal to the stored value's text form
   (:func:`value_text`, e.g. ``"[10, 7, 5]"``, ``"relu"``, ``"0.0004"``,
   ``"true"``) or its TOML form (``'["binning(bin_size=0.07)"]'``);
3. the wanted value is text that parses as TOML into an equal value
   (``"[10,7,5]"``, ``"4e-4"``);
4. the stored value is a one-element list whose element matches
   (``estimator="binning(bin_size=0.07)"``).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from ibsim.config.toml_text import format_value, parse_value
from ibsim.errors import ConfigError
from ibsim.registry import did_you_mean


def value_text(value: Any) -> str:
    """The text form of a config value, as the catalog's table shows it.

    Strings are shown as they are, lists as ``[a, b, c]`` (their elements in
    this same form), booleans as TOML's ``true``/``false``, numbers as Python
    writes them and a missing value (``None``) as the empty string.

    Args:
        value: A value read from a stored config.

    Returns:
        The text.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {value_text(v)}" for k, v in value.items()) + "}"
    if hasattr(value, "item"):  # numpy scalars
        return value_text(value.item())
    return str(value)


def format_config(config: Mapping[str, Any], *keys: str, separator: str = ", ") -> str:
    """Some keys of a config as ``key=value`` text, e.g. for a plot title.

    The seed's ``format_config(config, *keys)``; with the keys of
    :meth:`Catalog.differing_keys <ibsim.catalog.Catalog.differing_keys>` it
    labels each experiment by what sets it apart.

    Args:
        config: A stored config (``entry.config``).
        *keys: The keys to show (all keys when none are given).
        separator: Text between items.

    Returns:
        ``"activation_fn=relu, learning_rate=0.0004"``; a key absent from the
        config shows as ``key=-``.
    """
    keys = keys or tuple(config)
    return separator.join(f"{key}={value_text(config[key]) if key in config else '-'}" for key in keys)


def values_equal(actual: Any, wanted: Any) -> bool:
    """Whether two config values are equal (rule 1 of the module docstring).

    Args:
        actual: The stored value.
        wanted: The value asked for.

    Returns:
        True when equal: numbers by value (floats to 1e-12 relative), lists and
        tuples element by element, a bool only equal to a bool.
    """
    if hasattr(actual, "item") and not isinstance(actual, (list, tuple, str)):
        actual = actual.item()
    if hasattr(wanted, "item") and not isinstance(wanted, (list, tuple, str)):
        wanted = wanted.item()
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return isinstance(actual, bool) and isinstance(wanted, bool) and actual == wanted
    if isinstance(actual, (list, tuple)) or isinstance(wanted, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and isinstance(wanted, (list, tuple))
            and len(actual) == len(wanted)
            and all(values_equal(a, w) for a, w in zip(actual, wanted))
        )
    if isinstance(actual, (int, float)) and isinstance(wanted, (int, float)):
        if isinstance(actual, float) or isinstance(wanted, float):
            return actual == wanted or math.isclose(actual, wanted, rel_tol=1e-12, abs_tol=0.0)
        return actual == wanted
    try:
        return bool(actual == wanted)
    except Exception:  # exotic objects that do not compare
        return False


def value_matches(actual: Any, wanted: Any) -> bool:
    """Whether a stored config value matches a wanted value (all four rules).

    Args:
        actual: The stored value.
        wanted: The value asked for: a value, or text of it.

    Returns:
        True for a match.
    """
    if values_equal(actual, wanted):
        return True
    if isinstance(wanted, str):
        if wanted == value_text(actual):
            return True
        try:
            if wanted == format_value(actual):
                return True
        except TypeError:
            pass
        parsed = parse_value(wanted)
        if not isinstance(parsed, str) and values_equal(actual, parsed):
            return True
    if isinstance(actual, (list, tuple)) and len(actual) == 1 and not isinstance(wanted, (list, tuple)):
        return value_matches(actual[0], wanted)
    return False


def check_keys(keys: Iterable[str], known: Iterable[str], where: str = "") -> None:
    """Raise for keys that no experiment's config has.

    Args:
        keys: Keys asked for.
        known: Keys present in at least one config.
        where: What was searched (a folder), for the message.

    Raises:
        ConfigError: Naming the first unknown key and suggesting the closest
            known one.
    """
    known = list(known)
    for key in keys:
        if key not in known:
            place = f" in {where}" if where else ""
            raise ConfigError(
                f"unknown config key '{key}': no experiment{place} has it.{did_you_mean(key, known)}"
            )
