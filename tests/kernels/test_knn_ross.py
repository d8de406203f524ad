"""Ross's search in one walk (``knn_class_radius_and_count``) against the two searches it replaced, bit for bit.

The two-step way: per class, ``knn_kth_distance`` over the class's points with
k_i = min(k, size - 1); then ``knn_count_within(points, np.nextafter(radius, 0))``
over all points (and both against scipy's cKDTree). The kernel's two searches
(the points of a leaf batched, one point at a time) and its thread counts must
give the same radii and counts, down to the bits.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ibsim.estimators import kernels, reference
from ibsim_ext import _knn
from tests.kernels.hostile import _class_labels, knn_group_point_sets

METRICS = {"chebyshev": (_knn.CHEBYSHEV, np.inf), "euclidean": (_knn.EUCLIDEAN, 2)}
SEARCHES = {"auto": _knn.AUTO, "leaves": _knn.LEAVES, "per point": _knn.PER_POINT}
SETS = list(knn_group_point_sets(np.random.default_rng(11)))


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def _codes(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels >= 0 renumbered 0 .. C - 1 (negative: -1), as the kernel takes them."""
    labels = np.asarray(labels)
    codes = np.full(len(labels), -1, dtype=np.int64)
    values, codes[labels >= 0] = np.unique(labels[labels >= 0], return_inverse=True)
    return codes, len(values)


def _ross(points: np.ndarray, labels: np.ndarray, k: int, metric: str, search: str,
          threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(points, dtype=np.float64)
    codes, n_labels = _codes(labels)
    radius, count = np.full(len(x), np.nan), np.full(len(x), -5, dtype=np.int64)
    status = _knn.class_radius_and_count(x, codes, n_labels, k, METRICS[metric][0], radius, count, threads,
                                         SEARCHES[search])
    assert status == 0
    return radius, count


def two_step(points: np.ndarray, labels: np.ndarray, k: int, metric: str,
             ckdtree: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Ross's former two searches (the compiled kernels', or cKDTree's): per class its k_i-th distances, then
    one count over all points strictly within them; 0 and 0 for points of no class or a class of one."""
    points = np.asarray(points, dtype=np.float64)
    p = METRICS[metric][1]
    radius, kept = np.zeros(len(points)), np.zeros(len(points), dtype=bool)
    for label in np.unique(labels[labels >= 0]):
        members = labels == label
        size = int(members.sum())
        if size > 1:
            kc = min(k, size - 1)
            sub = points[members]
            radius[members] = (cKDTree(sub).query(sub, kc + 1, p=p)[0][:, -1] if ckdtree
                               else kernels.knn_kth_distance(sub, kc, metric))
            kept |= members
    below = np.nextafter(radius, 0)
    if ckdtree:
        within = np.asarray(cKDTree(points).query_ball_point(points, below, p=p, return_length=True))
    else:
        within = kernels.knn_count_within(points, below, metric)
    return radius, np.where(kept, within, 0).astype(np.int64)


def _check(got: tuple, expected: tuple, where: str) -> None:
    assert np.array_equal(_bits(got[0]), _bits(expected[0])), f"radii: {where}"
    assert np.array_equal(got[1], expected[1]), f"counts: {where}"


@pytest.mark.parametrize("label,points,natural", SETS, ids=[s[0] for s in SETS])
@pytest.mark.parametrize("metric", list(METRICS))
def test_every_search_equals_the_two_searches_it_replaced(label, points, natural, metric):
    """Isolated and overlapping clusters, duplicates, ties, d = 1 to 16; every labelling of hostile.py
    (few and many classes, classes of one and of <= k, lone members, no-class points); k = 1, 3, 10."""
    rng = np.random.default_rng(5)
    for name, labels in _class_labels(rng, points):
        labels = np.asarray(labels).astype(np.int64)
        for k in (1, 3, 10):
            expected = two_step(points, labels, k, metric)
            for search in SEARCHES:
                for threads in (1, 2):
                    _check(_ross(points, labels, k, metric, search, threads), expected,
                           f"{label}, {name}, {metric}, k={k}, {search}, {threads} threads")


def _block(d: int, spread: float, rng: np.random.Generator, n: int = 4096) -> np.ndarray:
    return np.tanh(3 * rng.normal(size=(n, d))) + spread * rng.normal(size=(n, d))


@pytest.mark.parametrize("metric", list(METRICS))
def test_full_blocks_equal_ckdtree_on_one_and_two_threads(metric):
    """4096 noisy draws of a saturated layer (widths 10 and 2), 2 and 10 classes, mixed in space or apart
    (classes by a coordinate's sign, a few lone members): cKDTree's two searches, bit for bit."""
    rng = np.random.default_rng(21)
    for d in (10, 2):
        x = _block(d, 0.0316, rng)
        for labels in (rng.integers(0, 2, len(x)), rng.integers(0, 10, len(x)),
                       (x[:, 0] > 0).astype(np.int64) ^ (rng.random(len(x)) < 0.01)):
            expected = two_step(x, labels, 3, metric, ckdtree=True)
            for threads in (1, 2):
                _check(kernels.knn_class_radius_and_count(x, labels, 3, metric, num_threads=threads), expected,
                       f"d={d}, {metric}, {threads} threads")
            _check(_ross(x, labels, 3, metric, "per point"), expected, f"d={d}, {metric}, per point")


@pytest.mark.parametrize("metric", list(METRICS))
def test_a_crowd_between_two_members_of_a_class(metric):
    """Each member of a class of two among 3000 points of another class (and the no-class points): its
    radius spans the crowd, more points than the batched search records per query (it counts them by a
    walk of its own); points on the radius, points just inside."""
    rng = np.random.default_rng(4)
    crowd = rng.uniform(-1, 1, (3000, 3))
    crowd[:40] = np.round(crowd[:40] * 4) / 4  # on a lattice: some at exactly the radius
    x = np.vstack([crowd, [[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], rng.uniform(-0.2, 0.2, (30, 3))])
    labels = np.concatenate([np.zeros(3000, dtype=np.int64), [1, 1], -np.ones(30, dtype=np.int64)])
    for k in (1, 3):
        expected = two_step(x, labels, k, metric, ckdtree=True)
        assert expected[1][3000] > 2 * 256  # the case this test is for
        for search in SEARCHES:
            _check(_ross(x, labels, k, metric, search), expected, f"{metric}, k={k}, {search}")


def test_labels_are_classes_by_equality():
    """Sparse (renumbered), spaced, boolean, unsigned and negative labels give the numbers of their classes."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(300, 4))
    codes = rng.integers(-1, 6, 300)
    expected = kernels.knn_class_radius_and_count(x, codes, 3)
    values = np.array([-9, 10**12, 3, 5, 2**40, 0, 77])  # code c -> values[c + 1] (-1 -> -9: no class)
    for labels in (values[codes + 1], 7 * codes, (7 * codes).astype(np.int32)):
        _check(kernels.knn_class_radius_and_count(x, labels, 3), expected, f"{labels.dtype} {labels[:5]}")
    for labels in (codes > 2, np.where(codes >= 0, codes, 2**63).astype(np.uint64)):
        _check(kernels.knn_class_radius_and_count(x, labels, 3), reference.knn_class_radius_and_count(x, labels, 3),
               f"{labels.dtype}")


def test_no_class_of_two_gives_zeros():
    x = np.random.default_rng(0).normal(size=(50, 2))
    for labels in (np.arange(50), -np.ones(50, dtype=np.int64)):
        radius, count = kernels.knn_class_radius_and_count(x, labels, 3)
        assert not radius.any() and not count.any()
