"""Noisy networks (``noise_std``, Goldfeld et al. 2019): Gaussian noise on every
hidden layer's output in training, per run, reproducible, and recordings of the
noise-free outputs."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ibsim import Config, ConfigError, Experiment, Network
from ibsim.networks.ensemble import Ensemble, _noise
from ibsim.pipeline.reestimate import estimate_file
from ibsim.seeding import run_rng
from tests.conftest import CONFIGS

N, FEATURES, CLASSES = 300, 12, 2


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (N, FEATURES)).astype(np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[(x[:, :3].sum(axis=1) > 1).astype(int)]
    return x, y


def _draws(ensemble: Ensemble, key, layer: int, step: int, shape: list[int]) -> np.ndarray:
    """The draws of the compiled training step (XLA's stateless normals differ from TensorFlow's eager ones)."""
    tf = ensemble._tf
    draw = tf.function(lambda k: _noise(tf, ensemble.program.sig, k, layer, step, shape), jit_compile=True)
    return draw(key).numpy()


def _trained(data, runs, epochs=2, **network) -> Ensemble:
    settings = dict(architecture=[6, 5], noise_std=0.2, batch_size=64, learning_rate=0.01)
    ensemble = Ensemble(Network(**{**settings, **network}), FEATURES, CLASSES, runs, seed=3)
    for _ in range(epochs):
        ensemble.train_epoch(*data)
    return ensemble


# ------------------------------------------------------------------------------------------ config
def test_the_key_is_validated_and_stored():
    assert Config.from_dict({}).noise_std == 0.0
    config = Config.from_dict({"noise_std": 0.05})
    assert "noise_std = 0.05" in config.to_toml()
    with pytest.raises(ConfigError, match="noise_std"):
        Config.from_dict({"noise_std": -0.1})
    with pytest.raises(ConfigError, match="noise_std.*GaussianNoise"):
        Network(model='keras(factory="mypkg.models:build")', noise_std=0.1)


# ---------------------------------------------------------------------------------------- the noise
def test_the_draws_are_standard_normals_scaled_by_beta():
    ensemble = Ensemble(Network(architecture=[4], noise_std=0.3), FEATURES, CLASSES, [0], seed=0)
    key = ensemble.keys[0]
    draws = _draws(ensemble, key, 0, 1, [400, 500])
    assert abs(draws.mean()) < 0.005 and draws.std() == pytest.approx(0.3, rel=0.01)
    # layers, steps and runs draw differently; the same (run, layer, step) draws the same
    assert np.array_equal(draws, _draws(ensemble, key, 0, 1, [400, 500]))
    other_run = Ensemble(Network(architecture=[4], noise_std=0.3), FEATURES, CLASSES, [1], seed=0).keys[0]
    for different in (_draws(ensemble, key, 1, 1, [400, 500]), _draws(ensemble, key, 0, 2, [400, 500]),
                      _draws(ensemble, other_run, 0, 1, [400, 500])):
        assert abs(np.corrcoef(draws.ravel(), different.ravel())[0, 1]) < 0.01


def test_one_step_is_the_noisy_networks_gradient_step(data):
    """One full-batch SGD step equals NumPy's step of the network whose hidden
    outputs carry the run's draws: noise after each activation, gradients through it."""
    x, y = data
    network = Network(architecture=[5, 4], noise_std=0.3, optimizer="sgd", learning_rate=0.5, batch_size=N)
    ensemble = Ensemble(network, FEATURES, CLASSES, [2], seed=1)
    before = [p.numpy()[..., 0].astype(np.float64) for p in ensemble.params]
    ensemble.train_epoch(x, y)
    order = run_rng(1, 2, "batches").permutation(N)
    kernels, biases = before[:3], before[3:]
    h, hidden, noises = x[order].astype(np.float64), [], []
    # a step draws every hidden layer's noise at once, the layers side by side
    draws = _draws(ensemble, ensemble.keys[0], 0, 1, [N, 5 + 4]).astype(np.float64)
    for layer, columns in enumerate((slice(0, 5), slice(5, 9))):
        z = h @ kernels[layer] + biases[layer]
        noise = draws[:, columns]
        hidden.append((h, np.tanh(z)))
        h = np.tanh(z) + noise
        noises.append(noise)
    logits = h @ kernels[2] + biases[2]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = (p - y[order]) / N
    grads_k, grads_b = [h.T @ delta], [delta.sum(axis=0)]
    back = delta @ kernels[2].T
    for layer in (1, 0):
        inputs, activation = hidden[layer]
        dz = back * (1 - activation**2)
        grads_k.insert(0, inputs.T @ dz)
        grads_b.insert(0, dz.sum(axis=0))
        back = dz @ kernels[layer].T
    expected = [w - 0.5 * g for w, g in zip(kernels + biases, grads_k + grads_b)]
    for got, want in zip(ensemble.params, expected):
        np.testing.assert_allclose(got.numpy()[..., 0], want, atol=2e-5)
    # without the noise the step would be measurably different
    assert max(np.abs(n).max() for n in noises) > 0.5


@pytest.mark.parametrize("architecture", [[6, 5], [6, "dropout(rate=0.1)", 5]], ids=["dense", "run_loop"])
def test_a_noisy_run_does_not_depend_on_its_group(data, architecture):
    """Run 1 of a group of 3 is bit for bit run 1 alone, in the dense ensemble
    and in the run loop of layer-spec networks."""
    three, alone = _trained(data, [0, 1, 2], architecture=architecture), _trained(data, [1], architecture=architecture)
    for mine, theirs in zip(three.params + three.slots, alone.params + alone.slots):
        assert np.array_equal(mine.numpy()[..., [1]], theirs.numpy())
    noise_free = _trained(data, [1], architecture=architecture, noise_std=0.0)
    assert not np.array_equal(alone.params[0].numpy(), noise_free.params[0].numpy())


def test_recordings_are_the_noise_free_outputs(data):
    x, _ = data
    ensemble = _trained(data, [0, 1])
    first, again = ensemble.record(x), ensemble.record(x)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    kernel, bias = ensemble.params[0].numpy(), ensemble.params[3].numpy()
    for r in range(2):
        np.testing.assert_allclose(first[0][r], np.tanh(x @ kernel[..., r] + bias[:, r]), atol=1e-6)


def test_a_resumed_group_draws_the_same_noise(data):
    """Training on from a saved state continues exactly as the group that was not stopped."""
    going = _trained(data, [0, 1], epochs=1)
    state = going.state()
    going.train_epoch(*data)
    resumed = _trained(data, [0, 1], epochs=0)
    resumed.load_state(state)
    resumed.train_epoch(*data)
    for mine, theirs in zip(going.params, resumed.params):
        assert np.array_equal(mine.numpy(), theirs.numpy())


# ------------------------------------------------------------------------------------ whole runs
NOISY = ["epochs=4", "n_runs=3", "group_size=2", "architecture=[6,4]", "noise_std=0.1",
         'estimator=["sp(samples=2)", "binning"]', "save_activations=true", 'calculate_mi_for="test"']


@pytest.fixture(scope="module")
def noisy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("noisy") / "serial.nc"
    Experiment.from_toml(CONFIGS / "smoke.toml", NOISY).run(path, backend="serial", quiet=True).close()
    return path


def test_a_noisy_run_estimates_with_the_networks_noise(noisy_file):
    with xr.open_dataset(noisy_file) as ds:
        specs = [str(s) for s in ds["estimator"].values]
        assert "sp(noise_std=0.1, samples=2, seed=0)" in specs
        values = ds["I_XT"].sel(estimator=specs[0]).values
        assert np.isfinite(values).all() and (values >= 0).all() and (values <= np.log2(ds.sizes["sample"])).all()


def test_two_workers_write_the_numbers_of_a_serial_noisy_run(noisy_file, tmp_path):
    path = tmp_path / "joblib.nc"
    Experiment.from_toml(CONFIGS / "smoke.toml", NOISY).run(path, backend="joblib", jobs=2, quiet=True).close()
    with xr.open_dataset(noisy_file) as one, xr.open_dataset(path) as two:
        for name in one.data_vars:
            assert np.array_equal(one[name].values, two[name].values, equal_nan=True), name


def test_estimating_a_noisy_file_again_takes_its_noise(noisy_file, tmp_path):
    """``ibsim estimate FILE sp`` uses the file's network noise and equals the run's estimate."""
    out = estimate_file(noisy_file, "sp(samples=2)", tmp_path / "again.nc", backend="serial")
    spec = "sp(noise_std=0.1, samples=2, seed=0)"
    with xr.open_dataset(noisy_file) as ran, xr.open_dataset(out) as again:
        assert np.array_equal(ran["I_XT"].sel(estimator=spec).values, again["I_XT"].sel(estimator=spec).values)
        assert np.array_equal(ran["I_XT_se"].sel(estimator=spec).values,
                              again["I_XT_se"].sel(estimator=spec).values)
    with pytest.raises(ConfigError, match="trained with noise_std = 0.1"):
        estimate_file(noisy_file, "sp(noise_std=0.3)", tmp_path / "other.nc", backend="serial")


def test_sp_on_a_noise_free_network_needs_its_noise_named():
    with pytest.raises(ConfigError, match="needs the network's noise"):
        Config.from_dict({"estimator": "sp"})
    assert Config.from_dict({"estimator": "sp(noise_std=0.2)"}).estimator == ["sp(noise_std=0.2, samples=10, seed=0)"]
    with pytest.raises(ConfigError, match="leave noise_std out"):
        Config.from_dict({"noise_std": 0.05, "estimator": "sp(noise_std=0.2)"})
