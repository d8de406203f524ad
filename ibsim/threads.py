"""How many threads a worker may use.

A serial run uses every core it may run on; a parallel backend gives each
worker its share and records it here before any compute library starts its
pools. TensorFlow, the OpenMP kernels and BLAS (threadpoolctl) all read it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

_share: int | None = None
_default: int | None = None
_kernel_limit: int | None = None


def available_cores() -> int:
    """Cores this process may run on (CPU affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def set_worker_threads(n: int) -> None:
    """Declare this process a worker with ``n`` threads (call before compute starts)."""
    global _share
    _share = max(1, int(n))
    os.environ["OMP_NUM_THREADS"] = str(_share)


def worker_threads() -> int:
    """Threads this process may use: its share if set, else ``IBSIM_THREADS``, else
    all cores (read once: kernels ask on every call)."""
    global _default
    if _share is not None:
        return _share
    if _default is None:
        env = os.environ.get("IBSIM_THREADS")
        _default = int(env) if env and env.isdigit() and int(env) > 0 else available_cores()
    return _default


def kernel_threads() -> int:
    """Threads the compiled estimator kernels may use: :func:`worker_threads`,
    or fewer inside :func:`limit_kernel_threads`."""
    threads = worker_threads()
    return min(threads, _kernel_limit) if _kernel_limit is not None else threads


@contextmanager
def limit_kernel_threads(n: int) -> Iterator[None]:
    """Run the estimator kernels on at most ``n`` threads inside the block.

    Estimation inside a training unit uses one thread: TensorFlow's thread pool
    keeps spinning for a while after each step, and OpenMP threads competing
    with it ran 4-5 times slower than one thread alone (measured on 2 cores).
    """
    global _kernel_limit
    before = _kernel_limit
    _kernel_limit = max(1, int(n))
    try:
        yield
    finally:
        _kernel_limit = before
