"""Several splits in one run: the networks are trained once, every estimate
gains a split dimension, and each split's estimates are bit for bit those of a
run that estimates that split alone; a full-data file is re-estimated on either
split with ``ibsim estimate --split``; loss and accuracy on both splits are kept
after every epoch."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import xarray as xr

from ibsim import ConfigError, Results
from ibsim.cli import main
from ibsim.config import Config
from tests.conftest import CONFIGS

ESTIMATORS = '["binning", "binning_adaptive(scope=\\"layer\\")"]'
SETTINGS = ["epochs=25", "n_runs=2", "architecture=[6,4]", f"estimator={ESTIMATORS}"]


def _run(output, calculate_mi_for: str) -> None:
    args = ["run", str(CONFIGS / "smoke.toml"), "-o", str(output), "-q", "--no-plots", "--backend", "serial"]
    args += [f"--set={s}" for s in SETTINGS + [f"calculate_mi_for={calculate_mi_for}"]]
    assert main(args) == 0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("splits")
    paths = {}
    for name, value in [("both", '["training", "test"]'), ("training", '"training"'), ("test", '"test"'),
                        ("full", '"full_dataset"')]:
        paths[name] = folder / f"{name}.nc"
        _run(paths[name], value)
    return paths


def test_each_split_equals_a_run_of_that_split_alone(files):
    with xr.open_dataset(files["both"]) as both:
        assert both["I_XT"].dims == ("estimator", "run", "epoch", "layer", "mi_split")
        assert list(both["mi_split"].values) == ["training", "test"]
        for split in ("training", "test"):
            with xr.open_dataset(files[split]) as alone:
                for name in ("I_XT", "I_TY"):
                    assert np.array_equal(both[name].sel(mi_split=split).values, alone[name].values,
                                          equal_nan=True), (split, name)
                assert np.array_equal(both["loss"].values, alone["loss"].values)  # trained once, the same nets


def test_the_file_says_which_sample_is_which(files):
    with xr.open_dataset(files["both"]) as both, xr.open_dataset(files["test"]) as test:
        assert both.attrs["recorded_split"] == "full_dataset" and both.sizes["sample"] == 4096
        test_samples = set(test["sample"].values)
        marked = set(both["sample"].values[both["sample_split"].values == 1])
        assert marked == test_samples and len(marked) == 4096 - 3277


@pytest.mark.parametrize("split", ["training", "test"])
def test_a_full_data_file_is_reestimated_on_either_split(files, split, tmp_path):
    full = tmp_path / "full.nc"
    shutil.copy(files["full"], full)
    for spec in ("binning", 'binning_adaptive(scope="layer")'):
        assert main(["estimate", str(full), "-e", spec, "--split", split, "-q"]) == 0
    with xr.open_dataset(full) as estimated, xr.open_dataset(files[split]) as alone:
        for k, label in enumerate(alone["estimator"].values):
            for name in ("I_XT", "I_TY"):
                assert np.array_equal(estimated[name].sel(estimator=f"{label} @ {split}").values,
                                      alone[name].isel(estimator=k).values, equal_nan=True), (label, name)


def test_reestimating_a_file_of_several_splits_fills_each(files, tmp_path):
    both = tmp_path / "both.nc"
    shutil.copy(files["both"], both)
    assert main(["estimate", str(both), "-e", "binning(bin_size=0.5)", "-q"]) == 0
    assert main(["estimate", str(both), "-e", "binning(bin_size=0.25)", "--split", "test", "-q"]) == 0
    with Results.open(both) as results:
        wide = results.dataset["I_XT"].sel(estimator="binning(bin_size=0.5)")
        assert np.isfinite(wide.isel(epoch=-1).values).all()
        narrow = results.dataset["I_XT"].sel(estimator="binning(bin_size=0.25)")
        assert np.isnan(narrow.sel(mi_split="training").values).all()
        assert np.isfinite(narrow.sel(mi_split="test").isel(epoch=-1).values).all()


@pytest.mark.parametrize("file, split, message", [
    ("both", "full_dataset", "holds estimates on training, test; --split must be one of them"),
    ("training", "test", "recorded no test samples"),
    ("training", "full_dataset", "recorded the training samples only"),
])
def test_splits_a_file_did_not_record_are_refused(files, file, split, message, tmp_path, capsys):
    path = tmp_path / "f.nc"
    shutil.copy(files[file], path)
    before = path.read_bytes()
    assert main(["estimate", str(path), "-e", "binning", "--split", split, "-q"]) == 2
    assert message in capsys.readouterr().err
    assert path.read_bytes() == before


def test_results_select_a_split(files, tmp_path):
    with Results.open(files["both"]) as results:
        assert results.splits == ["training", "test"]
        first = results.information()
        test = results.information(split="test")
        assert np.array_equal(first["I_XT"].values, results.dataset["I_XT"].isel(estimator=0)
                              .sel(mi_split="training").values, equal_nan=True)
        assert "mi_split" not in test["I_XT"].dims
        with pytest.raises(ConfigError, match="no estimates on the 'full_dataset' split; estimated: training, test"):
            results.information(split="full_dataset")
        results.plot("infoplane", tmp_path / "test.png", split="test")
        assert (tmp_path / "test.png").stat().st_size > 0
    with Results.open(files["full"]) as results:
        assert results.splits == ["full_dataset"]
        assert results.information(split="full_dataset")["I_XT"].dims == ("run", "epoch", "layer")


def test_loss_and_accuracy_after_every_epoch(files):
    with xr.open_dataset(files["both"]) as ds:
        assert ds["epoch_loss"].dims == ("run", "every_epoch", "split")
        assert list(ds["every_epoch"].values) == list(range(26))
        assert np.isfinite(ds["epoch_loss"].values).all() and np.isfinite(ds["epoch_accuracy"].values).all()
        at = {"every_epoch": ds["epoch"].values}
        # test split: after the epoch, as the recorded epochs have it (float32 in the epoch vs float64)
        assert np.allclose(ds["epoch_loss"].sel(split="test", **at).values, ds["loss"].sel(split="test").values,
                           rtol=0, atol=2e-5)
        assert np.allclose(ds["epoch_accuracy"].sel(split="test", **at).values,
                           ds["accuracy"].sel(split="test").values, atol=1e-9)
        # epoch 0 (before training) is a read-out of both splits
        assert np.allclose(ds["epoch_loss"].sel(every_epoch=0).values, ds["loss"].sel(epoch=0).values, atol=2e-5)


def test_the_training_metrics_are_the_mini_batch_means(tmp_path):
    """Keras' history: the training loss of an epoch is the mean over its
    mini-batches. With a learning rate too small to move the weights, that
    is the loss of the weights at the epoch's end, which the recorded
    epochs compute apart."""
    path = tmp_path / "still.nc"
    args = ["run", str(CONFIGS / "smoke.toml"), "-o", str(path), "-q", "--no-plots", "--set=epochs=3",
            "--set=n_runs=2", "--set=learning_rate=1e-30", "--set=optimizer=\"sgd\"", '--set=record_schedule="every"']
    assert main(args) == 0
    with xr.open_dataset(path) as ds:
        epoch_loss = ds["epoch_loss"].sel(split="training").values[:, 1:]
        recorded = ds["loss"].sel(split="training").values[:, 1:]
        assert np.allclose(epoch_loss, recorded, rtol=0, atol=1e-5)
        accuracy = ds["epoch_accuracy"].sel(split="training").values[:, 1:]
        assert np.allclose(accuracy, ds["accuracy"].sel(split="training").values[:, 1:], atol=1e-6)


@pytest.mark.parametrize("value, stored", [
    (["training"], "training"), (["train", "test"], ["training", "test"]), ("full", "full_dataset"),
    (["full_dataset", "training", "test"], ["full_dataset", "training", "test"]),
])
def test_calculate_mi_for_takes_a_list(value, stored):
    assert Config.from_dict({"calculate_mi_for": value}).calculate_mi_for == stored


@pytest.mark.parametrize("value", [[], ["training", "training"], ["training", "validation"], [1]])
def test_bad_split_lists_are_refused(value):
    with pytest.raises(ConfigError, match="calculate_mi_for"):
        Config.from_dict({"calculate_mi_for": value})


def test_compression_of_each_split(files):
    from ibsim.analysis.compression import compression

    with xr.open_dataset(files["test"]) as alone:
        expected = compression(alone)["delta_I_XT"].values
    with xr.open_dataset(files["both"]) as both:
        assert np.array_equal(compression(both, split="test")["delta_I_XT"].values, expected, equal_nan=True)
        assert not np.array_equal(compression(both)["delta_I_XT"].values, expected, equal_nan=True)
