"""Standard errors beside the estimates: ``sp`` reports one, the pipeline stores
it as ``I_XT_se``/``I_TY_se`` (inline, deferred, ``ibsim estimate``, every
backend), the others report NaN, and files without the variables still read."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ibsim import Experiment, ResultsFileError
from ibsim.cli import main
from ibsim.config import Config
from ibsim.estimators import LayerBlocks, make_estimator
from ibsim.estimators.base import ESTIMATE_COLUMNS
from ibsim.estimators.sp import SamplePropagation
from ibsim.results import Results
from ibsim.resultsfile.reader import check_layout, open_dataset
from ibsim.resultsfile.schema import FORMAT_VERSION, SAMPLE_SPLIT_CODES, STANDARD_ERRORS, VARIABLE_DIMS
from ibsim.resultsfile.writer import write_dataset
from tests.conftest import CONFIGS

SP = "sp(noise_std=0.5, samples=4, seed=0)"
SETTINGS = ["epochs=3", "n_runs=2", "group_size=1", "architecture=[5,3]", 'calculate_mi_for=["training", "test"]',
            "save_activations=true", f'estimator=["binning", "{SP}"]']
ERRORS = list(STANDARD_ERRORS.values())
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def _config(*extra: str) -> Config:
    return Config.from_toml(CONFIGS / "smoke.toml", SETTINGS + list(extra))


@pytest.fixture(scope="module")
def sp_file(tmp_path_factory):
    """Two runs of a tiny net, both splits estimated with binning and SP, inline, serial."""
    path = tmp_path_factory.mktemp("sp_error") / "sp.nc"
    Experiment(config=_config()).run(path, backend="serial").close()
    return path


@pytest.fixture(scope="module")
def old_file(sp_file, tmp_path_factory):
    """``sp_file`` as ibsim 1.1 wrote it: binning only, no error variables."""
    path = tmp_path_factory.mktemp("sp_error_old") / "old.nc"
    with open_dataset(sp_file, load=True) as ds:
        old = ds.drop_vars(ERRORS).isel(estimator=[0])
        old.attrs["format_version"] = "1.1"
        write_dataset(old, path)
    return path


def _direct(ds: xr.Dataset, split: str) -> np.ndarray:
    """SP's (runs, epochs, layers, 4) on the file's activation cubes, computed
    here from the stored labels and groups, not by the pipeline."""
    rows = np.flatnonzero(ds["sample_split"].values == SAMPLE_SPLIT_CODES[split])
    labels = ds["y"].values[rows].astype(np.int64)
    groups = np.unique(ds["input_group"].values[rows], return_inverse=True)[1].astype(np.int64).ravel()
    n_groups = int(groups.max()) + 1
    estimator = make_estimator(SP)
    assert isinstance(estimator, SamplePropagation)
    n_runs, n_epochs, n_layers = ds.sizes["run"], ds.sizes["epoch"], ds.sizes["layer"]
    out = np.empty((n_runs, n_epochs, n_layers, 4))
    for k in range(n_layers):
        cube = ds[f"activations_{k + 1}"].values[:, :, rows]  # (run, epoch, sample, neuron)
        blocks = LayerBlocks(acts=cube.reshape((-1,) + cube.shape[2:]), labels=labels,
                             n_classes=int(ds.attrs["n_classes"]),
                             groups=None if n_groups == len(rows) else groups, n_groups=n_groups)
        out[:, :, k] = estimator.estimate_blocks_with_error(blocks).reshape(n_runs, n_epochs, 4)
    return out


def test_columns_are_the_file_variables():
    assert ESTIMATE_COLUMNS == ("I_XT", "I_TY", *ERRORS)
    for name, error in STANDARD_ERRORS.items():
        assert VARIABLE_DIMS[error] == VARIABLE_DIMS[name]
    assert FORMAT_VERSION == "1.2"


def test_only_monte_carlo_estimators_report_an_error():
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 2
    blocks = LayerBlocks(acts=np.tanh(rng.normal(size=(2, 60, 3))).astype(np.float32), labels=labels, n_classes=2,
                         n_groups=60)
    sp, binning = make_estimator(SP), make_estimator("binning")
    assert sp.reports_error and not binning.reports_error
    with_error = sp.estimate_blocks_with_error(blocks)
    assert with_error.shape == (2, 4) and (with_error[:, 2:] > 0).all()
    np.testing.assert_array_equal(with_error[:, :2], sp.estimate_blocks(blocks))
    plain = binning.estimate_blocks_with_error(blocks)
    np.testing.assert_array_equal(plain[:, :2], binning.estimate_blocks(blocks))
    assert np.isnan(plain[:, 2:]).all()
    # the xarray wrapper carries the errors of an estimator that has them, only
    acts = xr.DataArray(blocks.acts, dims=("run", "sample", "neuron"))
    assert set(sp.estimate(acts, labels).data_vars) == set(ESTIMATE_COLUMNS)
    np.testing.assert_array_equal(sp.estimate(acts, labels)["I_XT_se"].values, with_error[:, 2])
    assert set(binning.estimate(acts, labels).data_vars) == {"I_XT", "I_TY"}


@pytest.mark.parametrize("split", ["training", "test"])
def test_the_file_holds_the_errors_of_its_activations(sp_file, split):
    with xr.open_dataset(sp_file) as ds:
        assert ds["I_XT_se"].dims == ("estimator", "run", "epoch", "layer", "mi_split")
        assert ds["I_XT_se"].attrs["units"] == "bits"
        direct = _direct(ds, split)
        stored = ds.sel(estimator=SP, mi_split=split)
        for k, name in enumerate(ESTIMATE_COLUMNS):
            np.testing.assert_array_equal(stored[name].transpose("run", "epoch", "layer").values, direct[..., k],
                                          err_msg=name)
    assert (direct[..., 2:] > 0).all() and np.isfinite(direct).all()


def test_an_estimator_without_errors_has_nan(sp_file):
    with Results.open(sp_file) as results:
        ds = results.dataset
        assert ds.attrs["format_version"] == FORMAT_VERSION
        binning = ds.sel(estimator="binning(bin_size=0.07)")
        assert np.isfinite(binning["I_XT"]).all()
        assert np.isnan(binning["I_XT_se"]).all() and np.isnan(binning["I_TY_se"]).all()
        errors = results.standard_error("binning", split="test")
        assert set(errors.data_vars) == set(ERRORS) and np.isnan(errors["I_XT_se"]).all()
        errors = results.standard_error("sp", split="test")
        np.testing.assert_array_equal(errors["I_TY_se"].values, ds["I_TY_se"].sel(estimator=SP, mi_split="test"))
        assert errors["I_XT_se"].dims == results.information("sp", split="test")["I_XT"].dims


def test_files_without_errors_still_open(old_file):
    with Results.open(old_file) as results:
        assert results.dataset.attrs["format_version"] == "1.1"
        assert not set(ERRORS) & set(results.dataset.variables)
        errors = results.standard_error()
        assert errors["I_XT_se"].shape == results.information()["I_XT"].shape
        assert np.isnan(errors["I_XT_se"]).all() and errors["I_XT_se"].attrs["units"] == "bits"


def test_errors_of_other_dimensions_are_refused(sp_file):
    with open_dataset(sp_file, load=True) as ds:
        damaged = ds.assign(I_XT_se=ds["I_XT_se"].isel(mi_split=0, drop=True))
    with pytest.raises(ResultsFileError, match="I_XT_se has dimensions"):
        check_layout(damaged, "damaged.nc")


def test_ibsim_estimate_adds_the_errors(sp_file, old_file, tmp_path):
    one_split, both = tmp_path / "one.nc", tmp_path / "both.nc"
    assert main(["estimate", str(old_file), "-e", SP, "--split", "test", "-o", str(one_split), "-q"]) == 0
    assert main(["estimate", str(old_file), "-e", SP, "-o", str(both), "-q"]) == 0
    with xr.open_dataset(sp_file) as ran, xr.open_dataset(one_split) as one, xr.open_dataset(both) as two:
        for name in ERRORS:
            assert one[name].dims == ran[name].dims
            # only the test slot was estimated; binning, estimated before, reports none
            np.testing.assert_array_equal(one[name].sel(estimator=SP, mi_split="test"),
                                          ran[name].sel(estimator=SP, mi_split="test"))
            assert np.isnan(one[name].sel(estimator=SP, mi_split="training")).all()
            assert np.isnan(one[name].sel(estimator="binning(bin_size=0.07)")).all()
            np.testing.assert_array_equal(two[name].values, ran[name].values)
            assert two[name].attrs["units"] == "bits"
    # an estimate without errors in a file that has them: NaN there, SP's errors kept
    assert main(["estimate", str(both), "-e", "kde_upper", "-q"]) == 0
    with xr.open_dataset(both) as ds:
        assert np.isnan(ds["I_XT_se"].sel(estimator="kde_upper(variance=0.001)")).all()
        np.testing.assert_array_equal(ds["I_XT_se"].sel(estimator=SP), _ran(sp_file, SP))


def _ran(path: Path, spec: str) -> np.ndarray:
    with xr.open_dataset(path) as ds:
        return ds["I_XT_se"].sel(estimator=spec).values


def test_two_jobs_deferred_equal_serial_inline_bitwise(sp_file, tmp_path):
    """Deferred estimation units on two joblib workers (estimates through the part files)."""
    path = tmp_path / "jobs.nc"
    Experiment(config=_config("inline_estimation=false")).run(path, backend="joblib", jobs=2).close()
    with xr.open_dataset(sp_file) as serial, xr.open_dataset(path) as jobs:
        for name in ESTIMATE_COLUMNS:
            np.testing.assert_array_equal(jobs[name].values, serial[name].values, err_msg=name)


@pytest.mark.mpi
def test_mpi_equals_serial_bitwise(sp_file, tmp_path):
    if not MPIEXEC.exists():
        pytest.skip("mpiexec is not installed in this environment")
    ran, estimated = tmp_path / "mpi.nc", tmp_path / "mpi_estimate.nc"
    command = [str(MPIEXEC), "-n", "2", sys.executable, "-m", "ibsim"]
    done = subprocess.run(command + ["run", str(CONFIGS / "smoke.toml"), "-o", str(ran), "-q", "--no-plots"]
                          + [f"--set={s}" for s in SETTINGS], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300, env={**os.environ})
    assert done.returncode == 0, done.stderr
    done = subprocess.run(command + ["estimate", str(ran), "-e", "sp(noise_std=0.5, samples=4, seed=1)", "-o",
                                     str(estimated), "-q"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    serial = tmp_path / "serial_estimate.nc"
    assert main(["estimate", str(sp_file), "-e", "sp(noise_std=0.5, samples=4, seed=1)", "-o", str(serial), "-q",
                 "--backend", "serial"]) == 0
    with xr.open_dataset(serial) as one, xr.open_dataset(estimated) as two:
        assert np.isfinite(two["I_XT_se"].sel(estimator="sp(noise_std=0.5, samples=4, seed=1)")).all()
        for name in ESTIMATE_COLUMNS:
            np.testing.assert_array_equal(two[name].values, one[name].values, err_msg=name)
