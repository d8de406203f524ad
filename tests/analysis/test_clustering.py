"""Pearson's r over epochs between two estimators' I(X;T) curves (Goldfeld et al.'s clustering claim)."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ibsim import ConfigError
from ibsim.analysis.clustering import curve_correlation

LABELS = ["sp(noise_std=0.005, samples=2, seed=0)", "binning(bin_size=0.007)"]


def synthetic(first: np.ndarray, second: np.ndarray, status: list[int] | None = None) -> xr.Dataset:
    """A results-like dataset with two estimators' I_XT (run, epoch, layer)."""
    runs, epochs, layers = first.shape
    dims = ("estimator", "run", "epoch", "layer")
    curves = np.stack([first, second])
    return xr.Dataset(
        {"I_XT": (dims, curves), "I_TY": (dims, np.zeros_like(curves)),
         "run_status": ("run", np.array(status or [0] * runs, dtype=np.int8))},
        coords={"estimator": LABELS, "run": np.arange(runs), "epoch": np.arange(epochs) * 10,
                "layer": np.arange(1, layers + 1)},
    )


def test_matches_numpy_corrcoef():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 12, 2)), rng.normal(size=(5, 12, 2))
    result = curve_correlation(synthetic(a, b), "sp", "binning")
    expected = np.array([[np.corrcoef(a[i, :, k], b[i, :, k])[0, 1] for k in range(2)] for i in range(5)])
    assert np.allclose(result["correlation"].values, expected)
    assert np.allclose(result["mean_r"].values, expected.mean(axis=0))
    assert (result["ci_low"] <= result["mean_r"]).all() and (result["mean_r"] <= result["ci_high"]).all()
    assert (result["n_runs"].values == 5).all() and (result["n_points"].values == 12).all()
    assert result.attrs["first"] == LABELS[0] and result.attrs["second"] == LABELS[1]


def test_curves_that_fall_together_and_apart():
    t = np.arange(30.0)
    rise_fall = np.minimum(t, 10) - 0.3 * np.maximum(t - 10, 0)  # peak at index 10
    same = np.stack([np.stack([rise_fall, rise_fall], axis=1)] * 3)
    opposite = np.stack([np.stack([rise_fall, -rise_fall], axis=1)] * 3)
    result = curve_correlation(synthetic(same, opposite), 0, 1)
    assert np.allclose(result["correlation"].sel(layer=1), 1.0)
    assert np.allclose(result["correlation"].sel(layer=2), -1.0)
    # the second curve rises on to the end after the first has peaked: r < 0 from the peak on, > 0 before
    rising = np.stack([np.stack([t, t], axis=1)] * 3)
    whole = curve_correlation(synthetic(same, rising), 0, 1)
    fall = curve_correlation(synthetic(same, rising), 0, 1, from_peak=True)
    assert (fall["correlation"].values < -0.99).all()
    assert (fall["n_points"].values == 20).all()  # epochs 10..29
    assert (whole["n_points"].values == 30).all()
    assert (whole["correlation"].values > fall["correlation"].values).all()


def test_constant_curves_and_diverged_runs_give_no_r():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(4, 8, 2))
    a[:, :, 0] = 12.0  # a layer at log2 N throughout
    b = rng.normal(size=(4, 8, 2))
    result = curve_correlation(synthetic(a, b, status=[0, 0, 2, 0]), "sp", "binning")
    assert result.sizes["run"] == 3  # the diverged run is left out
    assert np.isnan(result["correlation"].sel(layer=1)).all() and result["n_runs"].values[0] == 0
    assert np.isnan(result["mean_r"].values[0]) and np.isfinite(result["mean_r"].values[1])
    short = curve_correlation(synthetic(a[:, :2], b[:, :2]), "sp", "binning")  # 2 epochs < min_points
    assert np.isnan(short["correlation"].values).all()


def test_bad_arguments():
    data = synthetic(np.zeros((2, 4, 1)), np.ones((2, 4, 1)))
    with pytest.raises(ConfigError, match="min_points"):
        curve_correlation(data, 0, 1, min_points=2)
    with pytest.raises(ConfigError, match="confidence"):
        curve_correlation(data, 0, 1, confidence=1.0)
    with pytest.raises(ConfigError, match="n_resamples"):
        curve_correlation(data, 0, 1, n_resamples=0)
    with pytest.raises(ConfigError, match="no estimate 'kde_upper'"):
        curve_correlation(data, "kde_upper", 1)
