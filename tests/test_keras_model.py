"""Any Keras model (``keras(factory="module:function")``): the general path through the same pipeline."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from ibsim import ConfigError, Experiment, Network, Recorder
from ibsim.config.config import Config
from ibsim.networks.network import KerasNetwork
from ibsim.pipeline.data import experiment_data
from ibsim.pipeline.parts import PartStore
from ibsim.pipeline.plan import make_plan
from ibsim.pipeline.training import GroupTraining
from tests.conftest import REPO

EXAMPLES = REPO / "docs" / "examples"
sys.path.insert(0, str(EXAMPLES))  # keras_models, the example factories

SMALL = dict(epochs=3, batch_size=128)
EVERY = Recorder(record_schedule="every")
SAVED = Recorder(record_schedule="every", save_activations=True)


@pytest.fixture(autouse=True)
def _examples_on_path(monkeypatch):
    """Workers (--jobs) import the factory too."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")])))


def _keras(factory: str = "keras_models:small", network: dict | None = None, save_activations: bool = False,
           **options) -> Experiment:
    return Experiment(network=KerasNetwork(factory=factory, **{**SMALL, **(network or {})}),
                      recorder=SAVED if save_activations else EVERY, seed=11, plots=[], **options)


@pytest.fixture(scope="module")
def three_runs():
    return _keras(n_runs=3, save_activations=True).run().dataset


def test_a_factory_model_writes_the_usual_file(three_runs):
    ensemble = Experiment(network=Network(architecture=[6, 4], **SMALL), recorder=SAVED, seed=11, n_runs=3,
                          plots=[]).run().dataset
    assert set(three_runs.data_vars) == set(ensemble.data_vars)
    for name in three_runs.data_vars:
        assert three_runs[name].dims == ensemble[name].dims, name
    assert list(three_runs["layer_width"].values) == [6, 4, 2]
    assert np.isfinite(three_runs["I_XT"].values).all() and np.isfinite(three_runs["grad_mean"].isel(epoch=slice(1, None)).values).all()
    assert three_runs.attrs["config"].count('keras(factory=\\"keras_models:small\\")') == 1


def test_binning_and_kde_estimates():
    ds = _keras(estimators=["binning", "kde_upper"], n_runs=1).run().dataset
    assert ds["I_XT"].shape == (2, 1, 4, 3)
    assert np.isfinite(ds["I_XT"].values).all() and np.isfinite(ds["I_TY"].values).all()


def test_a_run_does_not_depend_on_its_group(three_runs):
    alone = _keras(n_runs=3, runs=[2], save_activations=True).run().dataset
    regrouped = _keras(n_runs=3, group_size=2, save_activations=True).run().dataset
    for name in ("activations_1", "activations_2", "activations_3", "I_XT", "epoch_loss"):
        assert np.array_equal(three_runs[name].sel(run=2).values, alone[name].sel(run=2).values), name
        assert np.array_equal(three_runs[name].values, regrouped[name].values), name


def test_the_keras_copy_of_a_dense_net_matches_the_ensemble():
    """Same initial weights (drawn from the same stream), same batch orders and
    Keras' own SGD: after 2 epochs the two differ only by float32 rounding (the
    ensemble's fused multiply-reduce sums in another order than Keras' matmul)."""
    settings = dict(epochs=2, batch_size=128, optimizer="sgd", learning_rate=0.1)
    keras_ds = _keras(network=settings, n_runs=2, save_activations=True).run().dataset
    ensemble = Experiment(network=Network(architecture=[6, 4], **settings), recorder=SAVED, seed=11, n_runs=2,
                          plots=[]).run().dataset
    first = keras_ds["activations_1"].isel(epoch=0).values
    assert np.array_equal(first, ensemble["activations_1"].isel(epoch=0).values) or \
        np.allclose(first, ensemble["activations_1"].isel(epoch=0).values, atol=1e-6)
    for k in (1, 2, 3):
        np.testing.assert_allclose(keras_ds[f"activations_{k}"].values, ensemble[f"activations_{k}"].values, atol=2e-5)
    np.testing.assert_allclose(keras_ds["epoch_loss"].values, ensemble["epoch_loss"].values, atol=2e-5)
    np.testing.assert_allclose(keras_ds["grad_mean"].values, ensemble["grad_mean"].values, rtol=1e-3)


def test_resume_equals_an_uninterrupted_run(tmp_path):
    config = Config.from_dict({"model": 'keras(factory="keras_models:batchnorm_dropout")', "epochs": 4,
                               "batch_size": 128, "record_schedule": "every", "n_runs": 2, "checkpoint_every": 2,
                               "save_activations": True})
    plan = make_plan(config)
    data = experiment_data(config)
    group = plan.groups[0]

    def train(training, stop_at=None):
        while not training.finished and training.epoch != stop_at:
            training.run_epochs(1)
        return training

    whole = train(GroupTraining(config, plan, group, data, PartStore(tmp_path / "whole"))).finish()
    train(GroupTraining(config, plan, group, data, PartStore(tmp_path / "cut")), stop_at=3)  # epoch 3 is lost
    resumed = GroupTraining(config, plan, group, data, PartStore(tmp_path / "cut"), resume=True)
    assert resumed.epoch == 2  # from the checkpoint
    summary = train(resumed).finish()
    for name in ("loss", "accuracy", "act_min", "act_max", "grad_mean", "epoch_loss", "estimates"):
        assert np.array_equal(getattr(whole, name), getattr(summary, name), equal_nan=True), name
    for a, b in zip(PartStore(tmp_path / "whole").open_activations(0, 3),
                    PartStore(tmp_path / "cut").open_activations(0, 3)):
        assert np.array_equal(a, b)


def test_two_jobs_equal_serial(three_runs):
    parallel = _keras(n_runs=3, group_size=2, save_activations=True).run(jobs=2, backend="joblib").dataset
    for name in ("activations_1", "activations_3", "I_XT", "I_TY", "epoch_accuracy"):
        assert np.array_equal(three_runs[name].values, parallel[name].values), name


@pytest.mark.parametrize("factory, message", [
    ("no_such_module:build", "cannot import module 'no_such_module'"),
    ("keras_models:missing", "has no 'missing'"),
    ("keras_models:not_a_model", "returned str, not a keras.Model"),
    ("keras_models:wrong_width", r"output has shape \(None, 3\), expected \(None, 2\)"),
    ("keras_models:no_softmax", "not a softmax"),
])
def test_bad_factories_are_refused_before_training(factory, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        _keras(factory).run(tmp_path / "out.nc")
    assert not (tmp_path / "out.nc.parts").exists()


def test_unknown_layer_names_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="has no layer 'hidden_9'; its layers: input_layer.*hidden_1, hidden_2"):
        Experiment(network=KerasNetwork(factory="keras_models:small", layers=["hidden_9"], **SMALL),
                   plots=[]).run(tmp_path / "out.nc")


def test_named_layers_and_flattened_outputs():
    ds = _keras("keras_models:conv1d", network={"layers": ["conv"]}, save_activations=True).run().dataset
    assert list(ds["layer_width"].values) == [30, 2]  # conv: 10 positions x 3 filters, flattened
    assert ds["activations_1"].shape[-1] == 30


def test_factories_must_be_importable_by_name():
    with pytest.raises(ConfigError, match="importable as \"module:function\""):
        KerasNetwork(factory=lambda shape, n: None)
    import keras_models

    assert KerasNetwork(factory=keras_models.small).model == 'keras(factory="keras_models:small")'


@pytest.mark.parametrize("key, value", [("architecture", [3]), ("max_norm_weights", 2.0), ("activation_fn", "relu")])
def test_keys_the_factory_decides_are_refused(key, value):
    with pytest.raises(ConfigError, match=f"config key '{key}'.*the factory builds the network"):
        Config.from_dict({"model": 'keras(factory="keras_models:small")', key: value})


@pytest.mark.parametrize("model, message", [
    ('keras(factory="nocolon")', "must be a string"),
    ('keras(factory="m:f", layers=[])', "non-empty list"),
    ('keras(factory="m:f", width=3)', "no parameter 'width'"),
    ("transformer", "unknown model 'transformer'"),
])
def test_bad_model_specs_name_the_key(model, message):
    with pytest.raises(ConfigError, match=f"Config key 'model'.*{message}"):
        Config.from_dict({"model": model})
