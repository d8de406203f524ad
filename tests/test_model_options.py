"""Seed parity on the training side: activations, batch norm, max-norm, initial
bias, early stopping, gradient statistics, TensorBoard export."""
from __future__ import annotations

import numpy as np
import pytest

from ibsim import ConfigError, Experiment, Network
from ibsim.cli import main
from ibsim.datasets import Harmonics
from ibsim.networks.activations import ACTIVATIONS, NUMPY_ACTIVATIONS, tf_activation
from ibsim.networks.ensemble import Ensemble
from tests.conftest import CONFIGS
from tests.lockstep import train_in_lockstep

TINY = ["architecture=[5,3]", "n_runs=2", "record_schedule=\"every\""]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_numpy_and_tensorflow_agree(name):
    x = np.linspace(-8, 8, 1001).astype(np.float32)
    tf_values = np.asarray(tf_activation(name)(x))
    np.testing.assert_allclose(tf_values, NUMPY_ACTIVATIONS[name](x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_activation_definitions():
    f = NUMPY_ACTIVATIONS
    assert f["hard_sigmoid"](np.array([-3.0, 0.0, 1.0, 3.0])).tolist() == [0.0, 0.5, 0.7, 1.0]
    assert f["leaky_relu"](np.array([-1.0]))[0] == pytest.approx(-0.2)
    assert f["relu6"](np.array([7.0]))[0] == 6.0


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_activation_trains(name):
    results = Experiment.from_toml(CONFIGS / "smoke.toml", TINY + ["epochs=2", f"activation_fn={name}"]).run()
    assert np.isfinite(results.dataset["I_XT"].values).all()
    assert results.config.activation_fn == name


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="one of 'tanh'.*'linear'"):
        Network(activation_fn="swish")


def test_initial_bias_sets_every_bias():
    ensemble = Ensemble(Network(architecture=[4, 3], initial_bias=0.25), 12, 2, [0, 1], seed=0)
    for bias in ensemble.params[ensemble.n_layers : 2 * ensemble.n_layers]:
        assert np.all(bias.numpy() == np.float32(0.25))


def test_batchnorm_follows_keras():
    """Dense -> BatchNormalization -> tanh in Keras, same weights and batches."""
    import keras

    data = Harmonics().splits(0, 0.8)
    network = Network(architecture=[6], model="feedforward_batchnorm", optimizer="sgd", learning_rate=0.1,
                      batch_size=500)
    ensemble = Ensemble(network, 12, 2, [3], seed=0)
    p = [v.numpy()[..., 0] for v in ensemble.params]
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(6), keras.layers.BatchNormalization(),
                              keras.layers.Activation("tanh"), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy")
    # ensemble params: kernels (2), biases (2), gamma, beta; Keras: W1, b1, gamma, beta, mean, var, W2, b2
    model.set_weights([p[0], p[2], p[4], p[5], np.zeros(6, np.float32), np.ones(6, np.float32), p[1], p[3]])
    train_in_lockstep(ensemble, model, data.training.X, data.training.Y, 500, epochs=2)
    ours = ensemble.record(data.full_dataset.X)
    np.testing.assert_allclose(ours[-1][0], model.predict(data.full_dataset.X, verbose=0), atol=5e-5)
    hidden = keras.Model(model.inputs, model.layers[2].output)
    np.testing.assert_allclose(ours[0][0], hidden.predict(data.full_dataset.X, verbose=0), atol=5e-5)


def test_batchnorm_depends_on_the_group_size_only_in_the_last_digits():
    """Documented limit (docs/design.md): with batch norm, XLA sums the batch
    statistics differently for different group sizes; the size of the effect."""
    options = TINY + ["epochs=3", "model=\"feedforward_batchnorm\"", "n_runs=4"]
    together = Experiment.from_toml(CONFIGS / "smoke.toml", options).run()
    alone = Experiment.from_toml(CONFIGS / "smoke.toml", options + ["runs=[2]"]).run()
    difference = np.abs(together.dataset["activations_2"].sel(run=2).values
                        - alone.dataset["activations_2"].sel(run=2).values).max()
    assert difference < 1e-4
    regrouped = Experiment.from_toml(CONFIGS / "smoke.toml", options).run()  # the same groups: the same bits
    assert np.array_equal(together.dataset["activations_2"].values, regrouped.dataset["activations_2"].values)


def test_early_stopping_stops_the_right_runs():
    base = TINY + ["epochs=25", "n_runs=3", "learning_rate=0.01", "save_activations=false"]
    free = Experiment.from_toml(CONFIGS / "smoke.toml", base).run().dataset
    stopped = Experiment.from_toml(CONFIGS / "smoke.toml", base + ["early_stopping=0.75"]).run().dataset
    test_acc = free["accuracy"].sel(split="test")
    for run in free["run"].values:
        reached = np.flatnonzero(test_acc.sel(run=run).values >= 0.75)
        status = int(stopped["run_status"].sel(run=run))
        if reached.size:
            first = int(free["epoch"].values[reached[0]])
            assert status == 1 and int(stopped["stop_epoch"].sel(run=run)) == first
            after = stopped["epoch"] > first
            assert np.isnan(stopped["I_XT"].sel(run=run).where(after, drop=True)).all()
            before = stopped["epoch"] <= first
            assert np.array_equal(stopped["I_XT"].sel(run=run).where(before, drop=True).values,
                                  free["I_XT"].sel(run=run).where(before, drop=True).values)
        else:
            assert status == 0
            assert np.array_equal(stopped["I_XT"].sel(run=run).values, free["I_XT"].sel(run=run).values)
    assert (stopped["run_status"] == 1).any(), "the target should stop at least one run"


def test_gradient_statistics_match_per_batch_gradients():
    """grad_mean / grad_std are norms of the mean / std over the epoch's batches."""
    import tensorflow as tf

    data = Harmonics().splits(0, 0.8)
    network = Network(architecture=[5], optimizer="sgd", learning_rate=0.05, batch_size=800)
    ensemble = Ensemble(network, 12, 2, [0], seed=4)
    w1, w2 = (tf.Variable(p.numpy()[..., 0]) for p in ensemble.params[:2])
    b1, b2 = (tf.Variable(p.numpy()[..., 0]) for p in ensemble.params[2:4])
    x, y = data.training.X, data.training.Y
    state = ensemble._order_rngs[0].bit_generator.state
    stats = ensemble.train_epoch(tf.constant(x), tf.constant(y), with_stats=True)
    replay = np.random.default_rng()
    replay.bit_generator.state = state
    order = replay.permutation(len(x))
    grads = []
    for start in range(0, len(x), 800):
        xb, yb = x[order[start : start + 800]], y[order[start : start + 800]]
        with tf.GradientTape() as tape:
            logits = tf.tanh(xb @ w1 + b1) @ w2 + b2
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(yb, logits))
        g = tape.gradient(loss, [w1, w2, b1, b2])
        grads.append([v.numpy() for v in g[:2]])
        for var, grad in zip([w1, w2, b1, b2], g):
            var.assign_sub(0.05 * grad)
    for layer in range(2):
        stack = np.stack([g[layer] for g in grads]).astype(np.float64)
        assert stats.mean[layer, 0] == pytest.approx(np.linalg.norm(stack.mean(axis=0)), rel=1e-4)
        assert stats.std[layer, 0] == pytest.approx(np.linalg.norm(stack.std(axis=0)), rel=1e-4)


def test_gradient_variables_in_results():
    ds = Experiment.from_toml(CONFIGS / "smoke.toml", TINY + ["epochs=4"]).run().dataset
    assert ds["grad_mean"].dims == ("run", "epoch", "layer")
    assert np.isnan(ds["grad_mean"].sel(epoch=0)).all()
    later = ds.sel(epoch=slice(1, None))
    assert (later["grad_std"] > 0).all()
    np.testing.assert_allclose(later["grad_snr"], later["grad_mean"] / later["grad_std"])
    assert np.isfinite(ds["weight_norm"]).all()


def test_tensorboard_export(tmp_path):
    out = tmp_path / "r.nc"
    Experiment.from_toml(CONFIGS / "smoke.toml", TINY + ["epochs=4"]).run(out).close()
    assert main(["tensorboard", str(out), "--log-dir", str(tmp_path / "tb"), "--every", "2", "--layers", "1"]) == 0
    config = (tmp_path / "tb" / "projector_config.pbtxt").read_text()
    assert config.count("embeddings {") == 3  # epochs 0, 2, 4
    table = np.loadtxt(tmp_path / "tb" / "layer1_epoch000002.tsv", delimiter="\t")
    assert table.shape == (4096, 5)
    assert len((tmp_path / "tb" / "metadata.tsv").read_text().splitlines()) == 4097
