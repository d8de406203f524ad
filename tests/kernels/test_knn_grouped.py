"""The k-NN kernel's searches against each other and against scipy's cKDTree, bit for bit.

The k-th distance search has three implementations (``ibsim_ext/knn_core.h``):
the groups of copies batched (``group`` >= 2), the points of each tree leaf
batched, and one point at a time; the counts two (batched, one at a time).
Whichever runs, and whatever ``group``, every number must be cKDTree's (or the
brute-force twin's, for KSG's split norm), down to the bits.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ibsim.errors import EstimatorError
from ibsim.estimators import kernels, reference
from ibsim.estimators.knn import kl_entropy
from ibsim_ext import _knn
from tests.kernels.hostile import knn_group_point_sets

METRICS = {"chebyshev": (_knn.CHEBYSHEV, np.inf), "euclidean": (_knn.EUCLIDEAN, 2)}
SEARCHES = {"auto": _knn.AUTO, "grouped": _knn.GROUPED, "leaves": _knn.LEAVES, "per point": _knn.PER_POINT}
SETS = list(knn_group_point_sets(np.random.default_rng(7)))


def _bits(a: np.ndarray) -> np.ndarray:
    """The float64 values as their bit patterns (tells 0.0 from -0.0, which == does not)."""
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def _kth(points: np.ndarray, k: int, metric: str, search: str, group: int = 1, split: int | None = None,
         threads: int = 1) -> tuple[np.ndarray, int]:
    x = np.ascontiguousarray(points, dtype=np.float64)
    out, ran = np.empty(len(x)), np.zeros(1, dtype=np.intc)
    status = _knn.kth_distance(x, k, METRICS[metric][0], x.shape[1] if split is None else split, out, threads,
                               group, SEARCHES[search], ran)
    assert status == 0
    return out, int(ran[0])


def _count(points: np.ndarray, radius: np.ndarray, metric: str, search: str, split: int | None = None,
           threads: int = 1) -> np.ndarray:
    x = np.ascontiguousarray(points, dtype=np.float64)
    out = np.empty(len(x), dtype=np.int64)
    status = _knn.count_within(x, np.ascontiguousarray(radius, dtype=np.float64), METRICS[metric][0],
                               x.shape[1] if split is None else split, out, threads, SEARCHES[search])
    assert status == 0
    return out


@pytest.mark.parametrize("label,points,natural", SETS, ids=[s[0] for s in SETS])
@pytest.mark.parametrize("metric", list(METRICS))
def test_every_search_and_group_equals_ckdtree(label, points, natural, metric):
    """Duplicates, ties, isolated and overlapping groups, d = 1 to 16; k = 1, 3, 10 (so g - 1 < k too);
    groups of 2 to 16 rows, groups that do not divide N and one group of all N rows."""
    tree = cKDTree(points)
    for k in (1, 3, 10):
        expected = tree.query(points, k=k + 1, p=METRICS[metric][1])[0][:, -1]
        for group in sorted({1, 2, 4, 8, 16, natural, len(points)}):
            for search in SEARCHES:
                got, ran = _kth(points, k, metric, search, group)
                where = f"{label}, {metric}, k={k}, group={group}, {search} (ran {ran})"
                assert np.array_equal(_bits(got), _bits(expected)), where


@pytest.mark.parametrize("label,points,natural", SETS[:6] + SETS[10:], ids=[s[0] for s in SETS[:6] + SETS[10:]])
def test_the_split_norm_grouped_equals_the_brute_force_twin(label, points, natural):
    """KSG's joint norm (the larger Euclidean norm of two blocks of coordinates), grouped or not."""
    d = points.shape[1]
    for split in sorted({max(1, d // 2), d}):
        for k in (1, 3):
            expected = reference.knn_kth_distance(points, k, "euclidean", split)
            for group in (1, 3, natural):
                for search in SEARCHES:
                    got, _ = _kth(points, k, "euclidean", search, group, split)
                    assert np.array_equal(_bits(got), _bits(expected)), f"{label} split={split} {search} g={group}"


@pytest.mark.parametrize("label,points,natural", SETS, ids=[s[0] for s in SETS])
@pytest.mark.parametrize("metric", list(METRICS))
def test_batched_counts_equal_ckdtree(label, points, natural, metric):
    """Radii on neighbour distances (rows exactly on them), just below, six times beyond, random and negative."""
    rng = np.random.default_rng(3)
    p = METRICS[metric][1]
    tree = cKDTree(points)
    kth = tree.query(points, k=4, p=p)[0][:, -1]
    for radius in (kth, np.nextafter(kth, 0), 6 * kth, rng.uniform(-0.5, 2.0, len(points))):
        expected = np.where(radius < 0, 0, tree.query_ball_point(points, np.maximum(radius, 0), p=p,
                                                                 return_length=True))
        for search in ("auto", "leaves", "per point"):
            got = _count(points, radius, metric, search)
            assert np.array_equal(got, expected), f"{label}, {metric}, {search}"


def _copies(d: int, spread: float, n: int = 4096, patterns: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(d)
    centres = np.tanh(3 * rng.normal(size=(patterns or n, d)))[rng.integers(0, patterns or n, n)]
    return np.repeat(centres, 8, axis=0) + spread * rng.normal(size=(8 * n, d))


def _crowd_behind_isolated_samples(d: int = 3) -> np.ndarray:
    """8 copies of 4096 samples: every 128th sample (the groups the first look samples) alone far out, the
    others in 16 patterns whose copies overlap: the first look finds no crowd, the probe does."""
    rng = np.random.default_rng(1)
    centres = np.sign(rng.normal(size=(16, d)))[rng.integers(0, 16, 4096)]
    centres[::128] = 100.0 * np.arange(1, 33)[:, None] + rng.normal(size=(32, d))
    return np.repeat(centres, 8, axis=0) + 0.0316 * rng.normal(size=(8 * 4096, d))


@pytest.mark.parametrize("metric", list(METRICS))
def test_the_probe_keeps_apart_groups_and_gives_up_overlapping_ones(metric):
    """Full-size blocks (8 noisy copies of 4096 samples): apart in 10 dimensions (the grouped search runs),
    mixed in 2 dimensions (64 patterns: the first look, kn_crowded, sends them to the leaves), mixed behind
    isolated groups where the first look samples (the probe, after building the group tree, gives up);
    both threads counts."""
    cases = ((_copies(10, 0.0316), _knn.GROUPED), (_copies(2, 0.0316, patterns=64), _knn.LEAVES),
             (_crowd_behind_isolated_samples(), _knn.LEAVES))
    for x, expected_search in cases:
        d = x.shape[1]
        expected = cKDTree(x).query(x, k=4, p=METRICS[metric][1])[0][:, -1]
        for threads in (1, 2):
            got, ran = _kth(x, 3, metric, "auto", 8, threads=threads)
            assert ran == expected_search, (d, ran)
            assert np.array_equal(_bits(got), _bits(expected)), (d, threads)


def test_kernels_refuse_a_bad_group_by_name():
    x = np.random.default_rng(0).normal(size=(20, 3))
    for bad in (0, -2, 21, 2.5, True, "4", None):
        with pytest.raises(EstimatorError, match=r"group must be an integer in \[1, N\] = \[1, 20\]"):
            kernels.knn_kth_distance(x, 3, group=bad)
        with pytest.raises(EstimatorError, match="group"):
            reference.knn_kth_distance(x, 3, group=bad)
        with pytest.raises(EstimatorError, match="group"):
            kl_entropy(x, 3, group=bad)
    for good in (1, 7, 20, np.int64(8)):  # 7 and 8 do not divide 20: the last group is shorter
        assert np.array_equal(_bits(kernels.knn_kth_distance(x, 3, group=good)),
                              _bits(kernels.knn_kth_distance(x, 3)))


@pytest.mark.parametrize("metric", list(METRICS))
def test_kl_entropy_is_the_same_grouped(metric):
    x = _copies(7, math.sqrt(1e-3), n=600)
    assert kl_entropy(x, 3, metric, group=8) == kl_entropy(x, 3, metric) == kl_entropy(x, 3, metric, 3)
