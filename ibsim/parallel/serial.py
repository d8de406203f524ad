"""The serial backend: every unit in this process, using every core."""
from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from ibsim.parallel.base import BACKENDS, Backend, run_unit
from ibsim.progress import progress
from ibsim.threads import worker_threads

T = TypeVar("T")


@BACKENDS.register("serial")
class SerialBackend(Backend):
    """Runs units one after the other; each may use all of this process's cores
    (``jobs`` is ignored)."""

    name = "serial"

    def __init__(self, jobs: int | None = None) -> None:
        self.threads = worker_threads()

    def map(self, task: Callable[[Any, Any], T], context: Any, units: Sequence[Any], desc: str = "",
            quiet: bool = True) -> list[T]:
        show = not quiet and len(units) > 1
        return [run_unit(task, context, unit, "this process")
                for unit in progress(iterable=units, desc=desc, disable=not show)]
