"""Diverged runs are flagged, frozen and left out; the others finish untouched."""
from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr

from ibsim import EstimatorError, Experiment
from ibsim.estimators import Binning, KDEUpper
from ibsim.results import Results
from tests.conftest import CONFIGS

# SGD at a learning rate where some linear runs blow up (runs 3 and 4 with seed 0)
DIVERGING = ["architecture=[6,4]", 'optimizer="sgd"', "learning_rate=0.7", 'activation_fn="linear"', "n_runs=8",
             "epochs=30", 'record_schedule="every"']


@pytest.fixture(scope="module")
def diverged(tmp_path_factory):
    path = tmp_path_factory.mktemp("diverged") / "d.nc"
    Experiment.from_toml(CONFIGS / "smoke.toml", DIVERGING).run(path).close()
    return path


def test_diverged_runs_are_flagged_and_the_rest_complete(diverged):
    ds = xr.open_dataset(diverged)
    status = ds["run_status"].values
    assert set(status) == {0, 2}, status
    assert ds["run_status"].attrs["flag_meanings"] == "completed early_stopped diverged"
    bad = ds["run"].values[status == 2]
    good = ds["run"].values[status == 0]
    for run in bad:
        stop = int(ds["stop_epoch"].sel(run=run))
        later = ds["epoch"] > stop
        assert np.isnan(ds["I_XT"].sel(run=run).where(later, drop=True)).all()
        assert np.isnan(ds["activations_1"].sel(run=run).where(later, drop=True)).all()
    assert np.isfinite(ds["I_XT"].sel(run=good)).all()


def test_the_others_are_exactly_what_they_would_be_alone(diverged):
    ds = xr.open_dataset(diverged)
    good = [int(r) for r in ds["run"].values[ds["run_status"].values == 0]]
    alone = Experiment.from_toml(CONFIGS / "smoke.toml", DIVERGING + [f"runs={good[:2]}"]).run().dataset
    for run in good[:2]:
        assert np.array_equal(ds["activations_2"].sel(run=run).values, alone["activations_2"].sel(run=run).values)


def test_means_leave_diverged_runs_out_with_a_warning(diverged):
    with Results.open(diverged) as results:
        bad = [int(r) for r in results.dataset["run"].values[results.dataset["run_status"].values == 2]]
        with pytest.warns(UserWarning, match=re.escape(f"runs {bad} diverged and are left out of the mean")):
            fig = results.plot_infoplane()
        assert fig.axes


def test_estimators_refuse_nan_naming_run_epoch_and_layer(diverged):
    ds = xr.open_dataset(diverged)
    cube = ds["activations_1"]  # diverged runs hold NaN after their stop
    for estimator in (Binning(), KDEUpper()):
        with pytest.raises(EstimatorError, match=r"NaN or infinite activations at run \d+, epoch \d+"):
            from ibsim.pipeline.estimation import Samples, estimate_layer

            run = int(ds["run"].values[ds["run_status"].values == 2][0])
            values = cube.sel(run=run).values
            where = [(run, int(e)) for e in ds["epoch"].values]
            estimate_layer(estimator, values, Samples(ds["y"].values, 2, None, 4096), None, where, 0)
