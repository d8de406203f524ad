"""The k-NN kernel's memory kept between searches, reused with whatever the last search left in it.

The trees' large arrays come from blocks the kernel keeps between calls
(``kn_take``/``kn_give`` in ``ibsim_ext/knn_core.h``), never zeroed: each
search must write everything it reads. Searches of shrinking and growing sizes,
both metrics and 1 to 3 threads run one after another, each after a search that
filled the kept blocks with huge values, so that anything read before it is
written (the row-major points' padding, boxes, cells, leaf copies) would change
the numbers; every number must be cKDTree's (or, for Ross's search, the
one-point-at-a-time search's, held to the two searches it replaced by
tests/kernels/test_knn_ross.py).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from tests.kernels.test_knn_grouped import METRICS, SEARCHES, _bits, _count, _kth
from tests.kernels.test_knn_ross import _ross


def _spoil(rng: np.random.Generator, rows: int, d: int) -> None:
    """Fill the kept blocks with huge values: searches of 1e300-scale points of every kind, sizes about rows."""
    huge = 1e300 * rng.uniform(-1, 1, (rows, d))
    for search in SEARCHES:
        _kth(huge, 3, "chebyshev", search, 4)
    _count(huge, np.full(rows, 1e299), "chebyshev", "per point")
    _ross(huge, rng.integers(0, 2, rows), 3, "chebyshev", "per point")


def _sets(rng: np.random.Generator):
    """Point sets of shrinking then growing sizes, widths not multiples of 4 (padded lanes), copies in groups."""
    for rows, d in ((6000, 10), (700, 3), (33, 1), (5000, 5), (64, 2), (9000, 7)):
        centres = np.tanh(2 * rng.normal(size=(rows // 4, d)))
        yield f"{rows} x {d}", np.repeat(centres, 4, axis=0) + 0.05 * rng.normal(size=(rows // 4 * 4, d))


@pytest.mark.parametrize("metric", list(METRICS))
def test_searches_after_spoiled_kept_memory_equal_ckdtree(metric):
    rng = np.random.default_rng(17)
    p = METRICS[metric][1]
    for label, points in _sets(rng):
        tree = cKDTree(points)
        expected = tree.query(points, k=4, p=p)[0][:, -1]
        radius = np.nextafter(expected, 0)
        counts = np.asarray(tree.query_ball_point(points, radius, p=p, return_length=True))
        labels = rng.integers(-1, 3, len(points))
        for threads in (1, 3):
            _spoil(rng, len(points) + 64, points.shape[1] + 1)
            for search in SEARCHES:
                got, ran = _kth(points, 3, metric, search, 4, threads=threads)
                assert np.array_equal(_bits(got), _bits(expected)), f"{label}, {search} (ran {ran}), {threads}"
            for search in ("auto", "per point"):
                assert np.array_equal(_count(points, radius, metric, search, threads=threads), counts), \
                    f"{label}, counts {search}, {threads}"
            r1, c1 = _ross(points, labels, 3, metric, "per point", threads=threads)
            _spoil(rng, len(points) + 64, points.shape[1] + 1)
            r2, c2 = _ross(points, labels, 3, metric, "auto", threads=threads)
            assert np.array_equal(_bits(r1), _bits(r2)) and np.array_equal(c1, c2), f"{label}, Ross, {threads}"
