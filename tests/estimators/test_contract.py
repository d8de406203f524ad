"""The contract every registered estimator keeps (plug-ins included: the test
runs over the registry as it is when the tests start).

- ``estimate_blocks`` returns (blocks, 2) float bits, deterministic, within the
  bounds of the information it estimates;
- a block holding NaN is refused with an EstimatorError;
- an estimate computed again from a results file's activations
  (``ibsim estimate``) equals the one the run computed (inline or deferred),
  bit for bit; estimators that probe the network are refused there by name.
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ibsim import Config, ConfigError, EstimatorError, Experiment
from ibsim.estimators import ESTIMATORS, LayerBlocks
from ibsim.pipeline.reestimate import estimate_file
from tests.conftest import CONFIGS

NAMES = ESTIMATORS.names()
N, WIDTH, BLOCKS, CLASSES = 96, 4, 3, 2


def _estimator(name: str):
    return ESTIMATORS.get(name)()


def _blocks(estimator, acts: np.ndarray, labels: np.ndarray) -> LayerBlocks:
    layer = LayerBlocks(acts=acts, labels=labels, n_classes=CLASSES, n_groups=len(labels))
    finite = np.where(np.isfinite(acts), acts, 0.0)
    own = np.stack([finite.min(axis=(1, 2)), finite.max(axis=(1, 2))], axis=1)
    layer.ranges = own if estimator.range_scope else None
    if estimator.probes:  # per-neuron edges from the layer's own quantiles
        qs = np.linspace(0, 1, 11)
        layer.edges = np.quantile(finite, qs, axis=1).transpose(1, 0, 2).astype(np.float32)
    return layer


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(CLASSES), N // CLASSES)
    acts = np.tanh(rng.normal(size=(BLOCKS, N, WIDTH)) + labels[None, :, None]).astype(np.float32)
    return acts, labels


@pytest.mark.parametrize("name", NAMES)
def test_shapes_bits_and_determinism(name, sample):
    acts, labels = sample
    estimator = _estimator(name)
    first = estimator.estimate_blocks(_blocks(estimator, acts, labels))
    again = estimator.estimate_blocks(_blocks(estimator, acts.copy(), labels))
    assert first.shape == (BLOCKS, 2)
    assert np.issubdtype(first.dtype, np.floating)
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
    slack = 0.5  # k-NN estimates may fall a little outside, never by much
    assert (first[:, 0] <= np.log2(N) + 1e-9).all() and (first[:, 0] >= -slack).all()
    assert (first[:, 1] <= np.log2(CLASSES) + slack).all() and (first[:, 1] >= -slack).all()


@pytest.mark.parametrize("name", NAMES)
def test_nan_is_refused(name, sample):
    acts, labels = sample
    bad = acts.copy()
    bad[1, 5, 2] = np.nan
    estimator = _estimator(name)
    with pytest.raises(EstimatorError, match="(?i)nan|not finite|infinite"):
        estimator.estimate_blocks(_blocks(estimator, bad, labels))


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    """A small run keeping its activations, with every estimator that can run on a file."""
    specs = [_estimator(name).spec for name in NAMES if not _estimator(name).probes]
    path = tmp_path_factory.mktemp("contract") / "contract.nc"
    # the test split (819 samples) keeps the slower estimators (eigen paths, k-NN) to seconds
    config = Config.from_toml(CONFIGS / "smoke.toml", ["epochs=6", "n_runs=2", "architecture=[5,3]",
                                                       'calculate_mi_for="test"', "save_activations=true"])
    Experiment(config=config.replace(estimator=specs, discretization_range=None)).run(path, backend="serial")
    return path, specs


@pytest.mark.parametrize("name", NAMES)
def test_estimating_from_the_file_equals_the_run(name, run_file, tmp_path):
    path, specs = run_file
    estimator = _estimator(name)
    if estimator.probes:
        with pytest.raises(ConfigError, match="probe"):
            estimate_file(path, estimator.spec, tmp_path / "out.nc", backend="serial")
        return
    out = estimate_file(path, f"{estimator.spec}", tmp_path / "out.nc", backend="serial")
    with xr.open_dataset(path) as ran, xr.open_dataset(out) as again:
        for variable in ("I_XT", "I_TY"):
            np.testing.assert_array_equal(again[variable].sel(estimator=estimator.spec).values,
                                          ran[variable].sel(estimator=estimator.spec).values)
