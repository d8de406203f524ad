"""The k-NN searches compiled apart per width (``KN_WIDTHS`` in ``ibsim_ext/knn_core.h``) against cKDTree.

With k = 3 (the estimators' default), widths 1 to 12 run a copy of the batched
searches compiled for that width and norm alone; other k and wider layers run the
copy compiled for any. Every width from 1 to 13 is checked here for both norms with
k = 3 and k = 2, so that every copy is held to scipy's numbers bit for bit: the
k-th distances (the group tree's and the point tree's batches) and Ross's radii
and counts. The Euclidean k-th distances' copies have a second branch for KSG's
joint norm (a split of the coordinates), held to the brute-force twin.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ibsim.estimators import kernels, reference
from tests.kernels.test_knn_grouped import METRICS, _bits, _kth
from tests.kernels.test_knn_ross import _check, two_step

WIDTHS = range(1, 14)


def _copies(d: int, rng: np.random.Generator) -> np.ndarray:
    """8 noisy copies of 160 saturated-ish centres: isolated copies in the wide layers, overlapping in the narrow."""
    centres = np.tanh(3 * rng.normal(size=(160, d)))
    return np.repeat(centres, 8, axis=0) + 0.03 * rng.normal(size=(1280, d))


@pytest.mark.parametrize("d", WIDTHS)
@pytest.mark.parametrize("metric", list(METRICS))
def test_kth_distances_of_every_width_equal_ckdtree(d, metric):
    points = _copies(d, np.random.default_rng(d))
    tree = cKDTree(points)
    for k in (3, 2):
        expected = tree.query(points, k=k + 1, p=METRICS[metric][1])[0][:, -1]
        for search in ("auto", "grouped", "leaves"):
            for threads in (1, 2):
                got, ran = _kth(points, k, metric, search, group=8, threads=threads)
                assert np.array_equal(_bits(got), _bits(expected)), f"d={d}, {metric}, k={k}, {search} (ran {ran})"


@pytest.mark.parametrize("d", WIDTHS)
@pytest.mark.parametrize("metric", list(METRICS))
def test_ross_numbers_of_every_width_equal_ckdtree(d, metric):
    rng = np.random.default_rng(100 + d)
    points = _copies(d, rng)[::2]
    labels = rng.integers(0, 2, len(points))
    for k in (3, 2):
        expected = two_step(points, labels, k, metric, ckdtree=True)
        for threads in (1, 2):
            _check(kernels.knn_class_radius_and_count(points, labels, k, metric, num_threads=threads), expected,
                   f"d={d}, {metric}, k={k}, {threads} threads")


@pytest.mark.parametrize("d", WIDTHS[1:])
def test_split_norm_of_every_width_equals_the_brute_force_twin(d):
    """KSG's joint norm (the larger Euclidean norm of coordinates [0, split) and [split, d)) in each width's copy."""
    points = _copies(d, np.random.default_rng(200 + d))
    for split in sorted({1, d // 2, d - 1}):
        expected = reference.knn_kth_distance(points, 3, "euclidean", split)
        for search in ("grouped", "leaves"):
            got, ran = _kth(points, 3, "euclidean", search, group=8, split=split)
            assert np.array_equal(_bits(got), _bits(expected)), f"d={d}, split={split}, {search} (ran {ran})"
