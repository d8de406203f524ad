"""Blocks searched side by side: every block once, its own thread's buffer, the same numbers as one at a time."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from ibsim import threads
from ibsim.errors import EstimatorError
from ibsim.estimators import KNN, LayerBlocks, side_by_side
from ibsim.estimators.knn import kernels


@pytest.mark.parametrize("share, count", [(1, 5), (2, 5), (3, 7), (3, 2), (4, 4)])
def test_every_block_once_each_thread_its_buffer(monkeypatch, share, count):
    monkeypatch.setattr(threads, "_share", share)
    done, owner, limits = [], {}, {}
    lock = threading.Lock()

    def work(b, buffer):
        with lock:
            done.append(b)
            owner.setdefault(id(buffer), set()).add(threading.get_ident())
            limits[b] = threads.kernel_threads()

    side_by_side.each_block(count, work, lambda: [], block_bytes=1)
    assert sorted(done) == list(range(count))
    assert all(len(idents) == 1 for idents in owner.values())  # a buffer is one thread's
    side = count - count % share if share > 1 else 0
    # side by side each block's kernels get one thread; the last count % share blocks get them all
    assert [limits[b] for b in range(count)] == [1] * side + [share] * (count - side)
    assert threads.kernel_threads() == share  # the limit is lifted after


@pytest.mark.parametrize("bad", [0, 1])  # the first block of either thread (the caller waits on one first)
def test_a_failing_block_raises_and_stops_the_rest(monkeypatch, bad):
    monkeypatch.setattr(threads, "_share", 2)
    begun = []

    def work(b, buffer):
        begun.append(b)
        if b == bad:
            raise EstimatorError(f"block {bad} is bad")
        threading.Event().wait(0.01)

    with pytest.raises(EstimatorError, match=f"block {bad} is bad"):
        side_by_side.each_block(40, work, lambda: None, block_bytes=1)
    assert len(begun) < 40
    assert threads.kernel_threads() == 2


@pytest.mark.parametrize("metric", ["chebyshev", "euclidean"])
@pytest.mark.parametrize("share", [2, 3])
def test_knn_blocks_side_by_side_equal_one_at_a_time(monkeypatch, metric, share):
    rng = np.random.default_rng(21)
    acts = np.tanh(rng.normal(size=(7, 1200, 3)) * np.linspace(0.5, 6.0, 7)[:, None, None]).astype(np.float32)
    labels = rng.integers(0, 3, 1200)
    blocks = LayerBlocks(acts, labels, 3)
    estimator = KNN(metric=metric, replicates=4)
    with threads.limit_kernel_threads(1):
        monkeypatch.setattr(threads, "_share", 1)
        alone = estimator.estimate_blocks(blocks)
    seen = []
    real = kernels._knn.kth_distance

    def spy(*args):
        seen.append(args[5])  # the kernel's threads
        return real(*args)

    monkeypatch.setattr(kernels._knn, "kth_distance", spy)
    monkeypatch.setattr(threads, "_share", share)
    together = estimator.estimate_blocks(blocks)
    np.testing.assert_array_equal(together, alone)
    assert seen.count(1) == 7 - 7 % share and len(seen) == 7  # side by side on one thread each, the rest on all


def test_nan_in_one_block_is_refused_side_by_side(monkeypatch):
    monkeypatch.setattr(threads, "_share", 2)
    acts = np.random.default_rng(3).normal(size=(4, 300, 2)).astype(np.float32)
    acts[2, 17, 1] = np.nan
    with pytest.raises(EstimatorError, match="activations contain NaN"):
        KNN().estimate_blocks(LayerBlocks(acts, np.zeros(300, int), 1))


def test_an_interrupted_caller_begins_no_other_block(monkeypatch):
    monkeypatch.setattr(threads, "_share", 2)
    begun = []

    def work(b, buffer):
        begun.append(b)
        threading.Event().wait(0.02)

    real_result = side_by_side.ThreadPoolExecutor.submit

    def submit(pool, fn):
        future = real_result(pool, fn)
        future.result = lambda: (_ for _ in ()).throw(KeyboardInterrupt)  # Ctrl-C while the caller waits
        return future

    monkeypatch.setattr(side_by_side.ThreadPoolExecutor, "submit", submit)
    with pytest.raises(KeyboardInterrupt):
        side_by_side.each_block(100, work, lambda: None, block_bytes=1)
    assert len(begun) < 50  # the two under way finish, then none begins (without the stop: all 100)


@pytest.mark.parametrize("block_bytes, at_once, each", [(1, 4, 1), (2**28, 4, 1), (2**28 + 1, 3, 1), (2**29, 2, 2),
                                                        (2**30, 1, 4), (2**40, 1, 4)])
def test_blocks_at_once_are_cut_to_the_memory_they_hold(monkeypatch, block_bytes, at_once, each):
    monkeypatch.setattr(threads, "_share", 4)
    assert side_by_side.ways(4, block_bytes) == at_once
    limits = {}
    side_by_side.each_block(6, lambda b, buffer: limits.setdefault(b, threads.kernel_threads()), lambda: None,
                            block_bytes=block_bytes)
    side = 6 - 6 % at_once if at_once > 1 else 0
    assert [limits[b] for b in range(6)] == [each] * side + [4] * (6 - side)


def test_a_large_layer_runs_its_blocks_one_at_a_time(monkeypatch):
    monkeypatch.setattr(threads, "_share", 2)
    monkeypatch.setattr(side_by_side, "SIDE_BY_SIDE_BYTES", 5 * 8 * 300 * 8 * 2 * 2 - 1)  # less than 2 blocks
    seen = []
    real = kernels._knn.kth_distance
    monkeypatch.setattr(kernels._knn, "kth_distance", lambda *args: seen.append(args[5]) or real(*args))
    acts = np.random.default_rng(5).normal(size=(4, 300, 2)).astype(np.float32)
    KNN().estimate_blocks(LayerBlocks(acts, np.zeros(300, int), 1))
    assert seen == [2, 2, 2, 2]
