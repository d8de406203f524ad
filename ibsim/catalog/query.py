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
4. the stored value is a list and the wanted value is not: the list
   *contains* an element that matches (``architecture=10`` matches
   ``[10, 7, 5]``; ``estimator="binning(bin_size=0.07)"`` matches a file
   with ``["binning(bin_size=0.07)", "kde_upper(...)"]``).

Values of the keys in :data:`SPEC_KEYS` (``dataset``, ``estimator``) are
component specs, ``name(key=value, ...)``, and are also compared as specs
(:func:`spec_matches`): parsed with :func:`ibsim.spec.parse_spec`, with
aliases resolved to the registered name, they match when the names are equal
and every parameter the wanted spec gives has an equal value in the stored one
(numbers by value, in any order and spacing). So ``binning(bin_size = 7e-2)``
matches the stored ``binning(bin_size=0.07)``, and ``binning`` matches every
binning estimator, whatever its bin size.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from ibsim.spec import format_spec, parse_spec
from ibsim.toml_text import format_value, parse_value
from ibsim.errors import ConfigError
from ibsim.registry import did_you_mean
from ibsim.datasets import DATASETS
from ibsim.estimators import ESTIMATORS


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


#: Config keys whose values are component specs, compared by :func:`spec_matches`.
SPEC_KEYS: tuple[str, ...] = ("dataset", "estimator")


def _registry(key: str | None) -> Any:
    """The registry of the components a spec-valued config key names (None for other keys)."""
    if key == "dataset":
        return DATASETS
    if key == "estimator":
        return ESTIMATORS
    return None


def parse_component(text: Any, key: str | None = None) -> tuple[str, dict[str, Any]] | None:
    """A spec as (registered name, parameters), or None when ``text`` is not a spec.

    Args:
        text: ``"binning(bin_size=0.07)"``, ``"binning"``, ...
        key: The config key (``dataset`` or ``estimator``), whose registry turns
            an alias into the registered name; an unknown name is kept as written.
    """
    if not isinstance(text, str):
        return None
    try:
        name, params = parse_spec(text)
    except ConfigError:
        return None
    registry = _registry(key)
    if registry is not None and name in registry:
        name = registry.canonical(name)
    return name, params


def canonical_spec(text: str, key: str | None = None) -> str:
    """The canonical text of a spec (:func:`ibsim.spec.format_spec` of
    its parsed form, the name resolved); ``text`` itself when it is not a spec."""
    parsed = parse_component(text, key)
    return format_spec(*parsed) if parsed is not None else text


def spec_matches(actual: Any, wanted: Any, key: str | None = None) -> bool:
    """Whether a stored spec (or list of specs) matches a wanted one, as specs.

    Args:
        actual: The stored value: a spec, or a list of specs.
        wanted: The spec asked for, or a list of them (the lists then match
            when every element of each matches an element of the other and
            they are as long).
        key: The config key, for resolving aliases.

    Returns:
        True when the names are equal and every parameter of ``wanted`` has an
        equal value in ``actual`` (parameters ``wanted`` leaves out may have
        any value).
    """
    if isinstance(actual, (list, tuple)) and isinstance(wanted, (list, tuple)):
        return (
            len(actual) == len(wanted)
            and all(any(spec_matches(a, w, key) for a in actual) for w in wanted)
            and all(any(spec_matches(a, w, key) for w in wanted) for a in actual)
        )
    stored, asked = parse_component(actual, key), parse_component(wanted, key)
    if stored is None or asked is None or stored[0] != asked[0]:
        return False
    return all(name in stored[1] and values_equal(stored[1][name], value) for name, value in asked[1].items())


def value_matches(actual: Any, wanted: Any, key: str | None = None) -> bool:
    """Whether a stored config value matches a wanted value (all four rules).

    Args:
        actual: The stored value.
        wanted: The value asked for: a value, or text of it.
        key: The config key; values of :data:`SPEC_KEYS` are also compared as
            specs (:func:`spec_matches`).

    Returns:
        True for a match.
    """
    if values_equal(actual, wanted):
        return True
    if key in SPEC_KEYS and spec_matches(actual, wanted, key):
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
    if isinstance(actual, (list, tuple)) and not isinstance(wanted, (list, tuple)):
        return any(value_matches(element, wanted, key) for element in actual)
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
