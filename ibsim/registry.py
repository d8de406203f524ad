"""Registries map the names used in configs to the classes that implement them.

Adding a dataset, estimator or plot is one file plus one ``@REGISTRY.register``
line. Unknown names get an error that lists the valid ones and suggests the
closest.
"""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from ibsim.errors import ConfigError

T = TypeVar("T")


def did_you_mean(name: str, valid: list[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest valid name, or ''."""
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


class Registry(Generic[T]):
    """A name → class mapping for one kind of component.

    Args:
        kind: What the registry holds, used in error messages ("estimator").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Class decorator registering ``cls`` under ``name`` (and aliases)."""

        def decorate(cls: T) -> T:
            if name in self._items:
                raise RuntimeError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = cls
            for alias in aliases:
                self._aliases[alias] = name
            return cls

        return decorate

    def canonical(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases."""
        name = self._aliases.get(name, name)
        if name not in self._items:
            valid = self.names()
            raise ConfigError(
                f"unknown {self.kind} '{name}'; valid: {', '.join(valid)}."
                + did_you_mean(name, valid)
            )
        return name

    def get(self, name: str) -> T:
        """The class registered under ``name``; a clear error if there is none."""
        return self._items[self.canonical(name)]

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return self._aliases.get(name, name) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
