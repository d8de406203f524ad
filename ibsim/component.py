"""The base class of everything a config can choose and parameterise."""
from __future__ import annotations

from typing import Any, ClassVar

from ibsim.spec import format_spec
from ibsim.params import Param, validate_params


class Component:
    """A configurable piece of an experiment with declared parameters.

    Subclasses declare ``PARAMS`` (name → :class:`~ibsim.params.Param`);
    registered components (datasets, estimators, plots) also set ``kind`` and
    ``name``. Construction validates the keyword arguments against ``PARAMS``
    and fills in defaults, so an instance always holds a complete, valid set.
    """

    PARAMS: ClassVar[dict[str, Param]] = {}
    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        self._params = validate_params(self.owner(), self.PARAMS, params)

    @classmethod
    def owner(cls) -> str:
        """How error messages name this component ("estimator 'binning'")."""
        return f"{cls.kind} '{cls.name}'" if cls.name else cls.__name__

    def get_params(self) -> dict[str, Any]:
        """All parameters, defaults included, in declaration order."""
        return dict(self._params)

    @property
    def spec(self) -> str:
        """The canonical ``name(param=value, ...)`` text of a registered component
        (parameters left unset, None, are left out: parsing gives them back as defaults)."""
        return format_spec(self.name, {k: v for k, v in self._params.items() if v is not None})

    def __getattr__(self, key: str) -> Any:
        params = self.__dict__.get("_params", {})
        if key in params:
            return params[key]
        raise AttributeError(f"{type(self).__name__} has no attribute '{key}'")

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._params == other._params  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), repr(self._params)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"
