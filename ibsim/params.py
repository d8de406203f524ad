"""Parameter constraints, declared once per class and checked by one validator.

Every configurable class (network, recorder, estimator, dataset, the experiment
itself) declares its parameters as ``PARAMS = {name: Param(constraint, default,
doc)}``. :func:`validate_params` checks keyword arguments, TOML values and
``--set`` values alike and produces one message shape::

    The 'learning_rate' parameter of Network must be a float in the range
    (0, inf). Got -1 instead.

Unknown names get a "did you mean" suggestion.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from ibsim.errors import ConfigError
from ibsim.registry import did_you_mean


class Constraint:
    """A predicate on a value with a readable description.

    Subclasses implement :meth:`coerce`, which returns the (possibly converted)
    value or raises ``ValueError`` when the value does not satisfy the constraint.
    """

    description = "a value"

    def coerce(self, value: Any) -> Any:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.description


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Interval(Constraint):
    """An int or a finite float in a range.

    Args:
        kind: ``int`` or ``float`` (ints are accepted where floats are expected).
        low: Lower bound or None.
        high: Upper bound or None.
        closed: Which ends are included: "both", "left", "right" or "neither".
    """

    def __init__(self, kind: type, low: float | None, high: float | None, closed: str = "both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed
        left = "[" if closed in ("both", "left") and low is not None else "("
        right = "]" if closed in ("both", "right") and high is not None else ")"
        def show(bound: float) -> str:
            return str(int(bound)) if kind is int else f"{bound:g}"

        lo = "-inf" if low is None else show(low)
        hi = "inf" if high is None else show(high)
        self.description = f"{'an int' if kind is int else 'a float'} in the range {left}{lo}, {hi}{right}"

    def coerce(self, value: Any) -> Any:
        if self.kind is int:
            if not _is_int(value):
                raise ValueError
            value = int(value)
        else:
            if not _is_real(value):
                raise ValueError
            value = float(value)
            if not math.isfinite(value):
                raise ValueError
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                raise ValueError
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                raise ValueError
        return value


class Options(Constraint):
    """One of a fixed set of strings (aliases map to their canonical names)."""

    def __init__(self, options: Iterable[str], aliases: Mapping[str, str] | None = None):
        self.options = list(options)
        self.aliases = dict(aliases or {})
        self.description = "one of " + ", ".join(repr(o) for o in self.options)

    def coerce(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError
        value = self.aliases.get(value, value)
        if value not in self.options:
            raise ValueError(did_you_mean(value, self.options))
        return value


class Boolean(Constraint):
    """True or False."""

    description = "a boolean (true or false)"

    def coerce(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError
        return value


class String(Constraint):
    """Any non-empty string."""

    description = "a non-empty string"

    def coerce(self, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            raise ValueError
        return value


class Constant(Constraint):
    """Exactly one value (used with :class:`AnyOf`, e.g. ``false`` or a float)."""

    def __init__(self, value: Any):
        self.value = value
        self.description = {None: "none", False: "false", True: "true"}.get(value, repr(value))

    def coerce(self, value: Any) -> Any:
        if value is self.value or (type(value) is type(self.value) and value == self.value):
            return self.value
        raise ValueError


class ListOf(Constraint):
    """A list whose items all satisfy ``item``.

    Args:
        item: Constraint of each item.
        min_len: Smallest allowed length.
        unique: Whether items must be distinct.
    """

    def __init__(self, item: Constraint, min_len: int = 0, unique: bool = False):
        self.item, self.min_len, self.unique = item, min_len, unique
        nonempty = " non-empty" if min_len == 1 else (f" (at least {min_len})" if min_len > 1 else "")
        distinct = " distinct" if unique else ""
        self.description = f"a{nonempty} list of{distinct} items, each {item.description}"

    def coerce(self, value: Any) -> Any:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ValueError
        items = [self.item.coerce(v) for v in value]
        if len(items) < self.min_len:
            raise ValueError
        if self.unique and len({repr(i) for i in items}) != len(items):
            raise ValueError
        return items


class AnyOf(Constraint):
    """The first of several constraints that accepts the value."""

    def __init__(self, *options: Constraint):
        self.options = options
        self.description = " or ".join(o.description for o in options)

    def coerce(self, value: Any) -> Any:
        hints = []
        for option in self.options:
            try:
                return option.coerce(value)
            except ValueError as error:
                if error.args and error.args[0]:
                    hints.append(error.args[0])
        raise ValueError(hints[0] if hints else "")


class Predicate(Constraint):
    """A constraint given by a function (for checks no other constraint expresses)."""

    def __init__(self, check: Callable[[Any], Any], description: str):
        self.check, self.description = check, description

    def coerce(self, value: Any) -> Any:
        return self.check(value)


@dataclass(frozen=True)
class Param:
    """One declared parameter: its constraint, default and one line of help."""

    constraint: Constraint
    default: Any
    doc: str = ""


def describe_value(value: Any) -> str:
    """A short printable form of a value for error messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_value(subject: str, value: Any, param: Param, where: str = "") -> Any:
    """Check one value; return it coerced, or raise :class:`ConfigError`.

    Args:
        subject: What is being set, e.g. "The 'learning_rate' parameter of
            Network" or "Config key 'learning_rate'".
        value: The value given.
        param: Its declaration.
        where: Where the value came from (a file, ``--set``), appended to the message.
    """
    try:
        return param.constraint.coerce(value)
    except ValueError as error:
        hint = error.args[0] if error.args and error.args[0] else ""
        suffix = f" ({where})" if where else ""
        raise ConfigError(
            f"{subject} must be {param.constraint.description}. "
            f"Got {describe_value(value)} instead.{hint}{suffix}"
        ) from None


def validate_params(
    owner: str, declared: Mapping[str, Param], given: Mapping[str, Any], where: str = ""
) -> dict[str, Any]:
    """Validate ``given`` against ``declared``; fill defaults; reject unknown names.

    Returns:
        A dict with every declared parameter, in declaration order.
    """
    unknown = [key for key in given if key not in declared]
    if unknown:
        key = unknown[0]
        suffix = f" ({where})" if where else ""
        raise ConfigError(
            f"{owner} has no parameter '{key}'; valid: {', '.join(declared)}."
            + did_you_mean(key, list(declared))
            + suffix
        )
    return {
        name: (
            validate_value(f"The '{name}' parameter of {owner}", given[name], param, where)
            if name in given
            else param.default
        )
        for name, param in declared.items()
    }
