"""Random streams derived from the experiment seed; no global RNG state.

One run's numbers depend only on (seed, run index): run ``r`` draws from
``SeedSequence(seed).spawn(...)[r]`` (built directly with ``spawn_key=(r,)``,
which is the same sequence without spawning the others), split further into
one stream per purpose. The train/test split has a stream of its own, so it is
shared by all runs and does not depend on how many runs there are.
"""
from __future__ import annotations

import numpy as np

#: Spawn key of the data stream; far above any run index.
_DATA_KEY = 2**62

#: Purposes of a run's streams, in spawn order. Append only: reordering
#: would change every run's numbers.
RUN_STREAMS = ("init", "batches", "noise", "dropout")


def run_sequence(seed: int, run: int) -> np.random.SeedSequence:
    """The seed sequence of run ``run`` (equal to ``SeedSequence(seed).spawn(n)[run]``)."""
    return np.random.SeedSequence(seed, spawn_key=(run,))


def run_rng(seed: int, run: int, purpose: str) -> np.random.Generator:
    """A generator for one purpose (see :data:`RUN_STREAMS`) of one run."""
    index = RUN_STREAMS.index(purpose)
    return np.random.default_rng(run_sequence(seed, run).spawn(len(RUN_STREAMS))[index])


def data_rng(seed: int) -> np.random.Generator:
    """The generator of the train/test split, shared by all runs."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_DATA_KEY,)))
