"""``ds.ibsim``: the xarray accessor that ``import ibsim`` registers."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr

import ibsim  # noqa: F401  (registers ds.ibsim)
from ibsim import Config, ConfigError, ResultsFileError
from ibsim.analysis.compression import compression
from ibsim.errors import NoFiniteRunError
from ibsim.results import Results
from tests.plots.conftest import ESTIMATORS, synthetic_dataset

CONFIG = {"name": "synthetic", "architecture": [4, 3], "epochs": 100, "n_runs": 4, "estimator": ESTIMATORS}


def results_file(tmp_path, diverged: tuple[int, ...] = (1,)) -> str:
    """A results file of 4 runs written with plain xarray: run 3 stops early at
    epoch 20 (status 1), the runs in ``diverged`` diverge after epoch 2 (status 2,
    huge values first, NaN after)."""
    ds = synthetic_dataset(n_runs=4, stop={3: 20})
    status = ds["run_status"].values.copy()
    for run in diverged:
        status[run] = 2
        for name in ("I_XT", "I_TY"):
            values = ds[name].values
            values[:, run, :3] = 1e6  # what a mean including the run would show
            values[:, run, 3:] = np.nan
    ds["run_status"] = ("run", status, ds["run_status"].attrs)
    ds.attrs["config"] = Config.from_dict(CONFIG).to_toml()
    path = tmp_path / "synthetic.nc"
    ds.to_netcdf(path)
    return str(path)


@pytest.fixture
def ds(tmp_path):
    with xr.open_dataset(results_file(tmp_path)) as dataset:
        yield dataset


def test_import_ibsim_registers_the_accessor_without_tensorflow():
    # the components (datasets, plots) are imported with the package since the
    # config validates against their registries; TensorFlow (3 s) and SciPy's
    # statistics (0.6 s) still wait until they are used
    code = (
        "import sys, xarray as xr; import ibsim\n"
        "assert hasattr(xr.Dataset(), 'ibsim')\n"
        "heavy = [m for m in ('tensorflow', 'scipy.stats') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_config_is_the_stored_config(ds):
    config = ds.ibsim.config
    assert isinstance(config, Config)
    assert config.raw() == Config.from_dict(CONFIG).raw()
    assert config.n_runs == 4 and config.estimator == ESTIMATORS
    assert ds.ibsim.config is config  # a cached property of the one accessor of this dataset


def test_config_of_a_dataset_that_is_not_a_results_file():
    with pytest.raises(ResultsFileError, match="no 'config' attribute"):
        xr.Dataset().ibsim.config


def test_mean_over_runs_leaves_out_diverged_runs(ds):
    assert list(ds.ibsim.finished_runs.values) == [True, False, True, True]
    mean = ds.ibsim.mean_over_runs("I_XT")
    values = ds["I_XT"].values  # (estimator, run, epoch, layer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        by_hand = np.nanmean(values[:, [0, 2, 3]], axis=1)  # runs 0, 2, 3: run 1 diverged
    assert mean.dims == ("estimator", "epoch", "layer")
    np.testing.assert_allclose(mean.values, by_hand)
    assert np.nanmax(mean.values) < 100  # the diverged run's 1e6 is not in it
    # after epoch 20 run 3 has stopped: the mean is over runs 0 and 2
    late = ds["epoch"].values > 20
    np.testing.assert_allclose(mean.values[:, late], values[:, [0, 2]][:, :, late].mean(axis=1))
    assert mean.attrs["runs"] == [0, 2, 3] and mean.attrs["runs_left_out"] == [1]
    assert mean.attrs["units"] == "bits" and "run: mean" in mean.attrs["cell_methods"]


def test_mean_over_runs_of_several_variables_and_one_estimate(ds):
    both = ds.ibsim.mean_over_runs(["I_XT", "accuracy"])
    assert isinstance(both, xr.Dataset) and set(both.data_vars) == {"I_XT", "accuracy"}
    accuracy = ds["accuracy"].values[[0, 2, 3]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(both["accuracy"].values, np.nanmean(accuracy, axis=0))
    one = ds.ibsim.mean_over_runs("I_TY", estimator="kde_upper")
    assert one.dims == ("epoch", "layer") and str(one["estimator"].values) == ESTIMATORS[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(one.values, np.nanmean(ds["I_TY"].values[1, [0, 2, 3]], axis=0))


def test_mean_over_runs_refusals(ds, tmp_path):
    with pytest.raises(ConfigError, match="'y' has no run dimension"):
        ds.ibsim.mean_over_runs("y")
    with pytest.raises(ResultsFileError, match="I_ZZ"):
        ds.ibsim.mean_over_runs("I_ZZ")
    with pytest.raises(ConfigError, match="no estimate 'knn'"):
        ds.ibsim.mean_over_runs("I_XT", estimator="knn")
    folder = tmp_path / "all_diverged"
    folder.mkdir()
    with xr.open_dataset(results_file(folder, diverged=(0, 1, 2, 3))) as gone:
        with pytest.raises(NoFiniteRunError, match="all 4 run"):
            gone.ibsim.mean_over_runs()


def test_compression_is_the_analysis_of_this_dataset(ds):
    table = ds.ibsim.compression(n_resamples=99)
    expected = compression(Results(ds), n_resamples=99)
    xr.testing.assert_identical(table, expected)
    assert list(table["run"].values) == [0, 2, 3]  # the diverged run is left out
    second = ds.ibsim.compression("kde_upper", n_resamples=99)
    assert second.attrs["estimator"] == ESTIMATORS[1]
    assert not np.allclose(second["peak_I_XT"].values, table["peak_I_XT"].values)


def test_infoplane_and_other_plots(ds, tmp_path):
    from matplotlib.figure import Figure

    target = tmp_path / "plane.png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "runs [1] diverged and are left out of the mean"
        fig = ds.ibsim.infoplane(target, per_run=True, estimator="kde_upper")
        assert isinstance(fig, Figure) and target.stat().st_size > 0
        assert "kde_upper" in fig.axes[0].get_title()
        assert isinstance(ds.ibsim.plot("snr"), Figure)
    with pytest.raises(ConfigError, match="no parameter 'bogus'"):
        ds.ibsim.infoplane(bogus=1)
