"""The KDE bounds against analytic answers and their invariants."""
from __future__ import annotations

import numpy as np
import pytest

from ibsim.errors import ConfigError, EstimatorError
from ibsim.estimators import KDELower, KDEUpper, LayerBlocks, make_estimator


def _blocks(acts, labels, n_classes=None):
    acts = np.asarray(acts, dtype=np.float32)
    acts = acts[None] if acts.ndim == 2 else acts
    return LayerBlocks(acts, np.asarray(labels), n_classes or int(np.max(labels)) + 1)


@pytest.mark.parametrize("estimator", [KDEUpper(), KDELower()])
@pytest.mark.parametrize("n_centres", [2, 8, 32])
def test_far_apart_centres_give_log2_of_their_number(estimator, n_centres):
    rng = np.random.default_rng(n_centres)
    centres = rng.normal(size=(n_centres, 5)) * 20
    acts = np.repeat(centres, 10, axis=0)  # 10 identical samples per centre
    labels = np.repeat(np.arange(n_centres) % 2, 10)
    ixt, ity = estimator.estimate_blocks(_blocks(acts, labels))[0]
    assert ixt == pytest.approx(np.log2(n_centres), abs=1e-9)
    assert ity == pytest.approx(1.0, abs=1e-9)  # centres determine the (balanced) label


def test_identical_rows_carry_no_information():
    acts = np.zeros((100, 3))
    labels = np.repeat([0, 1], 50)
    for estimator in (KDEUpper(), KDELower()):
        ixt, ity = estimator.estimate_blocks(_blocks(acts, labels))[0]
        assert ixt == pytest.approx(0.0, abs=1e-12) and ity == pytest.approx(0.0, abs=1e-12)


def test_upper_bound_is_above_lower_and_bounds_hold():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 600)
    p = np.bincount(labels) / len(labels)
    h_y = -np.sum(p * np.log2(p))
    acts = np.tanh(rng.normal(size=(10, 600, 4)) * np.linspace(0.2, 4, 10)[:, None, None])
    upper = KDEUpper(variance=0.01).estimate_blocks(_blocks(acts, labels))
    lower = KDELower(variance=0.01).estimate_blocks(_blocks(acts, labels))
    assert np.all(upper[:, 0] >= lower[:, 0] - 1e-12)
    for result in (upper, lower):
        assert np.all(result >= -1e-9)
        assert np.all(result[:, 0] <= np.log2(600) + 1e-9)
        assert np.all(result[:, 1] <= h_y + 1e-9)


def test_matches_the_peers_formulas():
    """ibsgd's entropy_estimator_kl / _bd and kde_condentropy, written out densely."""
    from scipy.special import logsumexp

    rng = np.random.default_rng(3)
    x = np.tanh(rng.normal(size=(300, 6)))
    labels = rng.integers(0, 2, 300)
    var = 0.01

    def h_kl(points, v):
        n, d = points.shape
        dists = ((points[:, None] - points[None]) ** 2).sum(-1)
        lprobs = logsumexp(-dists / (2 * v), axis=1) - np.log(n) - d / 2 * np.log(2 * np.pi * v)
        return d / 2 - np.mean(lprobs)

    def h_bd(points, v):
        return h_kl(points, 4 * v) + np.log(0.25) * points.shape[1] / 2

    h_given_x = 6 / 2 * (np.log(2 * np.pi * var) + 1)
    for entropy, estimator in ((h_kl, KDEUpper(variance=var)), (h_bd, KDELower(variance=var))):
        h = entropy(x, var)
        h_given_y = sum(np.mean(labels == c) * entropy(x[labels == c], var) for c in (0, 1))
        expected = np.array([h - h_given_x, h - h_given_y]) / np.log(2)
        np.testing.assert_allclose(estimator.estimate_blocks(_blocks(x, labels))[0], expected, atol=1e-9)


def test_seed_names_and_discretization_range():
    assert make_estimator("upper", 0.01).spec == "kde_upper(variance=0.01)"
    assert make_estimator("mi_estimator.lower").spec == "kde_lower(variance=0.001)"


@pytest.mark.parametrize("bad", [0.0, -1e-3, float("inf")])
def test_bad_variance_is_refused(bad):
    with pytest.raises(ConfigError, match="variance"):
        KDEUpper(variance=bad)


def test_nan_is_refused():
    acts = np.zeros((2, 20, 3), dtype=np.float32)
    acts[1, 3, 1] = np.nan
    with pytest.raises(EstimatorError, match="NaN"):
        KDEUpper().estimate_blocks(LayerBlocks(acts, np.zeros(20, int), 1))


@pytest.mark.parametrize("portable", [False, True])
def test_threads_do_not_change_results(portable):
    from ibsim.estimators.kernels import kde_log_sums

    rng = np.random.default_rng(4)
    acts = np.tanh(rng.normal(size=(3, 2000, 8))).astype(np.float32)
    labels = rng.integers(0, 4, 2000)
    for scale in (50.0, 2.0):  # the clamped and (AVX-512) the unclamped kernel
        one = kde_log_sums(acts, labels, 4, scale, num_threads=1, portable=portable)
        for threads in (2, 3, 7):
            assert np.array_equal(one, kde_log_sums(acts, labels, 4, scale, num_threads=threads, portable=portable))


#: The kernel's proven error (ibsim_ext/kde_core.h, docs/estimators.md): every
#: sum S_i is within a relative 2^-36 (pruned terms) + 2^-37 (the Gram form of
#: the distances, AVX-512 kernel) + 2e-13 (exp, rounding; d <= 32) of exact, so
#: each mean log sum is within this many nats of the dense formula.
KDE_SUM_BOUND = 2.0**-36 + 2.0**-37 + 2e-13

#: Both kernels where the CPU has AVX-512 (else the portable one twice).
KERNELS = [pytest.param(False, id="native"), pytest.param(True, id="portable")]


def _hostile_blocks():
    """Inputs that stress the pruning and rounding bounds: wide spreads, tight
    clusters, duplicates, neighbours just beyond the kernel's reach, d up to
    32, coordinates far from the origin (the Gram form must centre them), and
    distances spanning exp's whole range."""
    rng = np.random.default_rng(11)
    n = 400
    yield "wide spread d=32", rng.normal(size=(n, 32)) * 30, 0.5
    yield "wide kernel d=32", np.tanh(rng.normal(size=(n, 32))), 0.05
    centres = rng.normal(size=(8, 16)) * 3
    yield "clusters d=16", np.repeat(centres, n // 8, axis=0) + 1e-3 * rng.normal(size=(n, 16)), 200.0
    dup = np.tanh(3 * rng.normal(size=(n, 12)))
    dup[: n // 2] = dup[0]
    yield "half duplicates d=12", dup, 20.0
    saturated = np.sign(rng.normal(size=(n, 10))) * (1 - 1e-4 * rng.random((n, 10)))
    yield "saturated tanh d=10", saturated, 5.0
    far = np.tanh(rng.normal(size=(n, 10))) + 1000.0  # float32 spacing 6e-5 near 1000
    yield "far from the origin d=10", far, 0.3
    yield "far from the origin, narrower d=6", far[:, :6], 30.0
    yield "distances across exp's range d=4", rng.normal(size=(n, 4)) * 4, 1.0
    for side, factor in (("beyond", 1 + 1e-4), ("within", 1 - 1e-4)):
        yield f"simplex {side} the reach d=32", _simplex(factor), 1.0
        yield f"simplex {side} the reach, far row d=32", _simplex(factor, far_row=True), 1.0


def _simplex(factor: float, d: int = 32, far_row: bool = False) -> np.ndarray:
    """d rows, every pair at squared distance ``factor`` times the kernel's
    reach (scale 1): each row's sum is its own 1 plus d - 1 terms of about
    2^-36 / N each, which the kernel prunes (factor > 1) or keeps (< 1), so the
    pruned mass is as large as the bound allows.

    ``far_row`` adds a row far beyond exp's range (squared distance > 700), in
    the same tile: the AVX-512 kernel then tests every term against the reach
    (without it, a tile pair within exp's range keeps every term, exactly)."""
    n = d + far_row
    reach = np.log(n) + 36 * np.log(2.0)
    rows = np.eye(d) * np.sqrt(reach * factor / 2)
    if far_row:
        rows = np.vstack([rows, np.full((1, d), 6.0)])
    return rows


@pytest.mark.parametrize("portable", KERNELS)
@pytest.mark.parametrize("label,acts,scale", list(_hostile_blocks()), ids=lambda v: v if isinstance(v, str) else "")
def test_error_bound_holds_on_hostile_inputs(label, acts, scale, portable):
    from ibsim.estimators import reference
    from ibsim.estimators.kernels import kde_log_sums

    acts = np.asarray(acts, dtype=np.float32)[None]
    labels = np.random.default_rng(5).integers(0, 3, acts.shape[1])
    fast = kde_log_sums(acts, labels, 3, scale, portable=portable)
    exact = reference.kde_log_sums(acts, labels, 3, scale)
    assert np.abs(fast - exact).max() <= KDE_SUM_BOUND, label


@pytest.mark.parametrize("portable", KERNELS)
def test_error_bound_is_tight_and_reached_only_by_pruning(portable):
    """Beyond the reach every row loses almost 2^-36 of its sum where terms are
    tested against the reach (the bound is tight, and the pruning is what loses
    it); just within, nothing is lost. The AVX-512 kernel keeps every term of a
    tile pair within exp's range: there nothing is lost either side."""
    from ibsim.estimators import reference
    from ibsim.estimators.kernels import KDE_AVX512, kde_log_sums

    lossless = (-1e-14, 1e-14)
    for far_row in (False, True):
        for factor in (1 + 1e-4, 1 - 1e-4):
            acts = _simplex(factor, far_row=far_row).astype(np.float32)[None]
            labels = np.zeros(acts.shape[1], int)
            lost = reference.kde_log_sums(acts, labels, 1, 1.0) - kde_log_sums(acts, labels, 1, 1.0, portable=portable)
            tested = portable or not KDE_AVX512 or far_row
            low, high = (0.9 * 2.0**-36 * 32 / acts.shape[1], KDE_SUM_BOUND) if factor > 1 and tested else lossless
            assert np.all((lost >= low) & (lost <= high)), (factor, far_row, lost / 2.0**-36)


def test_the_two_kernels_agree_on_tanh_layers():
    """The AVX-512 and the portable kernel, each within the bound of exact, on
    saturated tanh layers at the seed's and a wide variance."""
    from ibsim.estimators import reference
    from ibsim.estimators.kernels import kde_log_sums

    rng = np.random.default_rng(12)
    labels = rng.integers(0, 2, 1500)
    for d in (2, 5, 10):
        acts = np.tanh(3 * rng.normal(size=(1, 1500, d))).astype(np.float32)
        for scale in (500.0, 5.0, 1.25):
            exact = reference.kde_log_sums(acts, labels, 2, scale)
            native = kde_log_sums(acts, labels, 2, scale)
            portable = kde_log_sums(acts, labels, 2, scale, portable=True)
            assert np.abs(native - exact).max() <= KDE_SUM_BOUND, (d, scale)
            assert np.abs(portable - exact).max() <= KDE_SUM_BOUND, (d, scale)
