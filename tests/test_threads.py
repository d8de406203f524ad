"""Thread counts: a worker's share, and the one-thread limit for kernels beside TensorFlow."""
from __future__ import annotations

import numpy as np

from ibsim import threads
from ibsim.estimators import kernels


def test_limit_applies_inside_and_is_restored(monkeypatch):
    monkeypatch.setattr(threads, "_share", 4)
    assert threads.kernel_threads() == 4
    with threads.limit_kernel_threads(1):
        assert threads.kernel_threads() == 1
        with threads.limit_kernel_threads(2):
            assert threads.kernel_threads() == 2
        assert threads.kernel_threads() == 1
    assert threads.kernel_threads() == 4


def test_kernels_use_the_limit(monkeypatch):
    seen = []
    real = kernels._binning.binned_entropies

    def spy(*args):
        seen.append(args[-1])
        return real(*args)

    monkeypatch.setattr(kernels._binning, "binned_entropies", spy)
    monkeypatch.setattr(threads, "_share", 2)
    acts = np.random.default_rng(0).normal(size=(4, 50, 3)).astype(np.float32)
    kernels.binned_entropies(acts, 0.0, 0.5)
    with threads.limit_kernel_threads(1):
        inside = kernels.binned_entropies(acts, 0.0, 0.5)
    assert seen == [2, 1]
    assert np.array_equal(inside, kernels.binned_entropies(acts, 0.0, 0.5))
