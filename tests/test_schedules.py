"""Recording schedules."""
from __future__ import annotations

import numpy as np

from ibsim.recording import record_epochs


def test_every_epoch():
    assert list(record_epochs("every", 5)) == [0, 1, 2, 3, 4, 5]


def test_seed_schedule():
    epochs = record_epochs("seed", 8000)
    assert list(epochs[:20]) == list(range(20))
    assert list(epochs[20:24]) == [20, 25, 30, 35]
    assert 100 in epochs and 120 in epochs and 110 not in epochs
    assert 2000 in epochs and 2100 in epochs and 2020 not in epochs
    assert epochs[-1] == 8000
    assert len(epochs) == 20 + 16 + 95 + 61


def test_seed_schedule_always_ends_with_the_last_epoch():
    assert record_epochs("seed", 42)[-1] == 42


def test_log_schedule():
    epochs = record_epochs("log", 10000, 50)
    assert epochs[0] == 0 and epochs[-1] == 10000
    assert np.all(np.diff(epochs) > 0)
    assert 40 <= len(epochs) <= 52
    gaps = np.diff(epochs)
    assert gaps[-1] > gaps[1]  # sparser later


def test_explicit_list_is_sorted_and_clipped():
    assert list(record_epochs([5, 0, 99, 3], 10)) == [0, 3, 5]
