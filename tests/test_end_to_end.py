"""From a TOML file to a NetCDF file, through the command line."""
from __future__ import annotations

import subprocess
import sys
import tomllib

import numpy as np
import pytest
import xarray as xr

from ibsim import Experiment, Results
from ibsim.cli import main
from tests.conftest import CONFIGS, REPO


@pytest.fixture(scope="module")
def smoke_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "smoke.nc"
    status = main(["run", str(CONFIGS / "smoke.toml"), "--output", str(out), "--quiet", "--set", "epochs=25"])
    assert status == 0
    return out


def test_file_reopens_with_plain_xarray(smoke_file):
    ds = xr.open_dataset(smoke_file)
    assert ds.attrs["status"] == "completed" and ds.attrs["format"] == "ibsim-results"
    assert ds["I_XT"].dims == ("estimator", "run", "epoch", "layer")
    assert ds["I_XT"].attrs["units"] == "bits" and ds["I_TY"].attrs["units"] == "bits"
    assert ds.sizes["run"] == 3 and ds.sizes["layer"] == 6 and ds.sizes["sample"] == 4096
    assert ds["activations_1"].dims == ("run", "epoch", "sample", "neuron_1")
    assert ds["activations_1"].dtype == np.float32
    assert list(ds["epoch"].values[:3]) == [0, 1, 2] and ds["epoch"].values[-1] == 25
    config = tomllib.loads(ds.attrs["config"])
    assert config["epochs"] == 25 and config["estimator"] == ["binning(bin_size=0.07)"]
    assert "tensorflow" in ds.attrs["versions"]


def test_information_is_within_its_bounds(smoke_file):
    ds = xr.open_dataset(smoke_file)
    p = np.bincount(ds["y"].values) / ds.sizes["sample"]
    h_y = -np.sum(p * np.log2(p))
    assert np.all(ds["I_XT"].values <= np.log2(ds.sizes["sample"]) + 1e-9)
    assert np.all(ds["I_TY"].values <= h_y + 1e-9)
    assert np.all(ds["I_XT"].values >= -1e-9) and np.all(ds["I_TY"].values >= -1e-9)
    # the first hidden layer of a fresh tanh net keeps every input distinct
    assert ds["I_XT"].sel(layer=1).isel(epoch=0).values == pytest.approx(12.0, abs=0.05)


def test_metrics_are_recorded(smoke_file):
    ds = xr.open_dataset(smoke_file)
    accuracy = ds["accuracy"].values
    assert np.all((accuracy >= 0) & (accuracy <= 1))
    assert ds["loss"].sel(split="training").isel(epoch=-1).mean() < ds["loss"].sel(split="training").isel(epoch=0).mean()


def test_plot_and_no_leftovers(smoke_file):
    folder = smoke_file.parent
    assert (folder / "smoke_infoplane.png").stat().st_size > 10_000
    leftovers = [p.name for p in folder.iterdir() if p.name not in ("smoke.nc", "smoke_infoplane.png")]
    assert leftovers == []


def test_results_api(smoke_file):
    with Results.open(smoke_file) as results:
        assert results.estimators == ["binning(bin_size=0.07)"]
        assert results.config.epochs == 25
        info = results.information("binning")
        assert info["I_XT"].dims == ("run", "epoch", "layer")
        fig = results.plot_infoplane()
        assert fig.axes[0].get_xlabel() == "I(X;T) [bits]"


def test_python_api_returns_results_in_memory():
    results = Experiment.from_toml(CONFIGS / "smoke.toml", ["epochs=3", "n_runs=1", "save_activations=false"]).run()
    assert results.path is None
    assert "activations_1" not in results.dataset
    assert results.dataset["I_XT"].shape == (1, 1, 4, 6)


def test_bad_config_fails_fast_with_one_line_and_no_file(tmp_path, capsys):
    out = tmp_path / "never.nc"
    status = main(["run", str(CONFIGS / "smoke.toml"), "--output", str(out), "--set", "learning_rat=0.1"])
    err = capsys.readouterr().err
    assert status == 2
    assert "unknown config key 'learning_rat'" in err and "Did you mean 'learning_rate'" in err
    assert "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_module_entry_point_runs():
    completed = subprocess.run(
        [sys.executable, "-m", "ibsim", "run", str(CONFIGS / "smoke.toml"), "--set", "epochs=0"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert completed.returncode == 2
    assert "'epochs'" in completed.stderr and "Traceback" not in completed.stderr
