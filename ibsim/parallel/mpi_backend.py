"""The MPI backend (mpi4py): units spread over the ranks, rank 0 gathers and writes.

Units go to ranks by a deterministic, cost-balanced plan
(:func:`~ibsim.parallel.base.balanced_owners`); each rank runs its units, the
results are gathered on rank 0, and every rank waits at a barrier before the
next phase (estimation reads part files that other ranks wrote: on several
nodes the output folder must be on a shared file system). If a unit fails, its
rank prints the rank, the unit and the error, and aborts the whole job: every
rank stops at once, the exit status is non-zero, and no output file is written.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import Any, Callable, Sequence, TypeVar

from ibsim.errors import ElsewhereError
from ibsim.parallel.base import BACKENDS, Backend, balanced_owners, run_unit
from ibsim.progress import progress
from ibsim.threads import available_cores, set_worker_threads

T = TypeVar("T")

def unit_cost(unit: Any) -> float:
    """A unit's relative cost for balancing (units may define ``cost``)."""
    return float(getattr(unit, "cost", 1.0))


@BACKENDS.register("mpi")
class MPIBackend(Backend):
    """Spreads units over the ranks of ``MPI.COMM_WORLD`` (``jobs`` is ignored:
    the launcher sets the ranks)."""

    name = "mpi"

    def __init__(self, jobs: int | None = None) -> None:
        from mpi4py import MPI

        self._mpi = MPI
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.is_root = self.rank == 0
        self.threads = self._thread_share()
        set_worker_threads(self.threads)

    def _thread_share(self) -> int:
        """Threads for this rank: its own cores when the launcher bound the ranks
        of a node to different cores, else an equal share of the node's cores."""
        node = self.comm.Split_type(self._mpi.COMM_TYPE_SHARED)
        try:
            mine = sorted(os.sched_getaffinity(0))
        except AttributeError:
            mine = list(range(available_cores()))
        masks = node.allgather(mine)
        shared = all(mask == masks[0] for mask in masks)
        node.Free()
        return max(1, len(mine) // len(masks)) if shared else max(1, len(mine))

    def map(self, task: Callable[[Any, Any], T], context: Any, units: Sequence[Any], desc: str = "",
            quiet: bool = True) -> list[T]:
        owners = balanced_owners([unit_cost(u) for u in units], self.size)
        mine = [i for i, owner in enumerate(owners) if owner == self.rank]
        done: list[tuple[int, T]] = []
        for index in progress(iterable=mine, desc=desc, disable=quiet or not self.is_root or len(mine) < 2):
            try:
                done.append((index, run_unit(task, context, units[index], f"MPI rank {self.rank}")))
            except BaseException as error:  # noqa: BLE001 - stop every rank, say why
                self._abort(error)
        gathered = self.comm.gather(done, root=0)
        self.comm.Barrier()
        if not self.is_root:
            return [None] * len(units)  # type: ignore[list-item]
        results: list[Any] = [None] * len(units)
        for part in gathered:
            for index, value in part:
                results[index] = value
        return results

    def _abort(self, error: BaseException) -> None:
        if os.environ.get("IBSIM_FULL_ERROR") == "1":
            traceback.print_exception(error, file=sys.stderr)
        print(f"ibsim: error: {error} (aborting all {self.size} ranks)", file=sys.stderr, flush=True)
        self.comm.Abort(1)

    def describe(self) -> str:
        return f"mpi ({self.size} ranks x {self.threads} threads)"

    def share(self, error: BaseException | None) -> None:
        message = self.comm.bcast(f"{error}" if (self.is_root and error is not None) else None, root=0)
        if self.is_root and error is not None:
            raise error
        if message is not None:
            raise ElsewhereError(f"rank 0 stopped the run: {message}")
