"""Early-stopped runs: the recorded epochs after a run's stop are missing (NaN,
the cubes' fill value), never 0 — also when every run of a group stopped, so
that its training ended before the last recorded epoch was written."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ibsim.config.config import Config
from ibsim.pipeline.data import experiment_data
from ibsim.pipeline.parts import PartStore
from ibsim.resultsfile.schema import EARLY_STOPPED
from ibsim.pipeline.plan import make_plan
from ibsim.pipeline.runner import run_experiments
from ibsim.pipeline.training import GroupTraining
from tests.conftest import CONFIGS

# every run reaches 60 % test accuracy after a few of its 40 epochs; binning runs
# inline, the adaptive binning over each layer's whole trajectory afterwards
SETTINGS = ["architecture=[6,4]", "epochs=40", "n_runs=3", "learning_rate=0.002", "save_activations=true",
            "early_stopping=0.6", 'record_schedule="every"',
            'estimator=["binning", "binning_adaptive(scope=\\"layer\\")"]']
PER_RUN = ["I_XT", "I_TY", "loss", "accuracy", "activation_min", "activation_max"]


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> xr.Dataset:
    path = tmp_path_factory.mktemp("early") / "early.nc"
    run_experiments([Config.from_toml(CONFIGS / "smoke.toml", SETTINGS)], [path])
    return xr.open_dataset(path)


def _before_and_after(ds: xr.Dataset, run: int) -> tuple[xr.DataArray, xr.DataArray]:
    stop = int(ds["stop_epoch"].sel(run=run))
    return ds["epoch"] <= stop, ds["epoch"] > stop


def test_every_run_stops_before_the_last_recorded_epoch(stopped):
    assert (stopped["run_status"].values == EARLY_STOPPED).all()
    assert (stopped["stop_epoch"].values < stopped["epoch"].values[-1]).all()
    assert (stopped["stop_epoch"].values > 0).all()  # something recorded in training, too


@pytest.mark.parametrize("name", ["activations_1", "activations_2", "activations_3"])
def test_activations_after_the_stop_are_missing_not_zero(stopped, name):
    assert np.isnan(stopped[name].encoding["_FillValue"])
    for run in stopped["run"].values:
        before, after = _before_and_after(stopped, run)
        cube = stopped[name].sel(run=run)
        assert np.isfinite(cube.sel(epoch=before).values).all()
        assert np.isnan(cube.sel(epoch=after).values).all(), f"run {run}: recorded zeros after its stop"


@pytest.mark.parametrize("name", PER_RUN)
def test_estimates_and_metrics_after_the_stop_are_nan(stopped, name):
    for run in stopped["run"].values:
        before, after = _before_and_after(stopped, run)
        values = stopped[name].sel(run=run)
        assert np.isfinite(values.sel(epoch=before).values).all(), (name, run)  # both estimators, both splits
        assert np.isnan(values.sel(epoch=after).values).all(), (name, run)


def test_a_resumed_group_leaves_the_epochs_after_every_stop_missing(tmp_path):
    config = Config.from_toml(CONFIGS / "smoke.toml", SETTINGS)
    plan, data, store = make_plan(config), experiment_data(config), PartStore(tmp_path / "parts")
    (group,) = plan.groups
    first = GroupTraining(config, plan, group, data, store)
    first.run_epochs(1)
    assert not first.finished
    first.checkpoint()
    first.recorder.close()  # as if killed here
    resumed = GroupTraining(config, plan, group, data, store, resume=True)
    assert resumed.epoch == 1
    while not resumed.finished:
        resumed.run_epochs(1)
    summary = resumed.finish()
    assert (summary.run_status == EARLY_STOPPED).all()
    epochs = np.asarray(plan.epochs)
    for layer in store.open_activations(group.index, len(config.architecture) + 1):
        for position, stop in enumerate(summary.stop_epoch):
            assert np.isfinite(layer[epochs <= stop, position]).all()
            assert np.isnan(layer[epochs > stop, position]).all()
