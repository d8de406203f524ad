"""Registries map the names used in configs to the classes that implement them.

Adding a dataset, estimator or plot is one file plus one ``@REGISTRY.register``
line. Unknown names get an error that lists the valid ones and suggests the
closest.

Plug-ins outside ibsim register the same way. A registry with an
``entry_point_group`` (``ibsim.datasets``, ``ibsim.estimators``, ``ibsim.plots``)
imports every installed entry point of that group once per process, on its
first lookup or listing, so every worker and MPI rank finds them on first use
(see docs/extending.md).
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
        entry_point_group: The entry-point group of plug-ins to load on first
            lookup (``"ibsim.estimators"``), or None.
    """

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._plugins_loaded = entry_point_group is None

    def load_plugins(self) -> None:
        """Import the plug-ins of :attr:`entry_point_group` (once per process).

        Each entry point names a module or an object in one (``pkg.mod`` or
        ``pkg.mod:MyDataset``); importing it registers its components with
        the usual decorator.

        Raises:
            ConfigError: A plug-in failed to import, naming the entry point, its
                distribution and the error (raised on every lookup until fixed).
        """
        if self._plugins_loaded:
            return
        from importlib.metadata import entry_points

        self._plugins_loaded = True  # a plug-in's own lookups must not load again
        failures = []
        for point in entry_points(group=self.entry_point_group):
            try:
                point.load()
            except Exception as error:  # noqa: BLE001 - whatever the plug-in raised, name it
                dist = getattr(point.dist, "name", None) or "an unknown distribution"
                failures.append(f"entry point '{point.name} = {point.value}' (group {self.entry_point_group}) of "
                                f"{dist} failed to load: {type(error).__name__}: {error}")
        if failures:
            self._plugins_loaded = False  # reported again on the next lookup
            raise ConfigError(f"{self.kind} plug-in {'; '.join(failures)}")

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
        self.load_plugins()
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
        self.load_plugins()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self.load_plugins()
        return self._aliases.get(name, name) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
