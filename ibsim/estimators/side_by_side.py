"""Blocks searched side by side: one block per thread, each block's kernels on one thread.

A block's compiled search parallelises over its points, but not all of it: the
trees' tops are built by one thread, the search's choice is probed by one, and
the Python between the kernels (filling the noisy copies, the estimate's sums)
runs on one. Blocks are independent, so a worker with T threads and many blocks
runs T blocks at once, each on one thread: the kernels release the GIL, and
every block's numbers are the ones a block alone gets (the kernels' numbers do
not depend on their threads). The last ``blocks % T`` blocks run one at a time
on all T threads, so that no thread idles while a single block is left.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from ibsim.threads import kernel_threads, limit_kernel_threads

Scratch = TypeVar("Scratch")


def each_block(count: int, work: Callable[[int, Scratch], None], scratch: Callable[[], Scratch]) -> None:
    """Call ``work(b, buffer)`` for every block b in [0, count), T blocks at a time on T threads.

    Args:
        count: Number of blocks.
        work: Does block b; ``buffer`` is the calling thread's own ``scratch()``, reused for its blocks.
        scratch: Makes one thread's buffer.

    Raises:
        Whatever ``work`` raises (the first block's to fail, in thread order). Once a block fails or the
        caller is interrupted no other block begins; those under way finish.
    """
    threads = kernel_threads()
    side = count - count % threads if threads > 1 else 0
    if side:
        todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for b in range(side):
            todo.put(b)
        stop = threading.Event()  # a block failed, or the caller was interrupted: begin no other block

        def worker() -> None:
            buffer = scratch()
            while not stop.is_set():
                try:
                    b = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    work(b, buffer)
                except BaseException:
                    stop.set()
                    raise

        with limit_kernel_threads(1), ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(worker) for _ in range(threads)]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                stop.set()
                raise
    if side < count:
        buffer = scratch()
        for b in range(side, count):
            work(b, buffer)
