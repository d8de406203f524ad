"""The k-NN kernel's trees built on several threads, against scipy's cKDTree and the one-thread build, bit for bit.

From ``_knn.THREADED_BUILD_MIN`` rows, a search given two or more threads
builds its k-d tree (the point tree, or the group tree of the grouped search)
on them: the top levels on one thread, the subtrees below them in parallel,
each into a tree of its own, then joined (``kn_build_todo`` in
``ibsim_ext/knn_core.h``). The joined tree must hold every row once, every
node's box and cell and every leaf, or some search returns a wrong number: so
every search (grouped, leaves, one point at a time; counts; Ross's) on 2 and 3
threads must give cKDTree's numbers, or the one-thread kernel's for Ross's search
(whose two-search equivalence tests/kernels/test_knn_ross.py holds).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ibsim_ext import _knn
from tests.kernels.test_knn_grouped import METRICS, SEARCHES, _bits, _count, _kth
from tests.kernels.test_knn_ross import _ross

N = _knn.THREADED_BUILD_MIN


def _large_sets() -> list[tuple[str, np.ndarray, int]]:
    """Sets of at least THREADED_BUILD_MIN rows, with the group each is built of: copies apart (the grouped
    search) and overlapping (the leaves), ties, duplicate rows, one dense clump beside a sparse spread (lopsided
    splits), and values of very different scales."""
    rng = np.random.default_rng(5)
    sets = []
    centres = np.tanh(3 * rng.normal(size=(N // 8 + 37, 10)))
    sets.append(("copies apart, d=10", np.repeat(centres, 8, axis=0) + 0.03 * rng.normal(size=(len(centres) * 8, 10)),
                 8))
    patterns = np.sign(rng.normal(size=(16, 3)))[rng.integers(0, 16, N // 4)]
    sets.append(("saturated copies, d=3", np.repeat(patterns, 4, axis=0) + 0.03 * rng.normal(size=(N, 3)), 4))
    sets.append(("lattice with ties, d=2", rng.integers(-6, 7, (N + 123, 2)).astype(np.float64), 1))
    dup = rng.normal(size=(N // 16, 4))
    sets.append(("every row 16 times, d=4", np.repeat(dup, 16, axis=0), 16))
    clump = np.vstack([1e-6 * rng.normal(size=(N, 5)), rng.uniform(-50, 50, size=(300, 5))])
    sets.append(("dense clump and a sparse spread, d=5", clump[rng.permutation(len(clump))], 1))
    scales = rng.normal(size=(N + 7, 3)) * np.array([1e120, 1e-120, 1.0])
    sets.append(("huge and tiny coordinates, d=3", scales, 1))
    sets.append(("one point N times, d=2", np.ones((N, 2)), 1))
    return sets


SETS = _large_sets()


@pytest.mark.parametrize("label,points,group", SETS, ids=[s[0] for s in SETS])
@pytest.mark.parametrize("metric", list(METRICS))
def test_threaded_builds_give_ckdtrees_distances_and_counts(label, points, group, metric):
    assert len(points) >= N
    tree = cKDTree(points)
    p = METRICS[metric][1]
    expected = tree.query(points, k=4, p=p)[0][:, -1]
    for threads in (2, 3):
        for search in SEARCHES:
            got, ran = _kth(points, 3, metric, search, group, threads=threads)
            assert np.array_equal(_bits(got), _bits(expected)), f"{label}, {search} (ran {ran}), {threads} threads"
    radius = np.nextafter(expected, 0)
    counts = np.asarray(tree.query_ball_point(points, radius, p=p, return_length=True))
    for threads in (2, 3):
        for search in ("auto", "per point"):
            assert np.array_equal(_count(points, radius, metric, search, threads=threads), counts), \
                f"{label}, counts {search}, {threads} threads"


@pytest.mark.parametrize("label,points,group", SETS, ids=[s[0] for s in SETS])
@pytest.mark.parametrize("metric", list(METRICS))
def test_threaded_builds_give_rosss_numbers_of_one_thread(label, points, group, metric):
    labels = np.random.default_rng(len(points)).integers(-1, 3, len(points))
    radius, count = _ross(points, labels, 3, metric, "auto", threads=1)
    for threads in (2, 3):
        for search in ("auto", "per point"):
            r, c = _ross(points, labels, 3, metric, search, threads=threads)
            assert np.array_equal(_bits(r), _bits(radius)) and np.array_equal(c, count), \
                f"{label}, Ross {search}, {threads} threads"
