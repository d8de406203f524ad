"""The matrix-based Rényi α-entropy estimator: closed forms, its paths against
the dense NumPy twin, width rules, refusals and bounds."""
from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
import xarray as xr

from ibsim import Config, Experiment
from ibsim.errors import ConfigError, EstimatorError
from ibsim.estimators import ESTIMATORS, LayerBlocks, reference
from ibsim.estimators.renyi import knn_sigma, matrix_renyi_entropy, silverman_sigma
from ibsim.pipeline.reestimate import estimate_file
from tests.conftest import CONFIGS


def _layer(n: int = 200, d: int = 4, blocks: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(2), n // 2)
    acts = np.tanh(rng.normal(size=(blocks, n, d)) + labels[None, :, None]).astype(np.float32)
    return acts, labels


def _dense_mi(x: np.ndarray, labels: np.ndarray, sigma: float, alpha: float) -> tuple[float, float]:
    """I(X;T), I(T;Y) written out densely (distinct inputs: the identity kernel for X)."""
    gram = reference.gaussian_gram(x, sigma)
    n = len(x)
    label_gram = (labels[:, None] == labels[None, :]).astype(np.float64)
    s_t = reference.renyi_entropy_dense(gram, alpha)
    s_x = reference.renyi_entropy_dense(np.eye(n), alpha)
    s_tx = reference.renyi_entropy_dense(gram * np.eye(n), alpha)
    s_y = reference.renyi_entropy_dense(label_gram, alpha)
    s_ty = reference.renyi_entropy_dense(gram * label_gram, alpha)
    return s_x + s_t - s_tx, s_y + s_t - s_ty


@pytest.mark.parametrize("alpha", [0.5, 1.01, 2.0, 3.0])
def test_identical_samples_have_zero_entropy(alpha):
    x = np.full((50, 3), 0.7)
    assert matrix_renyi_entropy(x, 1.0, alpha) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 1.01, 2.0, 3.0])
def test_far_apart_points_have_log2_n(alpha):
    x = np.arange(64, dtype=np.float64)[:, None] * 10.0
    assert matrix_renyi_entropy(x, 0.1, alpha) == pytest.approx(6.0, abs=1e-9)


def test_alpha_two_matches_the_dense_twin():
    rng = np.random.default_rng(1)
    for n, d, sigma in [(300, 5, 0.4), (500, 20, 3.0), (120, 1, 0.05)]:
        x = np.tanh(rng.normal(size=(n, d))).astype(np.float32).astype(np.float64)
        dense = reference.renyi_entropy_dense(reference.gaussian_gram(x, sigma), 2.0)
        assert abs(matrix_renyi_entropy(x, sigma, 2.0) - dense) < 1e-9


@pytest.mark.parametrize("alpha", [0.5, 1.01, 1.5, 3.0])
def test_eigen_path_matches_the_dense_twin(alpha):
    rng = np.random.default_rng(2)
    x = np.tanh(2 * rng.normal(size=(400, 4)))
    x[100:150] = x[0]  # duplicates: the path works on weighted distinct rows
    for sigma in (0.3, 1.0):
        dense = reference.renyi_entropy_dense(reference.gaussian_gram(x, sigma), alpha)
        assert abs(matrix_renyi_entropy(x, sigma, alpha) - dense) < 1e-6


#: The stochastic path's stated error (docs/estimators.md): 0.05 bits.
STOCHASTIC_ERROR = 0.05


@pytest.mark.parametrize("alpha", [0.5, 1.01, 2.5])
def test_stochastic_trace_is_close_to_the_eigen_path_and_deterministic(alpha):
    rng = np.random.default_rng(3)
    x = np.tanh(2 * rng.normal(size=(600, 4)))
    exact = matrix_renyi_entropy(x, 0.7, alpha)
    stochastic = matrix_renyi_entropy(x, 0.7, alpha, exact_limit=100, probes=16, seed=5)
    assert abs(stochastic - exact) < STOCHASTIC_ERROR
    assert matrix_renyi_entropy(x, 0.7, alpha, exact_limit=100, probes=16, seed=5) == stochastic


def test_refusals():
    x = np.random.default_rng(0).normal(size=(30, 2))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(EstimatorError, match="NaN"):
        matrix_renyi_entropy(bad, 1.0)
    with pytest.raises(EstimatorError, match="N >= 2"):
        matrix_renyi_entropy(x[:1], 1.0)
    with pytest.raises(EstimatorError, match="more than k = 10 samples, got N = 10"):
        matrix_renyi_entropy(x[:10], "knn")
    with pytest.raises(EstimatorError, match="α"):
        matrix_renyi_entropy(x, 1.0, alpha=1.0)
    with pytest.raises(EstimatorError, match="sigma"):
        matrix_renyi_entropy(x, -1.0)
    with pytest.raises(ConfigError, match="other than 1"):
        ESTIMATORS.get("renyi")(alpha=1)
    with pytest.raises(ConfigError, match="silverman"):
        ESTIMATORS.get("renyi")(sigma="scott")


def test_estimator_refuses_nan_and_one_sample():
    acts, labels = _layer()
    acts[1, 3, 2] = np.nan
    estimator = ESTIMATORS.get("renyi")()
    with pytest.raises(EstimatorError, match="NaN") as info:
        estimator.estimate_blocks(LayerBlocks(acts=acts, labels=labels, n_classes=2))
    assert info.value.block == 1
    with pytest.raises(EstimatorError, match="at least 2 samples"):
        estimator.estimate_blocks(LayerBlocks(acts=acts[:1, :1], labels=labels[:1], n_classes=2))


def test_sigma_rules():
    assert silverman_sigma(1000, 10) == pytest.approx(0.8 * math.sqrt(10) * 1000 ** (-1 / 14))
    grid = np.arange(20, dtype=np.float64)[:, None]  # neighbours at 1, 1 (ends: 1, 2)
    assert knn_sigma(grid, 2) == pytest.approx((18 * 2 + 2 * 3) / 40)
    x = np.random.default_rng(4).normal(size=(300, 3))
    brute = np.sort(np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1)), axis=1)[:, 1:11].mean()
    assert knn_sigma(x, 10) == pytest.approx(brute, rel=1e-9)
    fixed = ESTIMATORS.get("renyi")(sigma=0.5)
    assert fixed.widths(x[None].astype(np.float32)) == pytest.approx([0.5])
    assert ESTIMATORS.get("renyi")(sigma="silverman").widths(x[None]) == pytest.approx([silverman_sigma(300, 3)])


def test_zero_width_from_a_rule_is_the_discrete_limit():
    # every sample has more than k copies: mean k-NN distance 0 -> the kernel [t_i == t_j]
    acts = np.repeat(np.eye(4, dtype=np.float32), 16, axis=0)[None]
    labels = np.repeat([0, 1], 32)
    for alpha in (2.0, 1.01):
        i_xt, i_ty = ESTIMATORS.get("renyi")(alpha=alpha, sigma="knn", k=3).estimate_blocks(
            LayerBlocks(acts=acts, labels=labels, n_classes=2))[0]
        assert i_xt == pytest.approx(2.0) and i_ty == pytest.approx(1.0)


@pytest.mark.parametrize("alpha", [1.01, 2.0])
def test_estimator_matches_the_dense_formulas(alpha):
    acts, labels = _layer(n=160)
    estimator = ESTIMATORS.get("renyi")(alpha=alpha, sigma=0.6)
    got = estimator.estimate_blocks(LayerBlocks(acts=acts, labels=labels, n_classes=2, n_groups=160))
    for b in range(len(acts)):
        want = _dense_mi(acts[b].astype(np.float64), labels, 0.6, alpha)
        np.testing.assert_allclose(got[b], want, rtol=0, atol=1e-9 if alpha == 2.0 else 1e-6)


@pytest.mark.parametrize("alpha", [1.01, 2.0, 3.0])
def test_bounds_and_repeated_inputs(alpha):
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(40), 3)
    labels = groups % 2
    acts = np.repeat(np.tanh(rng.normal(size=(2, 40, 3)) + labels[::3, None]), 3, axis=1).astype(np.float32)
    acts[1, ::7] += 0.3  # block 1: a layer that is not a function of the input
    estimator = ESTIMATORS.get("renyi")(alpha=alpha)
    got = estimator.estimate_blocks(LayerBlocks(acts=acts, labels=labels, n_classes=2, groups=groups,
                                                n_groups=40))
    s_x = math.log2(40)  # 40 groups of 3: every order gives log2 40
    s_y = 1.0
    assert np.all(got[:, 0] <= s_x + 1e-9) and np.all(got[:, 0] >= -1e-9)
    assert np.all(got[:, 1] <= s_y + 1e-9) and np.all(got[:, 1] >= -1e-9)
    # a deterministic layer: I(X;T) = S(A_T) (the joint with X equals S(A_X))
    s_t = matrix_renyi_entropy(acts[0].astype(np.float64), estimator.widths(acts[:1])[0], alpha)
    assert got[0, 0] == pytest.approx(s_t, abs=1e-9)


def test_conv_sized_layer_alpha_two_without_n_by_n_memory():
    rng = np.random.default_rng(6)
    n, d = 3000, 600
    labels = rng.integers(0, 10, n)
    acts = np.maximum(rng.normal(size=(1, n, d)), 0).astype(np.float32)
    tracemalloc.start()  # NumPy's arrays are traced: an N x N float64 matrix would be 72 MB
    try:
        got = ESTIMATORS.get("renyi")(alpha=2.0, sigma="silverman").estimate_blocks(
            LayerBlocks(acts=acts, labels=labels, n_classes=10, n_groups=n))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(got).all() and 0 <= got[0, 0] <= math.log2(n) + 1e-9
    assert peak < n * n * 8 / 4


def test_default_order_is_the_papers_1_01():
    acts, labels = _layer(n=120, blocks=1)
    default = ESTIMATORS.get("renyi")(sigma=0.6)
    assert default.alpha == 1.01 and not default.needs_inputs
    layer = LayerBlocks(acts=acts, labels=labels, n_classes=2, n_groups=120)
    got = default.estimate_blocks(layer)
    np.testing.assert_allclose(got[0], _dense_mi(acts[0].astype(np.float64), labels, 0.6, 1.01), rtol=0, atol=1e-6)
    assert not np.allclose(got, ESTIMATORS.get("renyi")(sigma=0.6, alpha=2.0).estimate_blocks(layer))
    assert matrix_renyi_entropy(acts[0], 0.6) == pytest.approx(
        reference.renyi_entropy_dense(reference.gaussian_gram(acts[0].astype(np.float64), 0.6), 1.01), abs=1e-6)


def _images(n: int = 90, seed: int = 3):
    """Small 'images' (n, 3, 3) whose classes differ, and a layer computed from them."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = (rng.random((n, 3, 3)) + 0.5 * labels[:, None, None]).astype(np.float32)
    weights = rng.normal(size=(9, 4))
    acts = np.stack([np.tanh(images.reshape(n, 9) @ weights), np.tanh(images.reshape(n, 9) @ weights * 0.2)])
    return images, acts.astype(np.float32), labels


@pytest.mark.parametrize("alpha", [1.01, 2.0, 3.0])
@pytest.mark.parametrize("x_sigma", [None, 0.7])
def test_input_kernel_matches_the_dense_formulas(alpha, x_sigma):
    images, acts, labels = _images()
    estimator = ESTIMATORS.get("renyi")(alpha=alpha, sigma="knn", x_kernel="inputs", x_sigma=x_sigma)
    assert estimator.needs_inputs
    got = estimator.estimate_blocks(LayerBlocks(acts=acts, labels=labels, n_classes=3, n_groups=len(labels),
                                                inputs=images.reshape(len(images), -1)))
    x = images.reshape(len(images), -1).astype(np.float64)
    gram_x = reference.gaussian_gram(x, knn_sigma(x, 10) if x_sigma is None else x_sigma)
    label_gram = (labels[:, None] == labels[None, :]).astype(np.float64)
    for b in range(len(acts)):
        t = acts[b].astype(np.float64)
        gram_t = reference.gaussian_gram(t, knn_sigma(t, 10))
        s_t = reference.renyi_entropy_dense(gram_t, alpha)
        s_x = reference.renyi_entropy_dense(gram_x, alpha)
        want_xt = s_x + s_t - reference.renyi_entropy_dense(gram_x * gram_t, alpha)
        want_ty = reference.renyi_entropy_dense(label_gram, alpha) + s_t - reference.renyi_entropy_dense(
            gram_t * label_gram, alpha)
        # alpha = 2's joint runs in the compiled kernel on float32 coordinates
        np.testing.assert_allclose(got[b], [want_xt, want_ty], rtol=0, atol=1e-4 if alpha == 2.0 else 1e-6)
        # the Hadamard joint is at least either marginal (Yu et al. 2019): 0 <= I(X;T) <= min(S_X, S_T)
        assert -1e-6 <= got[b, 0] <= min(s_x, s_t) + 1e-4
    # a Gaussian input kernel blurs nearby inputs together: below the identity kernel's log2 N bound
    assert np.all(got[:, 0] < math.log2(len(labels)))


def test_input_kernel_refusals_and_identity_limit():
    images, acts, labels = _images()
    estimator = ESTIMATORS.get("renyi")(x_kernel="inputs", sigma=0.5)
    layer = LayerBlocks(acts=acts, labels=labels, n_classes=3, n_groups=len(labels))
    with pytest.raises(EstimatorError, match="needs the samples' inputs"):
        estimator.estimate_blocks(layer)
    layer.inputs = images[:-1].reshape(len(images) - 1, -1)
    with pytest.raises(EstimatorError, match="89 samples, the layer 90"):
        estimator.estimate_blocks(layer)
    bad = images.reshape(len(images), -1).copy()
    bad[4, 2] = np.inf
    layer.inputs = bad
    with pytest.raises(EstimatorError, match="inputs contain NaN"):
        estimator.estimate_blocks(layer)
    with pytest.raises(ConfigError, match="x_kernel"):
        ESTIMATORS.get("renyi")(x_kernel="pixels")
    with pytest.raises(ConfigError, match="x_sigma"):
        ESTIMATORS.get("renyi")(x_sigma=0.0)
    # inputs that each have more than k copies: the 'knn' width is 0 and X's kernel is the identity of the groups
    groups = np.repeat(np.arange(6), 15)
    copies = np.repeat(images[:6], 15, axis=0).reshape(90, -1)
    layer = LayerBlocks(acts=acts, labels=labels, n_classes=3, groups=groups, n_groups=6)
    by_groups = ESTIMATORS.get("renyi")(sigma=0.5).estimate_blocks(layer)
    layer.inputs = copies
    np.testing.assert_allclose(ESTIMATORS.get("renyi")(sigma=0.5, x_kernel="inputs", x_sigma="knn", k=3)
                               .estimate_blocks(layer), by_groups, rtol=0, atol=1e-12)


def test_input_kernel_through_estimate_and_only_for_estimators_that_ask():
    images, acts, labels = _images()
    cube = xr.DataArray(acts, dims=("epoch", "sample", "neuron"))
    estimator = ESTIMATORS.get("renyi")(x_kernel="inputs", sigma="knn")
    got = estimator.estimate(cube, labels, inputs=images)
    want = estimator.estimate_blocks(LayerBlocks(acts=acts, labels=labels, n_classes=3, n_groups=len(labels),
                                                 inputs=images.reshape(len(images), -1)))
    np.testing.assert_array_equal(got["I_XT"].values, want[:, 0])
    identity = ESTIMATORS.get("renyi")(sigma="knn")  # ignores inputs: the same numbers with or without them
    np.testing.assert_array_equal(identity.estimate(cube, labels, inputs=images)["I_XT"].values,
                                  identity.estimate(cube, labels)["I_XT"].values)


def test_estimator_stochastic_path_uses_its_probes():
    # the estimator above exact_limit: the stochastic trace with the estimator's own `probes` parameter
    acts, labels = _layer(n=240, blocks=1)
    layer = LayerBlocks(acts=acts, labels=labels, n_classes=2, n_groups=240)
    exact = ESTIMATORS.get("renyi")(sigma=0.7).estimate_blocks(layer)
    few = ESTIMATORS.get("renyi")(sigma=0.7, exact_limit=100, probes=4, seed=1)
    assert few.trace_probes == 4 and few.probes is False  # `probes` the flag of network-probing estimators
    got = few.estimate_blocks(layer)
    np.testing.assert_allclose(got, exact, rtol=0, atol=0.1)
    assert not np.array_equal(got, ESTIMATORS.get("renyi")(sigma=0.7, exact_limit=100, probes=8, seed=1)
                              .estimate_blocks(layer))


def test_input_kernel_in_the_pipeline_inline_and_deferred(tmp_path):
    # the pipeline hands the inputs to the estimator that asks (inline and in deferred units alike), the
    # others compute what they did; a results file keeps no inputs, so `ibsim estimate` refuses it
    specs = ['renyi(sigma="knn", x_kernel="inputs")', 'renyi(sigma="knn")']
    config = Config.from_toml(CONFIGS / "smoke.toml", ["epochs=2", "n_runs=1", "architecture=[5,3]",
                                                       'calculate_mi_for="test"', "save_activations=true"])
    config = config.replace(estimator=specs, discretization_range=None)
    inline, deferred = tmp_path / "inline.nc", tmp_path / "deferred.nc"
    Experiment(config=config).run(inline, backend="serial").close()
    Experiment(config=config.replace(inline_estimation=False)).run(deferred, backend="serial").close()
    with xr.open_dataset(inline) as ran, xr.open_dataset(deferred) as later:
        for variable in ("I_XT", "I_TY"):
            np.testing.assert_array_equal(ran[variable].values, later[variable].values)
        by_inputs, by_identity = (ran["I_XT"].sel(estimator=ran["estimator"].values[i]).values for i in (0, 1))
        n = ran.sizes["sample"]
    assert np.isfinite(by_inputs).all() and (by_inputs >= -1e-6).all()
    # I(X;T) <= S(A_T), which is the identity kernel's I(X;T) for distinct inputs; and below log2 N
    assert (by_inputs <= by_identity + 1e-6).all() and (by_inputs < math.log2(n)).all()
    with pytest.raises(ConfigError, match="inputs"):
        estimate_file(inline, specs[0], tmp_path / "again.nc", backend="serial")
