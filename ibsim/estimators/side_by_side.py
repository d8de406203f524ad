"""Blocks searched side by side: W blocks at once, each block's kernels on T / W threads.

A block's compiled search parallelises over its points, but not all of it: the
trees' tops are built by one thread, the search's choice is probed by one, and
the Python between the kernels (filling the noisy copies, the estimate's sums)
runs on one. Blocks are independent, so a worker with T threads and many blocks
runs W = T blocks at once, each on one thread: the kernels release the GIL, and
every block's numbers are the ones a block alone gets (the kernels' numbers do
not depend on their threads). Each block at work holds its own memory, so W is
cut to what :data:`SIDE_BY_SIDE_BYTES` holds (each block then gets T // W
threads; W = 1: one block at a time on all T). The last ``blocks % W`` blocks
run one at a time on all T threads, so that no thread idles while a single
block is left.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from ibsim.threads import kernel_threads, limit_kernel_threads

Scratch = TypeVar("Scratch")

#: The memory the blocks at work side by side may hold together (their estimates' ``block_bytes`` each).
SIDE_BY_SIDE_BYTES = 1 << 30


def ways(threads: int, block_bytes: int) -> int:
    """How many blocks run at once on ``threads`` threads when each holds ``block_bytes``: at most one per
    thread and :data:`SIDE_BY_SIDE_BYTES` together, at least 1."""
    return max(1, min(threads, SIDE_BY_SIDE_BYTES // max(1, block_bytes)))


def each_block(count: int, work: Callable[[int, Scratch], None], scratch: Callable[[], Scratch],
               block_bytes: int) -> None:
    """Call ``work(b, buffer)`` for every block b in [0, count), W blocks at a time (:func:`ways`).

    Args:
        count: Number of blocks.
        work: Does block b; ``buffer`` is the calling thread's own ``scratch()``, reused for its blocks.
        scratch: Makes one thread's buffer.
        block_bytes: The memory one block at work holds (its buffer and its kernels' arrays), about.

    Raises:
        Whatever ``work`` raises (the first block's to fail, in thread order). Once a block fails or the
        caller is interrupted no other block begins; those under way finish.
    """
    threads = kernel_threads()
    at_once = ways(threads, block_bytes)
    side = count - count % at_once if at_once > 1 else 0
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

        with limit_kernel_threads(threads // at_once), ThreadPoolExecutor(at_once) as pool:
            futures = [pool.submit(worker) for _ in range(at_once)]
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
