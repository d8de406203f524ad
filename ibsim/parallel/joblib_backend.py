"""The joblib backend: worker processes on this machine (loky)."""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence, TypeVar

from joblib import Parallel, delayed
from joblib.externals.loky.process_executor import TerminatedWorkerError

from ibsim.errors import RunFailedError
from ibsim.parallel.base import BACKENDS, Backend, injected_failure, run_unit
from ibsim.progress import progress
from ibsim.threads import available_cores, set_worker_threads

T = TypeVar("T")


def _in_worker(task: Callable[[Any, Any], T], context: Any, unit: Any, threads: int, inject: str | None) -> T:
    set_worker_threads(threads)  # before TensorFlow or OpenMP start their pools
    return run_unit(task, context, unit, f"worker {os.getpid()}", inject)


@BACKENDS.register("joblib")
class JoblibBackend(Backend):
    """Runs units in ``jobs`` worker processes, each with its share of the cores.

    Args:
        jobs: Number of workers (default: all cores).
    """

    name = "joblib"

    def __init__(self, jobs: int | None = None) -> None:
        cores = available_cores()
        self.jobs = max(1, int(jobs or cores))
        self.threads = max(1, cores // self.jobs)

    def map(self, task: Callable[[Any, Any], T], context: Any, units: Sequence[Any], desc: str = "",
            quiet: bool = True) -> list[T]:
        if not units:
            return []
        parallel = Parallel(n_jobs=self.jobs, backend="loky", inner_max_num_threads=self.threads,
                            return_as="generator")
        inject = injected_failure()
        calls = (delayed(_in_worker)(task, context, unit, self.threads, inject) for unit in units)
        results: list[T] = []
        try:
            for result in progress(iterable=parallel(calls), total=len(units), desc=desc,
                                   disable=quiet or len(units) < 2):
                results.append(result)
        except TerminatedWorkerError as error:
            raise RunFailedError(
                f"a joblib worker died (killed, or out of memory) while running units; the first unit not "
                f"finished is {units[len(results)]}: {error}"
            ) from None
        return results

    def describe(self) -> str:
        return f"joblib ({self.jobs} workers x {self.threads} threads)"
