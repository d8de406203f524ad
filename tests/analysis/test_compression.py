"""ΔI(X;T) = peak − final per run and layer, and its bootstrap interval over runs."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ibsim import ConfigError, Experiment
from ibsim.analysis.compression import bootstrap_mean_ci, compression
from tests.conftest import CONFIGS


def synthetic(curves: np.ndarray, status: list[int] | None = None) -> xr.Dataset:
    """A results-like dataset with I_XT = curves (run, epoch, layer) for one estimator."""
    runs, epochs, layers = curves.shape
    dims = ("estimator", "run", "epoch", "layer")
    return xr.Dataset(
        {"I_XT": (dims, curves[None]), "I_TY": (dims, np.zeros_like(curves)[None]),
         "run_status": ("run", np.array(status or [0] * runs, dtype=np.int8))},
        coords={"estimator": ["binning(bin_size=0.07)"], "run": np.arange(runs), "epoch": np.arange(epochs) * 10,
                "layer": np.arange(1, layers + 1)},
    )


def test_rise_and_fall_is_measured_exactly():
    t = np.arange(50)
    rise_fall = np.minimum(t, 20) - 0.1 * np.maximum(t - 20, 0)  # peak 20 at epoch 200, final 17.1
    flat = np.full(50, 3.0)
    curves = np.stack([np.stack([rise_fall + r, flat], axis=1) for r in range(6)])
    result = compression(synthetic(curves))
    assert np.allclose(result["delta_I_XT"].sel(layer=1), 2.9)
    assert np.allclose(result["peak_epoch"].sel(layer=1), 200)
    assert np.allclose(result["peak_I_XT"].sel(layer=1), 20 + np.arange(6))
    assert np.allclose(result["delta_I_XT"].sel(layer=2), 0.0)
    assert result["mean_delta"].values[0] == pytest.approx(2.9)
    assert result["ci_low"].values[0] == pytest.approx(2.9) and result["ci_high"].values[0] == pytest.approx(2.9)
    assert result.attrs["estimator"] == "binning(bin_size=0.07)"


def test_interval_covers_the_mean_and_narrows_with_more_runs():
    rng = np.random.default_rng(1)
    widths = []
    for runs in (10, 200):
        curves = np.zeros((runs, 3, 1))
        curves[:, 1, 0] = 1.0 + rng.normal(0, 0.3, runs)  # peak
        curves[:, 2, 0] = 0.0
        result = compression(synthetic(curves))
        low, mean, high = (float(result[k][0]) for k in ("ci_low", "mean_delta", "ci_high"))
        assert low < mean < high
        assert low < 1.0 + 0.3 and high > 1.0 - 0.3
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # about sqrt(20) narrower


def test_diverged_runs_are_left_out_and_stopped_runs_use_their_last_epoch():
    curves = np.zeros((3, 4, 1))
    curves[0, :, 0] = [0, 5, 4, 1]  # ΔI 4
    curves[1, :, 0] = [0, 5, 3, np.nan]  # stopped early: final is epoch 20 → ΔI 2
    curves[2, :, 0] = [0, 1e9, np.nan, np.nan]  # diverged
    result = compression(synthetic(curves, status=[0, 1, 2]))
    assert list(result["run"].values) == [0, 1]
    assert np.allclose(result["delta_I_XT"].values[:, 0], [4, 2])
    assert result["n_runs"].values[0] == 2


def test_first_epoch_leaves_out_earlier_epochs():
    curves = np.zeros((2, 4, 1))
    curves[:, :, 0] = [9.0, 2.0, 5.0, 4.0]  # epochs 0, 10, 20, 30: the initial peak is left out
    assert np.allclose(compression(synthetic(curves))["delta_I_XT"], 5.0)
    assert np.allclose(compression(synthetic(curves), first_epoch=10)["delta_I_XT"], 1.0)
    with pytest.raises(ConfigError, match="first_epoch=40"):
        compression(synthetic(curves), first_epoch=40)


def test_bootstrap_edge_cases():
    assert all(np.isnan(bootstrap_mean_ci(np.array([np.nan]))))
    assert bootstrap_mean_ci(np.array([2.0])) == (2.0, 2.0, 2.0)
    mean, low, high = bootstrap_mean_ci(np.arange(10.0), seed=3)
    assert (mean, low, high) == bootstrap_mean_ci(np.arange(10.0), seed=3)  # reproducible
    assert low < 4.5 < high


def test_bad_arguments():
    data = synthetic(np.zeros((2, 3, 1)))
    with pytest.raises(ConfigError, match="confidence"):
        compression(data, confidence=1.5)
    with pytest.raises(ConfigError, match="n_resamples"):
        compression(data, n_resamples=0)
    with pytest.raises(ConfigError, match="no estimate 'kde_upper'"):
        compression(data, "kde_upper")


def test_a_real_results_file(tmp_path):
    path = tmp_path / "r.nc"
    Experiment.from_toml(CONFIGS / "smoke.toml", ["epochs=30", "n_runs=3", "save_activations=false"]).run(path)
    result = compression(path)
    assert result.sizes == {"run": 3, "layer": 6}
    assert (result["delta_I_XT"].values >= 0).all()
    assert (result["peak_I_XT"].values <= np.log2(4096) + 1e-9).all()
    assert (result["ci_low"] <= result["mean_delta"]).all() and (result["mean_delta"] <= result["ci_high"]).all()
