"""Standard vs weighted binning (seed documentation section 7.5) and its reproduction script."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy.stats import ortho_group

from ibsim.analysis import plot_weighted_binning, seed_notebook, seed_spread, weighted_edges
from ibsim.analysis.weighted_binning import NOTEBOOK_ENTROPIES
from ibsim.errors import ConfigError, EstimatorError
from ibsim.estimators.edges import bin_codes, probe_inputs
from tests.conftest import REPO
from tests.estimators.test_edges import notebook_entropy


def H(ds, binning: str, layer: str) -> float:
    return float(ds["entropy"].sel(binning=binning, layer=layer))


@pytest.fixture(scope="module")
def ds():
    return seed_notebook(0)


def test_matches_the_notebooks_code_on_the_notebooks_draws(ds):
    # the notebook's cells, in order, on the same random state
    rng = np.random.RandomState(0)
    w1 = (1 / 3) * ortho_group.rvs(dim=3, random_state=rng)
    w2 = 9 * w1.T
    data = rng.randn(3, 1000)
    bins = np.tile(np.linspace(np.min(data) - 1, np.max(data) + 1, 50), (3, 1))
    o1, o2 = w1 @ data, w2 @ (w1 @ data)
    wb1 = w1 @ bins
    wb2 = w2 @ wb1
    np.testing.assert_array_equal(ds["w1"].values, w1)
    np.testing.assert_array_equal(ds["activations"].sel(layer="data").values, data.T)
    expected = {
        ("standard", "data"): notebook_entropy(data, bins),
        ("standard", "hidden"): notebook_entropy(o1, bins),
        ("standard", "output"): notebook_entropy(o2, bins),
        ("weighted", "data"): notebook_entropy(data, bins),
        ("weighted", "hidden"): notebook_entropy(o1, wb1),
        ("weighted", "output"): notebook_entropy(o2, wb2),
    }
    for (binning, layer), value in expected.items():
        assert H(ds, binning, layer) == pytest.approx(value, abs=1e-12), (binning, layer)


def test_standard_binning_loses_bits_on_an_invertible_layer_weighted_does_not(ds):
    data = H(ds, "standard", "data")
    assert data - H(ds, "standard", "hidden") > 1.0
    assert abs(H(ds, "weighted", "hidden") - data) < 0.05
    # both binnings give the data's entropy back at the output (w2 = 9 w1.T inverts w1)
    assert H(ds, "standard", "output") == pytest.approx(data, abs=1e-9)
    assert H(ds, "weighted", "output") == pytest.approx(data, abs=1e-9)
    # the data entropy is close to the notebook's (a different draw of the same distribution)
    assert abs(data - NOTEBOOK_ENTROPIES["standard", "data"]) < 0.05


def test_exact_inverse_gives_the_data_entropy_at_the_output():
    # a scaled signed permutation: w1 @ w2 = I exactly, every product exact in floating point
    perm = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
    w1, w2 = 0.25 * perm, 4.0 * perm.T
    np.testing.assert_array_equal(w1 @ w2, np.eye(3))
    ds = seed_notebook(3, w1=w1, w2=w2)
    data = H(ds, "weighted", "data")
    assert H(ds, "weighted", "output") == pytest.approx(data, abs=1e-9)
    # every hidden neuron is one input neuron rescaled (some mirrored): weighted edges follow it
    assert H(ds, "weighted", "hidden") == pytest.approx(data, abs=1e-9)
    assert data - H(ds, "standard", "hidden") > 1.0


@pytest.mark.parametrize("seed", [0, 4, 7])
def test_orthogonal_inverse_gives_the_data_entropy_at_the_output(seed):
    ds = seed_notebook(seed)
    np.testing.assert_allclose(ds["w1"].values @ ds["w2"].values, np.eye(3), atol=1e-14)
    assert H(ds, "weighted", "output") == pytest.approx(H(ds, "weighted", "data"), abs=1e-9)


def test_identity_layer_keeps_the_data_entropy_under_both_binnings():
    ds = seed_notebook(1, w1=np.eye(3), w2=np.eye(3))
    data = H(ds, "standard", "data")
    for binning in ("standard", "weighted"):
        for layer in ("hidden", "output"):
            assert H(ds, binning, layer) == pytest.approx(data, abs=1e-12)
    np.testing.assert_array_equal(ds["edges"].sel(binning="weighted").values,
                                  ds["edges"].sel(binning="standard").values)


def test_hidden_edges_are_the_input_edges_times_each_neurons_row_sum(ds):
    e = ds["edges"].sel(binning="weighted", layer="data").values[:, 0]
    hidden = ds["edges"].sel(binning="weighted", layer="hidden").values
    np.testing.assert_allclose(hidden, np.outer(e, ds["w1"].values.sum(axis=1)), rtol=1e-12, atol=1e-12)


def test_weighted_binning_fails_where_a_neurons_weights_sum_to_zero():
    # the probe points lie on the diagonal: a hidden neuron orthogonal to it gets all its edges at ~0
    rows = np.array([[1.0, -1.0, 0.0] / np.sqrt(2), [1.0, 1.0, -2.0] / np.sqrt(6), [1.0, 1.0, 1.0] / np.sqrt(3)])
    np.testing.assert_allclose(rows @ rows.T, np.eye(3), atol=1e-15)
    ds = seed_notebook(0, w1=rows / 3)
    np.testing.assert_allclose(ds["edge_scale"].values, [0.0, 0.0, np.sqrt(3)], atol=1e-12)
    codes = bin_codes(ds["activations"].sel(layer="hidden").values,
                      ds["edges"].sel(binning="weighted", layer="hidden").values)
    assert [np.unique(codes[:, k]).size for k in range(3)][:2] == [2, 2]  # below or above ~0, nothing else
    assert np.unique(codes[:, 2]).size >= 15
    assert H(ds, "weighted", "data") - H(ds, "weighted", "hidden") > 2.0
    # the output is still exact
    assert H(ds, "weighted", "output") == pytest.approx(H(ds, "weighted", "data"), abs=1e-9)


def test_edge_scale_of_the_seed_example(ds):
    np.testing.assert_allclose(ds["edge_scale"].values, 3 * np.abs(ds["w1"].values.sum(axis=1)), rtol=1e-12)
    np.testing.assert_allclose(np.sum(ds["edge_scale"].values ** 2), 3.0, rtol=1e-12)


def test_weighted_edges_use_the_row_vector_convention_with_biases():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    probes = probe_inputs(X, 7, 0.5)
    W1, b1 = rng.normal(size=(4, 3)), rng.normal(size=3)
    W2, b2 = rng.normal(size=(3, 2)), rng.normal(size=2)
    out = weighted_edges([W1, W2], [b1, b2], "tanh", probes)
    assert [o.shape for o in out] == [(7, 3), (7, 2)]
    np.testing.assert_allclose(out[0], np.tanh(probes @ W1 + b1), rtol=1e-15)
    np.testing.assert_allclose(out[1], np.tanh(np.tanh(probes @ W1 + b1) @ W2 + b2), rtol=1e-15)
    relu = weighted_edges([W1], None, lambda z: np.maximum(z, 0.0), probes)
    np.testing.assert_array_equal(relu[0], np.maximum(probes @ W1, 0.0))


def test_weighted_edges_refuse_bad_inputs():
    probes = np.zeros((5, 3))
    with pytest.raises(ConfigError, match="unknown activation 'tanhh'; valid: tanh"):
        weighted_edges([np.eye(3)], None, "tanhh", probes)
    with pytest.raises(EstimatorError, match="layer 1: weights of shape"):
        weighted_edges([np.ones((3, 2)), np.ones((3, 2))], None, "linear", probes)
    with pytest.raises(EstimatorError, match="bias"):
        weighted_edges([np.ones((3, 2))], [np.ones(3)], "linear", probes)
    with pytest.raises(EstimatorError, match="1 bias vector"):
        weighted_edges([np.ones((3, 2)), np.ones((2, 2))], [np.ones(2)], "linear", probes)
    with pytest.raises(EstimatorError, match="not finite"):
        weighted_edges([np.full((3, 2), 1e300)], None, "linear", np.full((5, 3), 1e300))
    with pytest.raises(EstimatorError, match="at least one"):
        weighted_edges([], None, "linear", probes)


def test_seed_spread_standard_binning_always_loses_bits():
    spread = seed_spread(range(5))["entropy"]
    assert spread.dims == ("seed", "binning", "layer")
    assert spread["seed"].values.tolist() == [0, 1, 2, 3, 4]
    data = spread.sel(binning="standard", layer="data")
    assert np.all(data - spread.sel(binning="standard", layer="hidden") > 1.0)
    np.testing.assert_allclose(spread.sel(binning="weighted", layer="output"), data, atol=1e-9)
    np.testing.assert_allclose(spread.sel(binning="weighted", layer="data"), data, atol=0)
    # weighted binning loses far less than standard binning on average
    loss = spread.sel(layer="data") - spread.sel(layer="hidden")
    assert float(loss.sel(binning="weighted").mean()) < 0.5 * float(loss.sel(binning="standard").mean())


def test_dataset_layout(ds):
    assert ds["entropy"].dims == ("binning", "layer")
    assert ds["entropy"].attrs["units"] == "bits"
    assert ds["edges"].shape == (2, 3, 50, 3)
    assert ds["activations"].shape == (3, 1000, 3)
    assert ds.attrs["seed"] == 0 and ds.attrs["n_bins"] == 50


def test_plot(ds, tmp_path):
    fig = plot_weighted_binning(ds, tmp_path / "sub" / "wb.png")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * 3 + 1
    assert (tmp_path / "sub" / "wb.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = plot_weighted_binning(ds, spread=seed_spread(range(2)))
    assert len(fig.axes) == 2 * 3 + 2
    with pytest.raises(ConfigError, match="unknown layer"):
        plot_weighted_binning(ds, layer="nope")


def test_reproduction_script_writes_its_files(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "weighted_binning_script", REPO / "docs" / "reproductions" / "weighted_binning.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--quick", "--output", str(tmp_path)]) == 0
    png, md = tmp_path / "weighted_binning_quick.png", tmp_path / "weighted_binning_quick.md"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = md.read_text()
    assert "| standard | hidden |" in page and "| weighted | hidden |" in page
    assert "(5 seeds)" in page and "--quick" in page
    assert "| weighted | output |" in capsys.readouterr().out
