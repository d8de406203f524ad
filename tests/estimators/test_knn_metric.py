"""The k-NN estimators' metric option, and the compiled neighbour search against scipy's cKDTree."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

import ibsim.estimators.knn as knn
from ibsim.errors import EstimatorError
from ibsim.estimators import KNN, LayerBlocks, kernels, reference
from ibsim.estimators.knn import discrete_mutual_information, kl_entropy, ksg_mutual_information, log_unit_ball

METRICS = ["chebyshev", "euclidean"]


def _gaussian_entropy(cov: np.ndarray) -> float:
    d = len(cov)
    return 0.5 * (d * math.log(2 * math.pi * math.e) + np.linalg.slogdet(cov)[1])


def test_unit_ball_volumes():
    assert log_unit_ball(1, "euclidean") == pytest.approx(math.log(2.0))  # [-1, 1]
    assert log_unit_ball(2, "euclidean") == pytest.approx(math.log(math.pi))
    assert log_unit_ball(3, "euclidean") == pytest.approx(math.log(4 / 3 * math.pi))
    assert log_unit_ball(3, "chebyshev") == pytest.approx(3 * math.log(2.0))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("d", [1, 2, 3])  # the KL bias grows with d (0.37 nats at d = 6, N = 8000)
def test_kozachenko_leonenko_matches_a_gaussian(metric, d):
    rng = np.random.default_rng(20 + d)
    a = rng.normal(size=(d, d)) * 0.3 + np.eye(d)
    cov = a @ a.T * 0.25
    z = rng.multivariate_normal(np.zeros(d), cov, size=8000)
    assert kl_entropy(z, 3, metric) == pytest.approx(_gaussian_entropy(cov), abs=0.04 * d + 0.02)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("rho", [0.0, 0.6, 0.9])
def test_ksg_matches_correlated_gaussians(metric, rho):
    # X and Y each 2-D, pairs of coordinates correlated by rho: I = -log(1 - rho^2) nats
    rng = np.random.default_rng(30)
    x = rng.normal(size=(4000, 2))
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(size=(4000, 2))
    expected = -math.log(1 - rho**2)
    assert ksg_mutual_information(x, y, 3, metric) == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("metric", METRICS)
def test_ross_separated_classes_carry_their_entropy(metric):
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 4, 2000)
    t = labels[:, None] * 10.0 + rng.normal(size=(2000, 3))
    p = np.bincount(labels) / len(labels)
    assert discrete_mutual_information(t, labels, 3, metric) == pytest.approx(-np.sum(p * np.log(p)), abs=0.02)


def _points(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "noisy copies of a tanh layer":
        return np.repeat(np.tanh(3 * rng.normal(size=(500, 7))), 8, axis=0) + 0.0316 * rng.normal(size=(4000, 7))
    if kind == "lattice":  # ties at every radius
        return rng.integers(-4, 5, (3000, 3)).astype(np.float64)
    return rng.normal(size=(3000, 12))


@pytest.mark.parametrize("kind", ["noisy copies of a tanh layer", "lattice", "normal 12-D"])
@pytest.mark.parametrize("metric,p", [("chebyshev", np.inf), ("euclidean", 2)])
def test_the_compiled_search_equals_ckdtree_bit_for_bit(kind, metric, p):
    rng = np.random.default_rng(5)
    x = _points(kind, rng)
    tree = cKDTree(x)
    for k in (1, 3, 8):
        kth = kernels.knn_kth_distance(x, k, metric)
        np.testing.assert_array_equal(kth, tree.query(x, k=k + 1, p=p)[0][:, -1])
        radius = np.nextafter(kth, 0)  # strictly within, as the estimators count
        for threads in (1, 2):
            np.testing.assert_array_equal(kernels.knn_count_within(x, radius, metric, num_threads=threads),
                                          tree.query_ball_point(x, radius, p=p, return_length=True))


@pytest.mark.parametrize("metric,p", [("chebyshev", np.inf), ("euclidean", 2)])
def test_a_full_size_block_equals_ckdtree_on_one_and_two_threads(metric, p):
    """The entropy's search as the estimator runs it: 8 noisy copies of 4096 samples of a saturated
    layer (many equal centres, so clusters of hundreds of points), on one thread and on two."""
    rng = np.random.default_rng(21)
    centres = np.tanh(4 * rng.normal(size=(4096, 4)))
    centres[:2000] = np.round(centres[:2000])  # saturated patterns: 81 centres shared by 2000 samples
    x = np.repeat(centres, 8, axis=0) + 0.0316 * rng.normal(size=(32768, 4))
    tree = cKDTree(x)
    kth = tree.query(x, k=4, p=p)[0][:, -1]
    radius = np.nextafter(kth, 0) * rng.choice([1.0, 6.0], len(x))  # strictly within, or well beyond
    counts = tree.query_ball_point(x, radius, p=p, return_length=True)
    assert counts.min() <= 3 and counts.max() > 30  # not trivially all k
    for threads in (1, 2):
        np.testing.assert_array_equal(kernels.knn_kth_distance(x, 3, metric, num_threads=threads), kth)
        np.testing.assert_array_equal(kernels.knn_count_within(x, radius, metric, num_threads=threads), counts)


def _ckdtree_kth(points, k, metric="chebyshev", split=None, group=1):
    return cKDTree(points).query(points, k=k + 1, p=np.inf)[0][:, -1]


def _ckdtree_count(points, radius, metric="chebyshev"):
    return np.asarray(cKDTree(points).query_ball_point(points, np.nextafter(radius, 0), p=np.inf,
                                                       return_length=True))


def test_estimates_equal_the_ckdtree_path(monkeypatch):
    """The knn estimator and the functions give the numbers of the former cKDTree searches, bit for bit."""
    rng = np.random.default_rng(13)
    labels = rng.integers(0, 3, 800)
    acts = np.tanh(2 * rng.normal(size=(2, 800, 5)) + labels[None, :, None]).astype(np.float32)
    x, y = rng.normal(size=(900, 2)), rng.normal(size=(900, 1))
    def run():
        return (KNN().estimate_blocks(LayerBlocks(acts, labels, 3)), kl_entropy(acts[0], 3),
                ksg_mutual_information(x, x[:, :1] + y, 3), discrete_mutual_information(acts[1], labels, 4))
    fast = run()
    monkeypatch.setattr(knn, "_kth_distance", _ckdtree_kth)
    monkeypatch.setattr(knn, "_count_within", _ckdtree_count)
    monkeypatch.setattr(knn, "_class_radius_and_count", knn._class_radius_and_count_two_step)
    slow = run()
    np.testing.assert_array_equal(fast[0], slow[0])
    assert fast[1:] == slow[1:]


def _layer(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "duplicate-heavy":  # a saturated layer: 12 patterns repeated, many rows identical
        patterns = np.sign(rng.normal(size=(12, 4))) * rng.choice([0.999, 0.97], size=(12, 4))
        return patterns[rng.integers(0, 12, 150)]
    return np.tanh(2 * rng.normal(size=(150, 4)))


@pytest.mark.parametrize("kind", ["duplicate-heavy", "continuous"])
@pytest.mark.parametrize("metric", METRICS)
def test_the_estimator_equals_the_brute_force_reference_bit_for_bit(monkeypatch, kind, metric):
    """Every search of the estimator (noisy copies, classes, counts) against all pairs (reference.py)."""
    rng = np.random.default_rng(14)
    acts = np.stack([_layer(kind, rng) for _ in range(2)]).astype(np.float32)
    labels = rng.integers(0, 3, acts.shape[1])
    estimator = KNN(metric=metric)
    fast = estimator.estimate_blocks(LayerBlocks(acts, labels, 3))
    monkeypatch.setattr(kernels, "knn_kth_distance", reference.knn_kth_distance)
    monkeypatch.setattr(kernels, "knn_count_within", reference.knn_count_within)
    monkeypatch.setattr(kernels, "knn_class_radius_and_count", reference.knn_class_radius_and_count)
    np.testing.assert_array_equal(fast, estimator.estimate_blocks(LayerBlocks(acts, labels, 3)))


def _ross_cases(rng: np.random.Generator):
    t = np.tanh(2 * rng.normal(size=(600, 3)))
    yield "2 classes", t, rng.integers(0, 2, 600)
    yield "string labels, a class of one, classes of <= k", t, rng.choice(
        np.array(["a", "b", "c", "d", "e"]), 600, p=[0.6, 0.39, 1 / 600, 2 / 600, 1 - 0.99 - 3 / 600])
    nan = rng.choice(np.array([0.0, 1.0, 2.5, np.nan]), 600)
    yield "float labels with NaN (no class, still counted)", t, nan
    yield "many classes", t, rng.integers(0, 150, 600)
    yield "classes apart, lone members", t, (t[:, 0] > 0) ^ (rng.random(600) < 0.02)
    yield "duplicates (no noise)", np.round(t, 1), rng.integers(0, 3, 600)
    yield "one dimension", t[:, 0], rng.integers(0, 4, 600)
    yield "all singletons", t, np.arange(600)


@pytest.mark.parametrize("metric", METRICS)
def test_ross_equals_its_former_two_searches_bit_for_bit(metric):
    """discrete_mutual_information through the one-walk search against the same function through the two
    searches it replaced (per class k-th distances, then one count), and their radii and counts."""
    rng = np.random.default_rng(16)
    for label, t, labels in _ross_cases(rng):
        for k in (1, 3, 7):
            x = knn._finite(t, "t")
            codes, _ = knn._class_codes(np.asarray(labels))
            one = knn._class_radius_and_count(x, codes, k, metric)
            two = knn._class_radius_and_count_two_step(x, codes, k, metric)
            np.testing.assert_array_equal(one[0].view(np.int64), two[0].view(np.int64), err_msg=label)
            np.testing.assert_array_equal(one[1], two[1], err_msg=label)
            fast = discrete_mutual_information(t, labels, k, metric)
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(knn, "_class_radius_and_count", knn._class_radius_and_count_two_step)
                assert discrete_mutual_information(t, labels, k, metric) == fast, (label, k)


@pytest.mark.parametrize("metric", METRICS)
def test_the_search_equals_the_reference_on_binary_inputs(metric):
    """12 binary features, 40 distinct rows over 800: ties at every radius, whole subtrees within one."""
    rng = np.random.default_rng(15)
    x = rng.integers(0, 2, (40, 12)).astype(np.float64)[rng.integers(0, 40, 800)]
    for k in (1, 3, 30):
        for split in (None, 5):
            kth = kernels.knn_kth_distance(x, k, metric, split)
            np.testing.assert_array_equal(kth, reference.knn_kth_distance(x, k, metric, split))
            for radius in (kth, np.nextafter(kth, 0), rng.choice([-1.0, 0.0, 1.0, 2.0], len(x))):
                np.testing.assert_array_equal(kernels.knn_count_within(x, radius, metric, split),
                                              reference.knn_count_within(x, radius, metric, split))


def test_the_metric_is_a_parameter_of_the_spec():
    assert KNN().spec == 'knn(k=3, noise_variance=0.001, replicates=8, seed=0, metric="chebyshev")'
    euclidean = KNN(metric="euclidean")
    assert "metric=\"euclidean\"" in euclidean.spec
    rng = np.random.default_rng(3)
    acts = np.tanh(rng.normal(size=(1, 600, 3))).astype(np.float32)
    labels = rng.integers(0, 2, 600)
    cheb = KNN().estimate_blocks(LayerBlocks(acts, labels, 2))
    eucl = euclidean.estimate_blocks(LayerBlocks(acts, labels, 2))
    assert np.all(np.isfinite(eucl)) and not np.array_equal(cheb, eucl)
    with pytest.raises(Exception, match="metric"):
        KNN(metric="manhattan")


@pytest.mark.parametrize("metric", METRICS)
def test_refusals_keep_their_words(metric):
    with pytest.raises(EstimatorError, match="NaN"):
        kl_entropy(np.array([[0.0], [np.nan], [1.0], [2.0], [3.0]]), 3, metric)
    with pytest.raises(EstimatorError, match="more than k = 3 samples, got N = 3"):
        ksg_mutual_information(np.arange(3.0), np.arange(3.0), 3, metric)
    with pytest.raises(EstimatorError, match="noise"):
        kl_entropy(np.zeros((10, 2)), 3, metric)
    with pytest.raises(EstimatorError, match="metric"):
        kl_entropy(np.zeros((10, 2)), 3, "cosine")


@pytest.mark.parametrize("metric", METRICS)
def test_ross_equals_its_formula_over_the_brute_force_twin(metric):
    """psi(N') + <psi(k_i)> - <psi(N_y)> - <psi(m_i)> over the N' samples of classes of two or more, with
    k_i = min(k, N_y - 1) and m_i from the all-pairs twin (classes of one left out)."""
    from scipy.special import digamma

    rng = np.random.default_rng(17)
    t = np.tanh(2 * rng.normal(size=(300, 3)))
    labels = rng.choice(np.array([0, 1, 2, 3, 4]), 300, p=[0.5, 0.45, 0.04, 2 / 300, 1 - 0.99 - 2 / 300])
    for k in (1, 3, 10):
        _, codes, sizes = np.unique(labels, return_inverse=True, return_counts=True)
        size = sizes[codes]
        kept = size > 1
        _, m = reference.knn_class_radius_and_count(t, codes, k, metric)
        expected = (digamma(kept.sum()) + np.mean(digamma(np.minimum(k, size - 1)[kept]))
                    - np.mean(digamma(size[kept])) - np.mean(digamma(m[kept])))
        assert discrete_mutual_information(t, labels, k, metric) == pytest.approx(expected, rel=1e-12, abs=1e-12)
