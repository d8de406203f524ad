"""The backend interface: map a task over work units, results in unit order."""
from __future__ import annotations

import os
import signal
from typing import Any, Callable, Sequence, TypeVar

from ibsim.errors import IbsimError, RunFailedError
from ibsim.registry import Registry

T = TypeVar("T")


class Backend:
    """Runs tasks over units. Subclasses decide where and how many at a time.

    A backend is built as ``cls(jobs)`` (``jobs``: the workers asked for, or
    None; backends that place work by other means ignore it) and registered in
    :data:`BACKENDS` by its name. ``threads`` is what each task may use;
    ``is_root`` says whether this process gathers results and writes the output
    (False on MPI ranks other than 0); ``jobs`` is how many units run at once on
    this machine.
    """

    name = "base"
    threads = 1
    is_root = True
    jobs = 1

    def map(self, task: Callable[[Any, Any], T], context: Any, units: Sequence[Any], desc: str = "",
            quiet: bool = True) -> list[T]:
        """``[task(context, unit) for unit in units]``, possibly in parallel.

        On every process the call returns once all units are done; only the root
        gets the results (the others get a list of None).
        """
        raise NotImplementedError

    def describe(self) -> str:
        """A short description for the results file's attributes."""
        return self.name

    def share(self, error: BaseException | None) -> None:
        """After work only the root did: raise ``error`` (the root's) everywhere.

        Every process waits here (MPI) until the root has finished; other ranks
        raise :class:`~ibsim.errors.ElsewhereError` so that the message is
        printed once, by the root.
        """
        if error is not None:
            raise error

    def close(self) -> None:
        """Release workers."""


#: Fault injection for the failure tests: a unit whose description contains
#: this variable's value raises instead of running; with a "kill:" prefix, the
#: process kills itself with SIGKILL instead (see docs/reliability.md).
FAIL_UNIT_VARIABLE = "IBSIM_FAIL_UNIT"


def injected_failure() -> str | None:
    """The fault-injection pattern of this process (read where the run starts:
    reused worker processes may predate the variable)."""
    return os.environ.get(FAIL_UNIT_VARIABLE) or None


def run_unit(task: Callable[[Any, Any], T], context: Any, unit: Any, where: str,
             inject: str | None = None) -> T:
    """Run one unit; a failure becomes a :class:`RunFailedError` naming the unit and the worker."""
    try:
        inject = inject or injected_failure()
        if inject and inject.removeprefix("kill:") in str(unit):
            if inject.startswith("kill:"):
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected failure ({FAIL_UNIT_VARIABLE}={inject})")
        return task(context, unit)
    except (KeyboardInterrupt, RunFailedError):
        raise
    except IbsimError as error:
        raise RunFailedError(f"{where} failed on {unit}: {error}") from error
    except Exception as error:  # noqa: BLE001 - name the unit whatever went wrong
        raise RunFailedError(f"{where} failed on {unit}: {type(error).__name__}: {error}") from error


def balanced_owners(costs: Sequence[float], workers: int) -> list[int]:
    """A deterministic assignment of units to workers: the costliest unit first to
    the least-loaded worker (ties to the lower index), so no worker waits long."""
    load = [0.0] * workers
    owners = [0] * len(costs)
    for index in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        worker = min(range(workers), key=lambda w: (load[w], w))
        owners[index] = worker
        load[worker] += costs[index]
    return owners


BACKENDS: Registry[type[Backend]] = Registry("backend")

#: Environment variables that MPI launchers set (MPICH/Hydra, Open MPI, PMIx, Slurm's srun).
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


def launched_by_mpi() -> bool:
    """True when this process was started by mpirun/mpiexec/srun with more than one rank."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 1:
            return True
    return os.environ.get("SLURM_NTASKS", "1").isdigit() and int(os.environ.get("SLURM_NTASKS", "1")) > 1 \
        and "SLURM_PROCID" in os.environ and "PMI_RANK" in os.environ


def backend_name(name: str = "auto", jobs: int | None = None) -> str:
    """The registered backend ``name`` stands for: "auto" is "mpi" when launched
    by an MPI launcher with several ranks, "joblib" when ``jobs`` > 1 is asked
    for, "serial" otherwise.

    Raises:
        ConfigError: ``name`` is neither "auto" nor a registered backend.
    """
    if name == "auto":
        return "mpi" if launched_by_mpi() else ("joblib" if jobs and jobs > 1 else "serial")
    return BACKENDS.canonical(name)


def make_backend(name: str = "auto", jobs: int | None = None) -> Backend:
    """The backend called ``name`` (see :func:`backend_name`) for ``jobs`` workers."""
    return BACKENDS.get(backend_name(name, jobs))(jobs)
