"""Every run's mini-batch orders, several epochs at once.

Run r's order of an epoch is ``rngs[r].permutation(n_train)``, epoch after
epoch from the run's own "batches" stream (:func:`ibsim.seeding.run_rng`), so a
run's orders, and with them its numbers, do not depend on its group, its
backend or how many epochs are drawn at once. The compiled kernel
(``ibsim_ext._orders``) draws exactly what NumPy's ``permutation`` draws from
the same bit generators, and draws the runs in parallel: NumPy's own
permutations cost 1 s of a 50-run, 500-epoch job (25 000 of them).
"""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

import numpy as np

from ibsim_ext import _orders


def batch_orders(rngs: Sequence[np.random.Generator], n_train: int, count: int = 1,
                 num_threads: int = 1) -> np.ndarray:
    """The next ``count`` epochs' sample orders of every run.

    Args:
        rngs: One generator per run (advanced as ``count`` calls of its
            ``permutation(n_train)`` would advance it).
        n_train: Training samples per epoch, 1 <= n_train < 2**31.
        count: Epochs, >= 0.
        num_threads: Threads over runs.

    Returns:
        (count, n_train, runs) int32: ``out[c, :, r]`` is run r's order in epoch c.

    Raises:
        ValueError: ``n_train`` or ``count`` out of range.
    """
    if not 1 <= n_train < 2**31:
        raise ValueError(f"n_train must be in [1, 2**31), got {n_train}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    out = np.empty((count, n_train, len(rngs)), dtype=np.int32)
    with ExitStack() as locks:
        for rng in rngs:
            locks.enter_context(rng.bit_generator.lock)
        _orders.fill_orders([rng.bit_generator for rng in rngs], out, max(1, int(num_threads)))
    return out
