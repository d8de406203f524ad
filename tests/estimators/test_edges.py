"""Bin codes on explicit per-neuron edges, against the seed notebook's convention."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from ibsim.errors import ConfigError, EstimatorError
from ibsim.estimators import reference
from ibsim.estimators.edges import bin_codes, joint_entropy_bits, probe_inputs


def notebook_codes(data: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """The seed notebook's ``compute_entropy`` digitization, for (neurons, samples) data
    and (neurons, n_edges) bins, generalised from 3 neurons to any number."""
    d = data.shape[0]
    bins_c = np.sort(bins)
    bins_c = np.hstack([np.full((d, 1), -np.inf), bins_c, np.full((d, 1), np.inf)])
    return np.array([np.digitize(data[i, :], bins_c[i, :]) for i in range(d)])


def notebook_entropy(data: np.ndarray, bins: np.ndarray) -> float:
    _, counts = np.unique(notebook_codes(data, bins), return_counts=True, axis=1)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log2(p)))


def _edges_and_acts(rng, n=500, d=4, n_edges=12):
    edges = rng.normal(size=(n_edges, d)) * rng.uniform(0.2, 3.0, size=d)
    for j in range(d):  # unsorted, differently per neuron
        edges[:, j] = edges[rng.permutation(n_edges), j]
    acts = rng.normal(size=(n, d)) * 2.0
    # values exactly on edges, including each neuron's smallest and largest edge
    acts[:n_edges, :] = edges
    acts[n_edges, :] = edges.min(axis=0)
    acts[n_edges + 1, :] = edges.max(axis=0)
    return acts, edges


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_codes_match_the_notebooks_digitize_minus_one(seed):
    acts, edges = _edges_and_acts(np.random.default_rng(seed))
    codes = bin_codes(acts, edges)
    assert codes.dtype == np.float32 and codes.shape == acts.shape
    expected = notebook_codes(acts.T, edges.T).T - 1
    np.testing.assert_array_equal(codes, expected)
    # a value on an edge opens that edge's interval: the code counts the edges <= x
    np.testing.assert_array_equal(codes, (edges[None, :, :] <= acts[:, None, :]).sum(axis=1))
    assert codes.min() == 0 and codes.max() == edges.shape[0]


def test_entropy_equals_the_notebooks_compute_entropy():
    rng = np.random.default_rng(5)
    acts, edges = _edges_and_acts(rng, n=1000, d=3, n_edges=50)
    assert joint_entropy_bits(bin_codes(acts, edges)) == pytest.approx(notebook_entropy(acts.T, edges.T), abs=1e-12)


def test_leading_block_dimensions_are_independent():
    rng = np.random.default_rng(3)
    blocks = [_edges_and_acts(rng, n=200, d=3, n_edges=7) for _ in range(6)]
    acts = np.stack([a for a, _ in blocks]).reshape(2, 3, 200, 3)
    edges = np.stack([e for _, e in blocks]).reshape(2, 3, 7, 3)
    codes = bin_codes(acts, edges)
    assert codes.shape == (2, 3, 200, 3)
    for (i, j), (a, e) in zip(itertools.product(range(2), range(3)), blocks):
        np.testing.assert_array_equal(codes[i, j], notebook_codes(a.T, e.T).T - 1)


def test_edge_order_does_not_matter():
    rng = np.random.default_rng(4)
    acts, edges = _edges_and_acts(rng)
    np.testing.assert_array_equal(bin_codes(acts, edges), bin_codes(acts, np.sort(edges, axis=0)))
    np.testing.assert_array_equal(bin_codes(acts, edges), bin_codes(acts, edges[::-1]))


def test_float32_activations_are_compared_exactly():
    edges = np.array([[0.1], [0.2]])  # 0.1 in float64, not representable in float32
    acts = np.array([[np.float32(0.1)], [np.float32(0.2)]], dtype=np.float32)
    # float32(0.1) > 0.1 and float32(0.2) > 0.2: both lie just above their edge
    np.testing.assert_array_equal(bin_codes(acts, edges)[:, 0], [1, 2])
    just_below = np.nextafter(np.float32(0.1), np.float32(0))
    assert bin_codes(np.array([[just_below]], dtype=np.float32), edges)[0, 0] == 0


@pytest.mark.parametrize("width,lo", [(0.25, -2.0), (0.5, -3.5), (1.0, 0.0)])
def test_uniform_equal_edges_agree_with_floor_binning_up_to_an_offset(width, lo):
    n_edges, d = 17, 3
    edges = np.tile((lo + width * np.arange(n_edges))[:, None], (1, d))
    hi = edges[-1, 0]
    rng = np.random.default_rng(1)
    # dyadic values: exact arithmetic, many exactly on edges
    acts = lo + rng.integers(0, int(round((hi - lo) / width * 64)), size=(2000, d)) / 64 * width
    assert np.any(np.isin(acts, edges))
    codes = bin_codes(acts, edges)
    floor_codes = reference.bin_codes(acts, lo, width, 0)
    np.testing.assert_array_equal(codes - floor_codes, np.ones_like(codes))
    assert joint_entropy_bits(codes) == pytest.approx(reference._entropy_bits(floor_codes), abs=1e-12)
    # outside the edges: codes 0 and n_edges
    outside = np.array([[lo - 10.0] * d, [hi] * d, [hi + 10.0] * d])
    np.testing.assert_array_equal(bin_codes(outside, edges)[:, 0], [0, n_edges, n_edges])


def test_codes_feed_the_binning_kernel_with_unit_width():
    from ibsim.estimators.kernels import binned_entropies

    rng = np.random.default_rng(7)
    pairs = [_edges_and_acts(rng, n=300, d=3, n_edges=20) for _ in range(4)]
    codes = bin_codes(np.stack([a for a, _ in pairs]), np.stack([e for _, e in pairs]))
    out = binned_entropies(codes, 0.0, 1.0)
    expected = [joint_entropy_bits(c) for c in codes]
    np.testing.assert_allclose(out[:, 0], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_joint_entropy_of_uniform_patterns_is_k_bits(k):
    patterns = np.array(list(itertools.product([0, 1], repeat=k)), dtype=np.float32)
    assert joint_entropy_bits(np.repeat(patterns, 3, axis=0)) == pytest.approx(k, abs=1e-12)


def test_joint_entropy_of_known_distributions():
    assert joint_entropy_bits(np.array([[0.0], [0.0], [1.0], [2.0]])) == pytest.approx(1.5, abs=1e-12)
    assert joint_entropy_bits(np.zeros((10, 3))) == 0.0
    # rows, not columns, are the states: (0,1) and (1,0) are two states of equal mass
    assert joint_entropy_bits(np.array([[0, 1], [1, 0]] * 4)) == pytest.approx(1.0, abs=1e-12)
    p = np.array([0.5, 0.25, 0.125, 0.125])
    rows = np.repeat(np.arange(4), (p * 8).astype(int))[:, None]
    assert joint_entropy_bits(rows) == pytest.approx(-np.sum(p * np.log2(p)), abs=1e-12)
    assert joint_entropy_bits(np.arange(1000)[:, None]) == pytest.approx(np.log2(1000), abs=1e-12)


def test_probe_inputs_are_the_notebooks_edges_on_the_diagonal():
    X = np.random.default_rng(0).normal(size=(1000, 3))
    probes = probe_inputs(X, 50, 1.0)
    assert probes.shape == (50, 3)
    expected = np.linspace(X.min() - 1, X.max() + 1, 50)
    for j in range(3):
        np.testing.assert_array_equal(probes[:, j], expected)
    assert probe_inputs(X, 2, 0.0)[:, 0].tolist() == [X.min(), X.max()]


@pytest.mark.parametrize("acts,edges,match", [
    (np.array([[np.nan, 0.0]]), np.zeros((3, 2)), "activations contain 1 NaN"),
    (np.array([[np.inf, 0.0]]), np.zeros((3, 2)), "activations contain 1 NaN or infinite"),
    (np.zeros((4, 2)), np.array([[0.0, -np.inf]]), "edges contain 1 NaN or infinite"),
    (np.zeros((4, 2)), np.zeros((3, 3)), "one column of edges per neuron"),
    (np.zeros((2, 4, 2)), np.zeros((3, 3, 2)), "same leading dimensions"),
    (np.zeros((2, 4, 2)), np.zeros((3, 2)), "leading dimensions"),
    (np.zeros(4), np.zeros(3), "samples, neurons"),
    (np.zeros((4, 2)), np.zeros((0, 2)), "at least one bin edge"),
    (np.zeros((4, 2), dtype=complex), np.zeros((3, 2)), "real numbers"),
])
def test_bin_codes_refuses_bad_inputs(acts, edges, match):
    with pytest.raises(EstimatorError, match=match):
        bin_codes(acts, edges)


def test_other_functions_refuse_bad_inputs():
    with pytest.raises(EstimatorError, match="samples, neurons"):
        joint_entropy_bits(np.zeros(5))
    with pytest.raises(EstimatorError, match="samples > 0"):
        joint_entropy_bits(np.zeros((0, 3)))
    with pytest.raises(EstimatorError, match="NaN"):
        joint_entropy_bits(np.array([[0.0], [np.nan]]))
    with pytest.raises(ConfigError, match="n_edges must be an int >= 2"):
        probe_inputs(np.zeros((3, 2)), 1, 1.0)
    with pytest.raises(ConfigError, match="n_edges"):
        probe_inputs(np.zeros((3, 2)), 5.0, 1.0)
    with pytest.raises(ConfigError, match="margin"):
        probe_inputs(np.zeros((3, 2)), 5, -1.0)
    with pytest.raises(EstimatorError, match="inputs contain"):
        probe_inputs(np.array([[0.0, np.nan]]), 5, 1.0)
    with pytest.raises(EstimatorError, match="non-empty"):
        probe_inputs(np.zeros((0, 2)), 5, 1.0)
