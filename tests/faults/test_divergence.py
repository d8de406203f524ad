"""Diverged runs are flagged, frozen and left out; the others finish untouched.
Divergence is said: by training (one line per group), by ``ibsim run`` (exit 3
when every run of an experiment diverged) and by plots with nothing finite to draw."""
from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest
import xarray as xr

from ibsim import EstimatorError, Experiment
from ibsim.cli import main
from ibsim.estimators import Binning, KDEUpper
from ibsim.plots import make_plot
from ibsim.plots.compare import infoplane_grid
from ibsim.errors import NoFiniteRunError
from ibsim.results import Results
from tests.conftest import CONFIGS
from tests.plots.conftest import synthetic_dataset

# SGD at a learning rate where some linear runs blow up (runs 3 and 4 with seed 0)
DIVERGING = ["architecture=[6,4]", 'optimizer="sgd"', "learning_rate=0.7", 'activation_fn="linear"', "n_runs=8",
             "epochs=30", 'record_schedule="every"']
# every run blows up after epoch 0
ALL_DIVERGING = ["architecture=[6,4]", 'optimizer="sgd"', "learning_rate=10", 'activation_fn="linear"', "n_runs=2",
                 "epochs=4", 'record_schedule="every"']


@pytest.fixture(scope="module")
def diverged_run(tmp_path_factory):
    """The results file of DIVERGING and what training wrote to stderr."""
    path = tmp_path_factory.mktemp("diverged") / "d.nc"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        Experiment.from_toml(CONFIGS / "smoke.toml", DIVERGING).run(path).close()
    return path, stderr.getvalue()


@pytest.fixture(scope="module")
def diverged(diverged_run):
    return diverged_run[0]


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


def test_training_names_the_diverged_runs_in_one_line_per_group(diverged_run):
    path, stderr = diverged_run
    ds = xr.open_dataset(path)
    status, epochs = ds["run_status"].values, ds["epoch"].values
    bad = [int(r) for r in ds["run"].values[status == 2]]
    # seen at the first recorded epoch after the last finite one
    seen = [int(epochs[np.searchsorted(epochs, int(ds["stop_epoch"].sel(run=r)), side="right")]) for r in bad]
    notes = [line for line in stderr.splitlines() if "diverged" in line]
    assert notes == [
        f"ibsim: runs {bad} of experiment 'smoke' diverged at epochs {seen} (NaN, inf or |activation| > 1e+15); "
        "they are stopped, flagged in run_status and left out of means"
    ], stderr


def test_training_says_nothing_when_no_run_diverges(capsys):
    Experiment.from_toml(CONFIGS / "smoke.toml", DIVERGING + ["learning_rate=0.01", "n_runs=2", "epochs=3"]).run()
    assert "diverged" not in capsys.readouterr().err


def test_run_exits_3_naming_the_file_when_every_run_diverged(tmp_path, capsys):
    output = tmp_path / "all.nc"
    status = main(["run", str(CONFIGS / "smoke.toml"), "-o", str(output), "-q",
                   *[f"--set={s}" for s in ALL_DIVERGING]])
    err = capsys.readouterr().err
    assert status == 3, err
    with Results.open(output) as results:  # written, complete and flagged
        ds = results.dataset
        assert (ds["run_status"].values == 2).all() and (ds["stop_epoch"].values == 0).all()
        # training ended with the last run: the epochs it never reached are missing, not 0
        assert np.isfinite(ds["activations_1"].sel(epoch=0).values).all()
        assert np.isnan(ds["activations_1"].sel(epoch=slice(1, None)).values).all()
    lines = err.splitlines()
    assert f"ibsim: every run of experiment 'smoke' diverged (NaN, inf or huge activations): {output} is " \
           "written, with run_status = 2 (diverged) for every run (a smaller learning_rate may help)" == lines[-1]
    assert "ibsim: runs [0, 1] of experiment 'smoke' diverged at epochs [1, 1]" in err  # training's note
    # the default plot is skipped with one line instead of an empty plane
    assert f"ibsim: skipped the infoplane plot of {output}: no finite run to plot: all 2 run(s) of experiment " \
           "'smoke' diverged (run_status = 2)" in lines
    assert not output.with_name("all_infoplane.png").exists()
    assert "left out of the mean" not in err

    assert main(["plot", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["ibsim: error: no finite run to plot: all 2 run(s) of experiment 'smoke' diverged "
                                "(run_status = 2)"]


def test_run_exits_0_when_some_runs_survive(tmp_path, capsys):
    output = tmp_path / "some.nc"
    with pytest.warns(UserWarning, match=re.escape("runs [3] diverged and are left out of the mean")):
        status = main(["run", str(CONFIGS / "smoke.toml"), "-o", str(output), "-q",
                       *[f"--set={s}" for s in DIVERGING + ["runs=[0, 3]"]]])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "ibsim: runs [3] of experiment 'smoke' diverged at epochs" in err
    assert "every run" not in err and "skipped" not in err
    assert output.with_name("some_infoplane.png").is_file()


def _all_diverged() -> Results:
    ds = synthetic_dataset(stop={})
    ds["run_status"].values[:] = 2
    return Results(ds)


@pytest.mark.parametrize("kind", ["infoplane", "movie", "accuracy", "snr"])
def test_mean_plots_refuse_when_every_run_diverged(kind):
    with pytest.raises(NoFiniteRunError, match=r"^no finite run to plot: all 2 run\(s\) of experiment 'synthetic' "
                                               r"diverged \(run_status = 2\)$"):
        make_plot(kind).draw(_all_diverged())


def test_the_grid_of_planes_refuses_a_panel_without_a_finite_run():
    fine = Results(synthetic_dataset(stop={}))
    with pytest.raises(NoFiniteRunError, match="no finite run"):
        infoplane_grid([[("fine", fine, None), ("blown", _all_diverged(), None)]])
    assert infoplane_grid([[("fine", fine, None)]]).axes


@pytest.mark.parametrize("kind", ["infoplane", "movie"])
def test_plane_plots_refuse_all_nan_estimates(kind):
    ds = synthetic_dataset(stop={})
    ds["I_TY"].loc[{"estimator": ds["estimator"].values[1]}] = np.nan
    results = Results(ds)
    assert make_plot(kind, estimator=0).figure(results).axes  # the other estimate is drawn
    with pytest.raises(NoFiniteRunError, match=r"no finite run to plot: every kde_upper\(variance=0.001\) "
                                               r"estimate of experiment 'synthetic' is NaN"):
        make_plot(kind, estimator=1).figure(results)


def test_accuracy_refuses_all_nan_curves():
    ds = synthetic_dataset(stop={})
    ds["accuracy"].values[:] = np.nan
    with pytest.raises(NoFiniteRunError, match="every accuracy and loss of experiment 'synthetic' is NaN"):
        make_plot("accuracy").figure(Results(ds))


@pytest.mark.parametrize("kind", ["activations", "single_neuron"])
def test_activation_plots_refuse_a_run_without_a_finite_activation(kind):
    ds = synthetic_dataset(stop={})
    ds["run_status"].values[1] = 2
    ds["stop_epoch"].values[1] = -1
    for name in ("activation_min", "activation_max", "activations_1", "activations_2", "activations_3"):
        ds[name].loc[{"run": 1}] = np.nan
    results = Results(ds)
    assert make_plot(kind, run=0).figure(results).axes
    with pytest.raises(NoFiniteRunError, match="no finite run to plot: run 1 .*has no finite activation"):
        make_plot(kind, run=1).figure(results)
