"""Which epochs to record.

Epoch numbers count completed epochs: epoch 0 is the network before training,
epoch ``e`` the network after ``e`` epochs. Every schedule includes 0 and the
last epoch.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def every_epoch(epochs: int) -> np.ndarray:
    """Every epoch from 0 to ``epochs``."""
    return np.arange(epochs + 1)


def seed_schedule(epochs: int) -> np.ndarray:
    """The seed's schedule: every epoch below 20, every 5th below 100, every
    20th below 2000 and every 100th after, plus the last epoch."""
    points = np.concatenate([np.arange(start, min(epochs, end - 1 if end else epochs) + 1, step)
                             for start, end, step in SEED_SEGMENTS])
    return np.union1d(points[points <= epochs], [epochs])


#: The seed schedule's segments: (first epoch, end (exclusive, None: open), step).
SEED_SEGMENTS = ((0, 20, 1), (20, 100, 5), (100, 2000, 20), (2000, None, 100))


def log_schedule(epochs: int, points: int) -> np.ndarray:
    """About ``points`` log-spaced epochs between 1 and ``epochs`` (as IDNNs
    records), plus epoch 0. Duplicates after rounding are dropped, so short
    runs get fewer points; with more points than that (about epochs × ln
    epochs) every epoch is hit, and the schedule is every epoch."""
    if points >= _every_epoch_points(epochs):
        return every_epoch(epochs)
    spaced = np.unique(np.round(np.logspace(0, np.log10(max(epochs, 1)), points)).astype(int))
    return np.union1d(np.union1d([0], spaced), [epochs])


def _every_epoch_points(epochs: int) -> float:
    """A number of log-spaced points beyond which every epoch 1..epochs is hit:
    neighbouring integers k, k + 1 <= epochs are at least ln(1 + 1/epochs) apart
    in log space, so (points - 1) ln(1 + 1/epochs) >= ln(epochs) suffices."""
    if epochs <= 1:
        return 2
    return math.log(epochs) / math.log1p(1 / epochs) + 2


def count_recorded(schedule: str | Sequence[int], epochs: int, points: int = 100) -> int:
    """How many epochs :func:`record_epochs` records, by arithmetic alone (exact
    for "every", "seed" and lists; an upper bound for "log"), so that a huge
    schedule can be refused before any array is built."""
    if isinstance(schedule, str):
        if schedule == "every":
            return epochs + 1
        if schedule == "seed":
            count, last_included = 0, False
            for start, end, step in SEED_SEGMENTS:
                stop = epochs if end is None else min(epochs, end - 1)
                if stop >= start:
                    count += (stop - start) // step + 1
                    last_included = last_included or (stop == epochs and (epochs - start) % step == 0)
            return count + (0 if last_included else 1)
        if schedule == "log":
            return min(points, epochs) + 2
        raise ValueError(f"unknown record schedule {schedule!r}")
    return sum(1 for epoch in set(int(e) for e in schedule) if 0 <= epoch <= epochs)


def record_epochs(schedule: str | Sequence[int], epochs: int, points: int = 100) -> np.ndarray:
    """The sorted epoch numbers to record.

    Args:
        schedule: "every", "seed", "log", or an explicit list of epoch numbers.
        epochs: Number of training epochs.
        points: Number of points for the "log" schedule.
    """
    if isinstance(schedule, str):
        if schedule == "every":
            return every_epoch(epochs)
        if schedule == "seed":
            return seed_schedule(epochs)
        if schedule == "log":
            return log_schedule(epochs, points)
        raise ValueError(f"unknown record schedule {schedule!r}")
    chosen = np.unique(np.asarray(schedule, dtype=int))
    return chosen[(chosen >= 0) & (chosen <= epochs)]
