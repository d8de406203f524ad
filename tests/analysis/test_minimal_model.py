"""The minimal model (seed documentation section 7.2) and its reproduction script."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from ibsim.analysis import minimal_model, plot_minimal_model
from ibsim.errors import ConfigError
from ibsim.networks.activations import ACTIVATIONS, SATURATION
from tests.conftest import REPO

#: Binning noise of 1000 samples: steps on a falling curve may rise by this much.
WIGGLE = 0.01


@pytest.fixture(scope="module")
def ds():
    return minimal_model()


def curve(ds, activation: str, binning: str) -> np.ndarray:
    return ds["I_XT"].sel(activation=activation, binning=binning).values


def test_input_is_the_seeds_draw():
    np.random.seed(0)
    seed_input = stats.norm().rvs(1000)
    assert np.array_equal(np.random.RandomState(0).standard_normal(1000), seed_input)


def test_input_entropy_is_the_seeds_5_11_bits(ds):
    assert round(float(ds["input_entropy"]), 2) == 5.11
    assert ds["input_entropy"].attrs["units"] == "bits"


def test_shapes_coords_and_attrs(ds):
    weights = np.round(np.arange(0.1, 8.0, 0.1), 1)
    assert ds["I_XT"].dims == ("activation", "binning", "weight")
    assert ds["I_XT"].shape == (len(ACTIVATIONS), 2, 79)
    assert list(ds["activation"].values) == ACTIVATIONS
    assert list(ds["binning"].values) == ["fixed", "adaptive"]
    assert np.array_equal(ds["weight"].values, weights)
    assert list(ds["saturation"].values) == [SATURATION[a] for a in ACTIVATIONS]
    assert ds["I_XT"].attrs["units"] == "bits" and ds["I_XT"].attrs["long_name"]
    assert ds.attrs["n_samples"] == 1000 and ds.attrs["n_bins"] == 50 and ds.attrs["seed"] == 0
    assert "binning_fixed" in ds.attrs and "binning_adaptive" in ds.attrs


def test_values_are_entropies_of_the_bins(ds):
    values = ds["I_XT"].values
    assert np.isfinite(values).all()
    assert values.min() >= 0.0
    assert values.max() <= np.log2(50) + 1e-12
    assert values.max() <= np.log2(1000)
    assert (ds["I_XT"].sel(binning="fixed").values <= np.log2(49) + 1e-12).all()  # 50 edges, 49 bins


def test_matches_the_seeds_computation_for_one_activation(ds):
    np.random.seed(0)
    y = np.tanh(np.outer(ds["weight"].values, stats.norm().rvs(1000)))
    edges = np.linspace(y.min(), y.max(), 50)
    fixed = [stats.entropy(np.histogram(row, edges)[0], base=2) for row in y]
    adaptive = [stats.entropy(np.histogram(row, bins=50)[0], base=2) for row in y]
    np.testing.assert_allclose(curve(ds, "tanh", "fixed"), fixed, rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve(ds, "tanh", "adaptive"), adaptive, rtol=0, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "hard_sigmoid", "softsign"])
@pytest.mark.parametrize("binning", ["fixed", "adaptive"])
def test_double_saturating_neurons_lose_information(ds, activation, binning):
    values = curve(ds, activation, binning)
    peak = int(values.argmax())
    assert peak < len(values) - 10, f"{activation} peaks at the last weights"
    assert values[-1] < values.max() - 0.5, f"{activation} does not fall ({values[-1]:.2f} vs max {values.max():.2f})"
    assert np.diff(values[peak:]).max() <= WIGGLE, f"{activation} rises again after its peak"


def test_tanh_falls_far(ds):
    values = curve(ds, "tanh", "fixed")
    assert values[-1] < 0.6 * values.max()


def test_linear_neuron_rises_under_the_fixed_range(ds):
    values = curve(ds, "linear", "fixed")
    assert np.diff(values).min() >= -WIGGLE
    assert values[-1] > values[0] + 3.0
    assert int(values.argmax()) == len(values) - 1


def test_linear_neuron_keeps_the_input_entropy_under_the_adaptive_range(ds):
    values = curve(ds, "linear", "adaptive")
    np.testing.assert_allclose(values, float(ds["input_entropy"]), rtol=0, atol=1e-9)


def test_fixed_values_depend_only_on_the_global_range():
    """The fixed edges span all weights: with the same extreme weights, a subset gives the same values."""
    full = minimal_model(["relu", "linear"])
    weights = full["weight"].values
    subset = minimal_model(["relu", "linear"], weights=weights[[0, 10, 40, -1]])
    np.testing.assert_array_equal(subset["I_XT"].values, full["I_XT"].sel(weight=weights[[0, 10, 40, -1]]).values)
    shorter = minimal_model(["linear"], weights=weights[[0, 10, 40]])
    assert not np.allclose(shorter["I_XT"].sel(binning="fixed").values,
                           full["I_XT"].sel(activation="linear", binning="fixed", weight=weights[[0, 10, 40]]).values)


def test_options_are_used():
    ds = minimal_model(["tanh"], weights=[0.5, 2.0], n_samples=200, n_bins=10, seed=3)
    assert ds["I_XT"].shape == (1, 2, 2)
    assert ds["I_XT"].values.max() <= np.log2(10) + 1e-12
    counts, _ = np.histogram(np.random.RandomState(3).standard_normal(200), 10)
    assert float(ds["input_entropy"]) == pytest.approx(stats.entropy(counts, base=2), abs=1e-12)
    assert float(minimal_model(["tanh"], seed=4)["input_entropy"]) != float(minimal_model(["tanh"])["input_entropy"])


@pytest.mark.parametrize("kwargs, named", [
    (dict(activations=["tanh", "swish"]), "swish"),
    (dict(activations=[]), "activations"),
    (dict(weights=[1.0, 0.0]), "weights"),
    (dict(weights=[1.0, -2.0]), "weights"),
    (dict(weights=[1.0, np.nan]), "weights"),
    (dict(weights=[1.0, np.inf]), "weights"),
    (dict(weights=[]), "weights"),
    (dict(weights=[[1.0, 2.0]]), "weights"),
    (dict(weights=[1.0, 1.0]), "weights"),
    (dict(n_samples=1), "n_samples"),
    (dict(n_samples=10.5), "n_samples"),
    (dict(n_bins=1), "n_bins"),
    (dict(n_bins=True), "n_bins"),
    (dict(seed=-1), "seed"),
])
def test_bad_inputs_raise_config_error_naming_them(kwargs, named):
    with pytest.raises(ConfigError, match=named):
        minimal_model(**kwargs)


def test_unknown_activation_lists_the_valid_names():
    with pytest.raises(ConfigError) as info:
        minimal_model(["swish"])
    assert all(name in str(info.value) for name in ACTIVATIONS)


def test_plot_has_one_panel_per_activation(ds, tmp_path):
    path = tmp_path / "sub" / "minimal.png"
    fig = plot_minimal_model(ds, path)
    assert isinstance(fig, Figure)
    assert path.stat().st_size > 0
    drawn = [ax for ax in fig.axes if ax.lines]
    assert len(drawn) == len(ACTIVATIONS)
    for ax, name in zip(drawn, ACTIVATIONS):
        assert name in ax.get_title()
        assert len(ax.lines) == 3  # fixed, adaptive, input entropy
        assert ax.get_xlabel()


def load_script():
    spec = importlib.util.spec_from_file_location("minimal_model_script",
                                                  REPO / "docs" / "reproductions" / "minimal_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_quick_writes_the_figure_and_table(tmp_path, capsys):
    script = load_script()
    assert script.main(["--quick", "--output", str(tmp_path)]) == 0
    assert (tmp_path / "minimal_model_quick.png").stat().st_size > 0
    md = (tmp_path / "minimal_model_quick.md").read_text()
    for name in ACTIVATIONS:
        assert f"| {name} |" in md
    assert "5.11" in md
    assert "| activation |" in capsys.readouterr().out
