"""The backend interface: map a task over work units, results in unit order."""
from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")


class Backend:
    """Runs tasks over units. Subclasses decide where and how many at a time.

    ``threads`` is what each task may use; ``is_root`` says whether this process
    gathers results and writes the output (False on MPI ranks other than 0).
    """

    name = "base"
    threads = 1
    is_root = True

    def map(self, task: Callable[[Any, Any], T], context: Any, units: Sequence[Any], desc: str = "",
            quiet: bool = True) -> list[T]:
        """``[task(context, unit) for unit in units]``, possibly in parallel."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short description for the results file's attributes."""
        return self.name

    def close(self) -> None:
        """Release workers."""
