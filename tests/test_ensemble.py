"""The ensemble trainer: per-run independence, determinism, Keras semantics."""
from __future__ import annotations

import numpy as np
import pytest

from ibsim import Experiment, Network, Recorder
from ibsim.datasets import Harmonics
from ibsim.networks.activations import NUMPY_ACTIVATIONS
from ibsim.networks.ensemble import Ensemble
from tests.lockstep import train_in_lockstep

SMALL = dict(architecture=[6, 4], epochs=6, batch_size=128)


def _experiment(**options):
    return Experiment(
        dataset="harmonics",
        network=Network(**SMALL),
        recorder=Recorder(record_schedule="every"),
        seed=11,
        **options,
    )


@pytest.fixture(scope="module")
def three_runs():
    return _experiment(n_runs=3).run()


def test_a_run_does_not_depend_on_its_group(three_runs):
    alone = _experiment(n_runs=3, runs=[2]).run()
    regrouped = _experiment(n_runs=3, group_size=2).run()  # groups {0, 1} and {2}
    full = three_runs.dataset
    for k in range(1, 4):
        name = f"activations_{k}"
        assert np.array_equal(full[name].sel(run=2).values, alone.dataset[name].sel(run=2).values), name
        assert np.array_equal(full[name].values, regrouped.dataset[name].values), name
    assert np.array_equal(full["I_XT"].sel(run=2).values, alone.dataset["I_XT"].sel(run=2).values)


def test_the_same_experiment_gives_the_same_numbers(three_runs):
    again = _experiment(n_runs=3).run()
    for name, variable in three_runs.dataset.data_vars.items():
        assert np.array_equal(variable.values, again.dataset[name].values, equal_nan=True), name


def test_runs_differ_from_each_other(three_runs):
    acts = three_runs.dataset["activations_1"].isel(epoch=-1).values
    assert not np.array_equal(acts[0], acts[1])


def _numpy_forward(ensemble: Ensemble, x: np.ndarray, position: int, activation: str) -> list[np.ndarray]:
    act = NUMPY_ACTIVATIONS[activation]
    h, outputs = x.astype(np.float64), []
    kernels = [p.numpy()[..., position] for p in ensemble.params[: ensemble.n_layers]]
    biases = [p.numpy()[..., position] for p in ensemble.params[ensemble.n_layers :]]
    for k, (w, b) in enumerate(zip(kernels, biases)):
        z = h @ w + b
        if k < len(kernels) - 1:
            h = act(z)
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            h = e / e.sum(axis=1, keepdims=True)
        outputs.append(h)
    return outputs


@pytest.mark.parametrize("activation", ["tanh", "relu", "hard_sigmoid", "selu", "softplus"])
def test_recorded_activations_match_a_numpy_forward_pass(activation):
    data = Harmonics().splits(0, 0.8)
    ensemble = Ensemble(Network(architecture=[5, 3], activation_fn=activation), 12, 2, [0, 1], seed=3)
    recorded = ensemble.record(data.full_dataset.X)
    for position in range(2):
        expected = _numpy_forward(ensemble, data.full_dataset.X, position, activation)
        for got, want in zip(recorded, expected):
            np.testing.assert_allclose(got[position], want, atol=2e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_follows_keras(optimizer):
    """Same initial weights, same batches: the ensemble's steps are Keras' steps."""
    import keras

    data = Harmonics().splits(0, 0.8)
    network = Network(architecture=[6, 4], optimizer=optimizer, learning_rate=0.05, batch_size=500)
    ensemble = Ensemble(network, 12, 2, [4], seed=0)
    weights = []
    for k in range(ensemble.n_layers):
        weights += [ensemble.params[k].numpy()[..., 0], ensemble.params[ensemble.n_layers + k].numpy()[..., 0]]
    model = keras.Sequential(
        [keras.Input((12,)), keras.layers.Dense(6, "tanh"), keras.layers.Dense(4, "tanh"),
         keras.layers.Dense(2, "softmax")]
    )
    optimizer_cls = keras.optimizers.SGD if optimizer == "sgd" else keras.optimizers.Adam
    model.compile(optimizer_cls(learning_rate=0.05), "categorical_crossentropy")
    model.set_weights(weights)
    train_in_lockstep(ensemble, model, data.training.X, data.training.Y, 500, epochs=2)
    ours = ensemble.record(data.full_dataset.X)[-1][0]
    theirs = model.predict(data.full_dataset.X, verbose=0)
    np.testing.assert_allclose(ours, theirs, atol=2e-5)


def test_max_norm_bounds_every_neuron():
    data = Harmonics().splits(0, 0.8)
    network = Network(architecture=[8, 5], max_norm_weights=0.4, learning_rate=0.05)
    ensemble = Ensemble(network, 12, 2, [0, 1, 2], seed=1)
    tf = ensemble._tf
    for _ in range(3):
        ensemble.train_epoch(tf.constant(data.training.X), tf.constant(data.training.Y))
    for kernel in ensemble.params[: ensemble.n_layers]:
        norms = np.sqrt((kernel.numpy() ** 2).sum(axis=0))
        assert norms.max() <= 0.4 + 1e-6


def test_frozen_runs_stop_changing():
    data = Harmonics().splits(0, 0.8)
    ensemble = Ensemble(Network(architecture=[4]), 12, 2, [0, 1], seed=2)
    tf = ensemble._tf
    x, y = tf.constant(data.training.X), tf.constant(data.training.Y)
    ensemble.train_epoch(x, y)
    ensemble.deactivate([1])
    before = [p.numpy().copy() for p in ensemble.params]
    ensemble.train_epoch(x, y)
    after = [p.numpy() for p in ensemble.params]
    for b, a in zip(before, after):
        assert np.array_equal(b[..., 1], a[..., 1])
        assert not np.array_equal(b[..., 0], a[..., 0])
