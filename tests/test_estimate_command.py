"""``ibsim estimate`` and the pipeline's inline and deferred estimation."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import xarray as xr

from ibsim import Experiment, ResultsFileError
from ibsim.cli import main
from ibsim.pipeline.reestimate import estimate_file
from tests.conftest import CONFIGS

SMALL = ["epochs=8", "n_runs=2", "architecture=[6,4]"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("estimate") / "small.nc"
    assert main(["run", str(CONFIGS / "smoke.toml"), "-o", str(path), "-q", "--no-plots"]
                + [f"--set={s}" for s in SMALL]) == 0
    return path


def test_estimates_live_side_by_side(saved, tmp_path):
    path = tmp_path / "copy.nc"
    shutil.copy(saved, path)
    assert main(["estimate", str(path), "-e", "kde_upper", "-q"]) == 0
    assert main(["estimate", str(path), "-e", "kde_upper", "--set", "variance=0.01", "-q"]) == 0
    ds = xr.open_dataset(path)
    assert list(ds["estimator"].values) == [
        "binning(bin_size=0.07)", "kde_upper(variance=0.001)", "kde_upper(variance=0.01)"
    ]
    assert np.isfinite(ds["I_XT"].sel(estimator="kde_upper(variance=0.01)")).all()
    assert "ibsim estimate kde_upper(variance=0.01)" in ds.attrs["history"]
    ds.close()
    # the same spec again replaces its slice instead of adding one
    assert main(["estimate", str(path), "-e", "kde_upper(variance=0.01)", "-q"]) == 0
    assert xr.open_dataset(path).sizes["estimator"] == 3


def test_reestimating_binning_reproduces_the_inline_estimate(saved, tmp_path):
    out = tmp_path / "again.nc"
    estimate_file(saved, "binning(bin_size=0.07)", out)
    before = xr.open_dataset(saved)["I_XT"].isel(estimator=0)
    after = xr.open_dataset(out)["I_XT"].sel(estimator="binning(bin_size=0.07)")
    assert np.array_equal(before.values, after.values)


def test_output_leaves_the_original_untouched(saved, tmp_path):
    original = saved.read_bytes()
    out = tmp_path / "extended.nc"
    assert main(["estimate", str(saved), "-e", "binning_range", "-o", str(out), "-q"]) == 0
    assert saved.read_bytes() == original
    assert xr.open_dataset(out).sizes["estimator"] == 2


def test_deferred_estimation_agrees_with_estimating_the_saved_file(tmp_path):
    """binning_adaptive over a layer's whole trajectory runs after training in
    the pipeline; re-estimating the saved activations gives the same numbers."""
    path = tmp_path / "adaptive.nc"
    overrides = SMALL + ['estimator=["binning", "binning_adaptive(scope=\\"layer\\")"]']
    results = Experiment.from_toml(CONFIGS / "smoke.toml", overrides).run(path)
    in_run = results.dataset["I_XT"].isel(estimator=1).values.copy()
    results.close()
    out = tmp_path / "again.nc"
    estimate_file(path, 'binning_adaptive(scope="layer")', out)
    again = xr.open_dataset(out)["I_XT"].isel(estimator=1).values
    assert np.array_equal(in_run, again)


def test_inline_and_deferred_estimation_agree(tmp_path):
    inline = Experiment.from_toml(CONFIGS / "smoke.toml", SMALL + ["save_activations=false"]).run()
    deferred = Experiment.from_toml(CONFIGS / "smoke.toml", SMALL + ["inline_estimation=false"]).run()
    assert np.array_equal(inline.dataset["I_XT"].values, deferred.dataset["I_XT"].values)
    assert np.array_equal(inline.dataset["I_TY"].values, deferred.dataset["I_TY"].values)


def test_file_without_activations_is_refused(tmp_path):
    path = tmp_path / "thin.nc"
    Experiment.from_toml(CONFIGS / "smoke.toml", SMALL + ["save_activations=false"]).run(path)
    with pytest.raises(ResultsFileError, match="save_activations"):
        estimate_file(path, "kde_upper")


def test_not_a_results_file_is_refused(tmp_path, capsys):
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"not netcdf at all")
    assert main(["estimate", str(junk), "-e", "kde_upper"]) == 2
    assert "not a readable NetCDF file" in capsys.readouterr().err


def test_unknown_estimator_lists_valid_ones(saved, capsys):
    assert main(["estimate", str(saved), "-e", "kde_middle"]) == 2
    err = capsys.readouterr().err
    assert "unknown estimator 'kde_middle'" in err and "kde_upper" in err


def test_serial_units_share_one_open_file_closed_after_success_and_failure(saved, tmp_path, monkeypatch):
    """On the serial backend the units read the file through the one dataset ``estimate_file`` holds
    open (not one opening per unit), and every dataset opened is closed when the estimate ends, done or
    failed."""
    from ibsim.parallel.base import FAIL_UNIT_VARIABLE
    from ibsim.pipeline import reestimate

    opened, closed = [], []
    real_open, real_close = reestimate.open_dataset, xr.Dataset.close

    def counting_open(path, *args, **kwargs):
        ds = real_open(path, *args, **kwargs)
        opened.append(ds)
        return ds

    def counting_close(ds):
        closed.append(ds)
        return real_close(ds)

    monkeypatch.setattr(reestimate, "open_dataset", counting_open)
    monkeypatch.setattr(xr.Dataset, "close", counting_close)
    out = tmp_path / "held.nc"
    estimate_file(saved, "binning_range", out, backend="serial", quiet=True)
    units = 2 * 2  # two runs, two layers
    assert len(opened) == 2 < units  # the layout check's, then the one held for every unit
    assert {id(ds) for ds in opened} <= {id(ds) for ds in closed}
    assert getattr(reestimate._OPEN_HERE, "files", {}) == {}
    assert xr.open_dataset(out).sizes["estimator"] == 2
    opened.clear()
    closed.clear()
    monkeypatch.setenv(FAIL_UNIT_VARIABLE, "layer 2")
    with pytest.raises(Exception, match="injected failure"):
        estimate_file(saved, "binning_range", tmp_path / "failed.nc", backend="serial", quiet=True)
    assert len(opened) == 2 and {id(ds) for ds in opened} <= {id(ds) for ds in closed}
    assert getattr(reestimate._OPEN_HERE, "files", {}) == {}
    assert not (tmp_path / "failed.nc").exists()
