"""Which epochs to record.

Epoch numbers count completed epochs: epoch 0 is the network before training,
epoch ``e`` the network after ``e`` epochs. Every schedule includes 0 and the
last epoch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def every_epoch(epochs: int) -> np.ndarray:
    """Every epoch from 0 to ``epochs``."""
    return np.arange(epochs + 1)


def seed_schedule(epochs: int) -> np.ndarray:
    """The seed's schedule: every epoch below 20, every 5th below 100, every
    20th below 2000 and every 100th after, plus the last epoch."""
    points = np.concatenate(
        [np.arange(0, 20), np.arange(20, 100, 5), np.arange(100, 2000, 20), np.arange(2000, epochs + 1, 100)]
    )
    return np.union1d(points[points <= epochs], [epochs])


def log_schedule(epochs: int, points: int) -> np.ndarray:
    """About ``points`` log-spaced epochs between 1 and ``epochs`` (as IDNNs
    records), plus epoch 0. Duplicates after rounding are dropped, so short
    runs get fewer points."""
    spaced = np.unique(np.round(np.logspace(0, np.log10(max(epochs, 1)), points)).astype(int))
    return np.union1d(np.union1d([0], spaced), [epochs])


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
