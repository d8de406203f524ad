"""The k-d tree built by several threads (``kn_build_nodes`` in ``ibsim_ext/knn_core.h``) against cKDTree.

From 16384 rows on, with two threads or more, the point tree's top (nodes of more
than an eighth of the rows) is built first and its subtrees in parallel, each
into its own stretch of the node arrays, then moved together. The tree is the
one-thread tree with other node ids, so every search over it must give
cKDTree's numbers bit for bit: the k-th distances (leaves batched and one point
at a time, which also reads the row-major copy built in parallel), counts within
radii, and Ross's search. The sets make the top lopsided (skewed coordinates:
sliding-midpoint splits near the eighth bound, so many subtrees of unequal
sizes), crowded with duplicates, and wide.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from tests.kernels.test_knn_grouped import METRICS, _bits, _count, _kth
from tests.kernels.test_knn_ross import _check, _ross, two_step


def _sets():
    rng = np.random.default_rng(23)
    yield "skewed 20000 x 3", rng.exponential(size=(20000, 3)) ** 3
    duplicates = rng.integers(0, 40, size=(18000, 2)).astype(np.float64)
    yield "duplicates 18000 x 2", np.vstack([duplicates, rng.normal(size=(500, 2))])
    yield "wide 16384 x 9", np.tanh(2 * rng.normal(size=(16384, 9)))


SETS = list(_sets())


@pytest.mark.parametrize("label,points", SETS, ids=[s[0] for s in SETS])
@pytest.mark.parametrize("metric", list(METRICS))
def test_searches_over_a_tree_built_in_parallel_equal_ckdtree(label, points, metric):
    tree = cKDTree(points)
    p = METRICS[metric][1]
    expected = tree.query(points, k=4, p=p)[0][:, -1]
    radius = np.nextafter(expected, 0)
    counts = np.asarray(tree.query_ball_point(points, radius, p=p, return_length=True))
    for threads in (2, 3):
        for search in ("leaves", "per point"):
            got, _ = _kth(points, 3, metric, search, threads=threads)
            assert np.array_equal(_bits(got), _bits(expected)), f"{label}, {search}, {threads} threads"
        assert np.array_equal(_count(points, radius, metric, "leaves", threads=threads), counts), \
            f"{label}, counts, {threads} threads"


@pytest.mark.parametrize("metric", list(METRICS))
def test_ross_over_a_tree_built_in_parallel_equals_ckdtree(metric):
    points = SETS[0][1]
    labels = np.random.default_rng(5).integers(0, 3, len(points))
    expected = two_step(points, labels, 3, metric, ckdtree=True)
    for threads in (2, 3):
        _check(_ross(points, labels, 3, metric, "auto", threads), expected, f"skewed, {metric}, {threads} threads")
