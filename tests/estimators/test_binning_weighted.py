"""Weighted binning: per-neuron edges from the network's activations on probe inputs."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ibsim import ConfigError, EstimatorError, Experiment
from ibsim.estimators import BinningRange, BinningWeighted, LayerBlocks, make_estimator
from ibsim.estimators.edges import probe_inputs
from ibsim.pipeline.reestimate import estimate_file
from tests.conftest import CONFIGS

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 2, 500)


def blocks(acts: np.ndarray, edges: np.ndarray | None) -> LayerBlocks:
    return LayerBlocks(acts=acts.astype(np.float32), labels=LABELS, n_classes=2, edges=edges)


def test_a_shared_uniform_grid_is_equal_width_binning():
    """Edges on one uniform grid for every neuron, data inside it: binning_range over the grid."""
    acts = RNG.uniform(-0.99, 0.99, (3, 500, 4))
    grid = np.linspace(-1.0, 1.0, 31)
    edges = np.broadcast_to(grid[None, :, None], (3, 31, 4)).copy()
    weighted = BinningWeighted().estimate_blocks(blocks(acts, edges))
    fixed = BinningRange(n_bins=30, lower=-1.0, upper=1.0).estimate_blocks(blocks(acts, None))
    np.testing.assert_allclose(weighted, fixed, atol=1e-12)


def test_invariant_when_a_layer_rescales_or_mirrors_its_neurons():
    """The point of weighted binning: edges move with the layer, so a rescaled
    (or mirrored) layer keeps its information; fixed-width bins do not."""
    x = RNG.normal(size=(1, 500, 3))
    grid = probe_inputs(x[0], 50, 1.0)  # (50, 3) points on the diagonal
    scale = np.array([0.05, -3.0, 10.0])  # per neuron: shrink, mirror and stretch
    before = BinningWeighted().estimate_blocks(blocks(x, grid[None]))
    after = BinningWeighted().estimate_blocks(blocks(x * scale, (grid * scale)[None]))
    np.testing.assert_allclose(before, after, atol=1e-12)
    fixed = make_estimator("binning(bin_size=0.07)")
    shrunk = fixed.estimate_blocks(blocks(x * 0.05, None))[0, 0]
    assert fixed.estimate_blocks(blocks(x, None))[0, 0] - shrunk > 2.0


def test_needs_edges():
    with pytest.raises(EstimatorError, match="needs the layer's activations on its probe inputs"):
        BinningWeighted().estimate_blocks(blocks(RNG.normal(size=(1, 500, 2)), None))


def test_parameters_are_validated():
    with pytest.raises(ConfigError, match="'n_edges'"):
        make_estimator("binning_weighted(n_edges=1)")
    with pytest.raises(ConfigError, match="'margin'"):
        make_estimator("binning_weighted(margin=-1)")


@pytest.fixture(scope="module")
def weighted_runs(tmp_path_factory):
    settings = ["epochs=40", "n_runs=2", 'estimator=["binning", "binning_weighted(n_edges=40)"]']
    folder = tmp_path_factory.mktemp("weighted")
    inline = Experiment.from_toml(CONFIGS / "smoke.toml", [*settings, "save_activations=true"]).run(folder / "a.nc")
    deferred = Experiment.from_toml(CONFIGS / "smoke.toml", [*settings, "inline_estimation=false"]).run(folder / "b.nc")
    return folder / "a.nc", inline.dataset, deferred.dataset


def test_pipeline_inline_and_deferred_agree(weighted_runs):
    _, inline, deferred = weighted_runs
    estimate = inline["I_XT"].sel(estimator="binning_weighted(n_edges=40, margin=1.0)")
    assert np.array_equal(estimate.values, deferred["I_XT"].sel(estimator=estimate["estimator"]).values)
    assert np.isfinite(estimate.values).all()
    assert (estimate.values >= 0).all() and (estimate.values <= np.log2(4096) + 1e-9).all()


def test_pipeline_uses_the_networks_own_edges(weighted_runs):
    """The estimate is not that of fixed bins, and the input layer of 12 binary
    inputs keeps its 12 bits through the first (tanh) layer as binning says too."""
    _, inline, _ = weighted_runs
    weighted = inline["I_XT"].isel(estimator=1)
    fixed = inline["I_XT"].isel(estimator=0)
    assert not np.allclose(weighted.values, fixed.values)
    assert abs(float(weighted.isel(epoch=-1, layer=0).mean()) - 12.0) < 0.2


def test_reestimating_a_file_is_refused_clearly(weighted_runs):
    path, _, _ = weighted_runs
    with pytest.raises(ConfigError, match="recorded during training only"):
        estimate_file(path, "binning_weighted")
    assert "binning_weighted(n_edges=40, margin=1.0)" in xr.open_dataset(path)["estimator"].values
