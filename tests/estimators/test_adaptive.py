"""The adaptive estimators of Chelombiev, Houghton & O'Donnell (2019): entropy-based
adaptive binning (``binning_entropy``) and the adaptive KDE bounds
(``kde_upper_adaptive``, ``kde_lower_adaptive``), against analytic answers, a
brute-force oracle and the authors' own binning rule."""
from __future__ import annotations

import bisect
import math

import numpy as np
import pytest

from ibsim.errors import EstimatorError
from ibsim.estimators import (
    BinningAdaptive,
    BinningEntropy,
    KDELower,
    KDELowerAdaptive,
    KDEUpper,
    KDEUpperAdaptive,
    LayerBlocks,
    make_estimator,
)
from ibsim.estimators.binning_entropy import entropy_bin_codes
from ibsim.estimators.edges import joint_entropy_bits
from ibsim.estimators.kernels import BlockError


def _blocks(acts, labels, dtype=np.float32, groups=None) -> LayerBlocks:
    acts = np.asarray(acts, dtype=dtype)
    acts = acts[None] if acts.ndim == 2 else acts
    labels = np.asarray(labels)
    n_groups = int(groups.max()) + 1 if groups is not None else len(labels)
    return LayerBlocks(acts, labels, int(labels.max()) + 1, groups=groups, n_groups=n_groups)


def _h(values) -> float:
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log2(p)))


# ---------------------------------------------------------------- binning_entropy


def test_registered_names_and_spec():
    assert make_estimator("binning_entropy").spec == "binning_entropy(n_bins=30)"
    assert isinstance(make_estimator("ebab(n_bins=8)"), BinningEntropy)
    assert make_estimator("kde_upper_adaptive").spec.startswith("kde_upper_adaptive(scale=0.1")
    assert isinstance(make_estimator("akde_lower"), KDELowerAdaptive)
    # the seed's discretization_range is a variance: it does not set the adaptive scale
    assert make_estimator("kde_upper_adaptive", discretization_range=0.5).scale == 0.1


@pytest.mark.parametrize("n_bins", [1, 2, 5, 30])
@pytest.mark.parametrize("per_bin", [1, 3, 7])
def test_distinct_values_fill_n_bins_equally(n_bins, per_bin):
    """N distinct values, N a multiple of n_bins: H(T) = log2 n_bins, whatever their spacing."""
    rng = np.random.default_rng(n_bins * 10 + per_bin)
    n = n_bins * per_bin
    acts = np.exp(rng.normal(size=(n, 1)) * 3)  # very uneven spacing
    assert len(np.unique(acts.astype(np.float32))) == n
    labels = np.arange(n) % 2
    ixt, ity = BinningEntropy(n_bins=n_bins).estimate_blocks(_blocks(acts, labels))[0]
    assert ixt == pytest.approx(math.log2(n_bins), abs=1e-12)
    codes = entropy_bin_codes(acts.astype(np.float32), n_bins)
    np.testing.assert_array_equal(np.bincount(codes.astype(int).ravel(), minlength=n_bins), per_bin)
    assert 0 <= ity <= min(ixt, 1.0) + 1e-12


@pytest.mark.parametrize("distinct, n_bins", [(31, 30), (100, 7), (7, 3), (1000, 30)])
def test_bins_hold_floor_or_ceil_of_the_distinct_values(distinct, n_bins):
    rng = np.random.default_rng(distinct)
    values = np.sort(rng.permutation(distinct).astype(np.float64))
    block = rng.choice(values, size=(3 * distinct, 2))  # ties: repeats of the distinct values
    block[:distinct, 0] = values  # every value present
    codes = entropy_bin_codes(block, n_bins)
    per_value = {v: c for v, c in zip(block.ravel(), codes.ravel())}
    assert all(per_value[v] == c for v, c in zip(block.ravel(), codes.ravel()))  # one code per value
    held = np.bincount(np.array([per_value[v] for v in values], dtype=int), minlength=n_bins)
    assert set(held.tolist()) <= {distinct // n_bins, -(-distinct // n_bins)}
    assert held.sum() == distinct and np.all(np.diff([per_value[v] for v in values]) >= 0)  # order kept


def _oracle(block: np.ndarray, n_bins: int, labels: np.ndarray) -> tuple[float, float]:
    """The rule in plain Python: edges u[k U // n], code = #edges <= t (bisect), plug-in entropies."""
    distinct = sorted(set(block.ravel().tolist()))
    edges = [distinct[k * len(distinct) // n_bins] for k in range(n_bins)]
    rows = np.array([[bisect.bisect_right(edges, t) for t in row] for row in block.tolist()])
    h_t = joint_entropy_bits(rows)
    h_t_y = sum(np.mean(labels == y) * joint_entropy_bits(rows[labels == y]) for y in np.unique(labels))
    return h_t, h_t - h_t_y


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_bins", [2, 5, 30])
def test_matches_a_brute_force_oracle(seed, n_bins):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, 200)
    z = rng.normal(size=(200, 3)) + labels[:, None]
    acts = np.round(np.maximum(z, 0), 2).astype(np.float32)  # ReLU-like, with zeros and ties
    ixt, ity = BinningEntropy(n_bins=n_bins).estimate_blocks(_blocks(acts, labels))[0]
    want = _oracle(acts, n_bins, labels)
    assert (ixt, ity) == pytest.approx(want, abs=1e-12)


def test_float64_activations_are_ranked_as_given():
    """Values that differ only beyond float32 precision are distinct values, not one."""
    base = np.arange(1, 9, dtype=np.float64)[:, None]
    acts = np.concatenate([base, base + 1e-12])  # 16 distinct float64, 8 distinct float32
    labels = np.arange(16) % 2
    ixt64 = BinningEntropy(n_bins=16).estimate_blocks(_blocks(acts, labels, np.float64))[0, 0]
    ixt32 = BinningEntropy(n_bins=16).estimate_blocks(_blocks(acts, labels, np.float32))[0, 0]
    assert ixt64 == pytest.approx(4.0, abs=1e-12) and ixt32 == pytest.approx(3.0, abs=1e-12)


def test_a_copy_of_the_labels_carries_exactly_H_Y():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    h_y = _h(labels)
    for acts in (labels[:, None], np.tile(labels[:, None] * 0.3 - 0.5, (1, 4))):
        for n_bins in (3, 30):
            ixt, ity = BinningEntropy(n_bins=n_bins).estimate_blocks(_blocks(acts, labels))[0]
            assert ixt == pytest.approx(h_y, abs=1e-12) and ity == pytest.approx(h_y, abs=1e-12)
    # two bins for three values merge the two upper classes: H of {0} vs {1, 2}
    ixt, ity = BinningEntropy(n_bins=2).estimate_blocks(_blocks(labels[:, None], labels))[0]
    assert ixt == pytest.approx(_h(labels > 0), abs=1e-12) and ity == pytest.approx(ixt, abs=1e-12)


def test_a_saturated_layer_keeps_its_sign_patterns():
    """tanh driven into saturation: values exactly +-1 in float32; 2 neurons, 4 equally likely patterns."""
    rng = np.random.default_rng(0)
    signs = np.array([[a, b] for a in (-1, 1) for b in (-1, 1)] * 64, dtype=np.float64)
    labels = (signs[:, 0] > 0).astype(int)
    acts = np.tanh(signs * 50 + rng.normal(size=signs.shape)).astype(np.float32)
    assert set(np.unique(acts).tolist()) == {-1.0, 1.0}
    ixt, ity = BinningEntropy().estimate_blocks(_blocks(acts, labels))[0]
    assert ixt == pytest.approx(2.0, abs=1e-12) and ity == pytest.approx(1.0, abs=1e-12)
    # half saturated: the saturated values fill the end bins, the rest are spread over the others
    acts = np.tanh(signs * rng.uniform(0.1, 50, size=signs.shape)).astype(np.float32)
    codes = entropy_bin_codes(acts, 30)
    assert np.all(codes[acts == 1.0] == 29) and np.all(codes[acts == -1.0] == 0)


def test_invariant_to_any_increasing_map_where_range_bins_are_not():
    """Bins follow ranks, so a strictly increasing map of the layer changes nothing."""
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 300)
    acts = (rng.normal(size=(300, 3)) + labels[:, None]) * 0.5
    mapped = np.exp(3 * acts) - 7.0  # strictly increasing, very non-linear
    one = BinningEntropy(n_bins=6).estimate_blocks(_blocks(acts, labels, np.float64))
    other = BinningEntropy(n_bins=6).estimate_blocks(_blocks(mapped, labels, np.float64))
    np.testing.assert_array_equal(one, other)
    range_bins = BinningAdaptive(n_bins=6, scope="block")
    assert not np.allclose(range_bins.estimate_blocks(_blocks(acts, labels, np.float64)),
                           range_bins.estimate_blocks(_blocks(mapped, labels, np.float64)))


def _authors_codes(block: np.ndarray, n_bins: int, low: float) -> np.ndarray:
    """The authors' rule (set_up_bins, maxentropy=True; calc_information_sampling), rewritten:
    a constant low edge, the distinct values without it, edges at int(k * (U / n)), the
    maximum appended, np.digitize."""
    distinct = np.setdiff1d(np.unique(block), [low])
    edges = [low] + [distinct[int(k * (distinct.size / n_bins))] for k in range(n_bins)] + [distinct[-1]]
    return np.digitize(block, np.asarray(edges, dtype=np.float32))


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.ravel().tolist(), b.ravel().tolist()))
    return len(pairs) == len(set(a.ravel().tolist())) == len(set(b.ravel().tolist()))


def test_the_authors_tanh_bins_are_ours_with_the_maximum_split_off():
    rng = np.random.default_rng(5)
    for n_samples, n_bins in ((40, 30), (50, 10), (97, 7)):  # U = 200 (not a multiple of 30), 250, 485
        acts = np.tanh(rng.normal(size=(n_samples, 5))).astype(np.float32)
        theirs = _authors_codes(acts, n_bins, low=-1.000001)
        ours = entropy_bin_codes(acts, n_bins)
        assert not _same_partition(theirs, ours)  # the maximum has a bin of its own there
        top = theirs.max()
        assert np.sum(theirs == top) == np.sum(acts == acts.max())
        assert _same_partition(np.where(theirs == top, top - 1, theirs), ours)


def test_the_authors_relu_bins_give_exact_zeros_a_bin_of_their_own():
    """Where the rules differ for ReLU (documented): their zeros sit below their n bins."""
    rng = np.random.default_rng(6)
    acts = np.maximum(rng.normal(size=(60, 5)), 0).astype(np.float32)
    theirs = _authors_codes(acts, 10, low=0.0)
    assert set(theirs[acts == 0].tolist()) == {1} and not np.any(theirs[acts > 0] == 1)
    ours = entropy_bin_codes(acts, 10)
    assert np.any(ours[acts > 0] == ours[acts == 0][0])  # here the zeros share bin 0 with small values


def test_non_finite_activations_are_refused_by_block():
    acts = np.zeros((3, 10, 2), dtype=np.float32)
    acts[2, 4, 1] = np.inf
    labels = np.arange(10) % 2
    for estimator in (BinningEntropy(), KDEUpperAdaptive(), KDELowerAdaptive()):
        with pytest.raises(BlockError, match="NaN or infinite") as caught:
            estimator.estimate_blocks(LayerBlocks(acts, labels, 2))
        assert caught.value.block == 2
        assert isinstance(caught.value, EstimatorError)


# ---------------------------------------------------------------- adaptive KDE


@pytest.mark.parametrize("adaptive, fixed", [(KDEUpperAdaptive, KDEUpper), (KDELowerAdaptive, KDELower)])
def test_the_variance_is_scale_times_the_blocks_largest_absolute_activation(adaptive, fixed):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 150)
    acts = np.maximum(rng.normal(size=(3, 150, 4)) * np.array([0.5, 2.0, 9.0])[:, None, None], 0)
    acts = acts.astype(np.float32)
    result = adaptive(scale=0.2).estimate_blocks(_blocks(acts, labels))
    for b in range(3):
        variance = 0.2 * float(np.abs(acts[b]).max())
        want = fixed(variance=variance).estimate_blocks(_blocks(acts[b], labels))[0]
        np.testing.assert_array_equal(result[b], want)
    # power 0 is the fixed bound itself
    np.testing.assert_array_equal(adaptive(scale=0.2, power=0).estimate_blocks(_blocks(acts, labels)),
                                  fixed(variance=0.2).estimate_blocks(_blocks(acts, labels)))


@pytest.mark.parametrize("adaptive, fixed", [(KDEUpperAdaptive, KDEUpper), (KDELowerAdaptive, KDELower)])
@pytest.mark.parametrize("c", [4.0, 0.125])
def test_rescaling_the_layer(adaptive, fixed, c):
    """c T: power 1 (variance proportional to the maximum) equals T at scale / c, power 2
    equals T, the fixed bounds equal T at variance / c**2 -- to the bit for c a power of two."""
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 200)
    acts = np.tanh(rng.normal(size=(2, 200, 3)) + labels[None, :, None]).astype(np.float32)
    scaled = (acts * np.float32(c)).astype(np.float32)
    np.testing.assert_array_equal(adaptive(scale=0.1).estimate_blocks(_blocks(scaled, labels)),
                                  adaptive(scale=0.1 / c).estimate_blocks(_blocks(acts, labels)))
    np.testing.assert_array_equal(adaptive(scale=0.1, power=2).estimate_blocks(_blocks(scaled, labels)),
                                  adaptive(scale=0.1, power=2).estimate_blocks(_blocks(acts, labels)))
    fixed_scaled = fixed(variance=0.01).estimate_blocks(_blocks(scaled, labels))
    np.testing.assert_array_equal(fixed_scaled, fixed(variance=0.01 / c**2).estimate_blocks(_blocks(acts, labels)))
    # so the fixed bound and the power-1 rule move with the scale; power 2 does not (above)
    fixed_move = np.abs(fixed_scaled - fixed(variance=0.01).estimate_blocks(_blocks(acts, labels))).max()
    adaptive_move = np.abs(adaptive(scale=0.1).estimate_blocks(_blocks(scaled, labels))
                           - adaptive(scale=0.1).estimate_blocks(_blocks(acts, labels))).max()
    assert fixed_move > 0.5 and adaptive_move > 0.1


@pytest.mark.parametrize("adaptive, width", [(KDEUpperAdaptive, 1.0), (KDELowerAdaptive, 4.0)])
@pytest.mark.parametrize("amplitude", [1.0, 0.25])
def test_two_saturated_clusters_analytic(adaptive, width, amplitude):
    """T = +-a on d neurons by label: S_i = N/2 (1 + q), q = exp(-4 d a^2 / (2 w scale a)),
    so I(X;T) = I(T;Y) = 1 - log2(1 + q) bits."""
    d, n, scale = 3, 200, 0.5
    labels = np.repeat([0, 1], n // 2)
    acts = np.where(labels[:, None] == 1, amplitude, -amplitude) * np.ones((n, d))
    q = math.exp(-4 * d * amplitude**2 / (2 * width * scale * amplitude))
    ixt, ity = adaptive(scale=scale).estimate_blocks(_blocks(acts, labels))[0]
    assert ixt == pytest.approx(1 - math.log2(1 + q), abs=1e-9)
    assert ity == pytest.approx(1 - math.log2(1 + q), abs=1e-9)


def test_a_shrinking_layer_is_not_lost_in_fixed_noise():
    """A layer whose activations shrink far inside the fixed noise looks constant to the
    fixed bound; the adaptive noise shrinks with it."""
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1], 100)
    acts = (np.where(labels[:, None] == 1, 1.0, -1.0) + 0.1 * rng.normal(size=(200, 2))) * 1e-3
    fixed = KDEUpper(variance=0.1).estimate_blocks(_blocks(acts, labels))[0]
    adaptive = KDEUpperAdaptive(scale=0.1, power=2).estimate_blocks(_blocks(acts, labels))[0]
    assert fixed[1] < 1e-3 and adaptive[1] > 0.9


def test_a_block_of_zeros_carries_nothing():
    labels = np.repeat([0, 1], 20)
    for estimator in (KDEUpperAdaptive(), KDELowerAdaptive(), BinningEntropy()):
        result = estimator.estimate_blocks(_blocks(np.zeros((40, 3)), labels))
        np.testing.assert_allclose(result, 0.0, atol=1e-12)
