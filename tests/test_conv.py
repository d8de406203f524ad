"""Convolutional layers in the ensemble: the architecture syntax, shapes and
recorded widths, a run independent of its group, Keras' steps, the per-channel
recording, and whole runs (serial and parallel) with binning and the KDE."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ibsim import ConfigError, Network
from ibsim.cli import main
from ibsim.config.config import Config
from ibsim.datasets import DATASETS
from ibsim.estimators import make_estimator
from ibsim.estimators.base import LayerBlocks
from ibsim.networks.ensemble import Ensemble
from ibsim.networks.layers import input_shape, parameter_count, recorded_layers, recorded_widths
from ibsim.pipeline import budget
from ibsim.pipeline.plan import plan_shape
from tests.lockstep import train_in_lockstep

LENET = ['conv2d(filters=6, kernel_size=5)', 'maxpool2d(pool_size=2)', 'conv2d(filters=16, kernel_size=5)',
         'maxpool2d(pool_size=2)', 'flatten', 120, 84]
#: a small net over every kind of layer and option, on the 8 x 8 digits
TINY = ['conv2d(filters=3, kernel_size=3)', 'maxpool2d(pool_size=2)',
        'conv2d(filters=4, kernel_size=[2, 3], strides=[1, 2], padding="same")',
        'avgpool2d(pool_size=2, padding="same")', 'flatten', 'dropout(rate=0.25)', 12]
DIGITS_SHAPE = (8, 8, 1)
MPIEXEC = Path(sys.executable).parent / "mpiexec"


@pytest.fixture(scope="module")
def digits():
    return DATASETS.get("digits")().splits(0, 0.8)


# ------------------------------------------------------------------------------------------ the syntax
@pytest.mark.parametrize("architecture, message", [
    (["conv3d(filters=2)"], "unknown layer 'conv3d'"),
    (["conv2d(filter=6, kernel_size=3)", "flatten"], "has no parameter 'filter'"),
    (["conv2d(filters=6)", "flatten"], "needs 'kernel_size'"),
    (["conv2d(filters=0, kernel_size=3)", "flatten"], "'filters' parameter of layer 'conv2d'"),
    (["conv2d(filters=2, kernel_size=3, padding=\"full\")", "flatten"], "'padding' parameter"),
    (["conv2d(filters=2, kernel_size=[3, 3, 3])", "flatten"], "'kernel_size' parameter"),
    (["dropout(rate=1.0)", 4], "'rate' parameter of layer 'dropout'"),
    ([8, "conv2d(filters=2, kernel_size=3)", "flatten"], "Entry 2"),
    (["conv2d(filters=2, kernel_size=3)", "flatten", "maxpool2d(pool_size=2)", "flatten"], "Entry 3"),
    (["conv2d(filters=2, kernel_size=3)", 10], "needs \"flatten\" before it"),
    (["conv2d(filters=2, kernel_size=3)"], "end the conv and pooling layers with \"flatten\""),
    (["flatten", 10], "'flatten' must follow a conv or pooling layer"),
    (["dropout(rate=0.5)"], "needs a hidden layer"),
])
def test_bad_architectures_are_refused_naming_the_key_and_the_entry(architecture, message):
    with pytest.raises(ConfigError, match="architecture") as error:
        Config.from_dict({"dataset": "digits", "architecture": architecture})
    assert message in str(error.value) and "\n" not in str(error.value)


def test_conv_layers_need_an_image_dataset_whose_images_fit():
    conv = ["conv2d(filters=2, kernel_size=3)", "flatten", 4]
    with pytest.raises(ConfigError, match=r"need images, but dataset harmonics declares no image shape.*"
                                          r"config key 'architecture'"):
        Config.from_dict({"dataset": "harmonics", "architecture": conv})
    too_small = ["conv2d(filters=2, kernel_size=5)", "maxpool2d(pool_size=2)", "conv2d(filters=2, kernel_size=3)",
                 "flatten"]
    with pytest.raises(ConfigError, match=r"entry 3: conv2d.* gets 2x2x2 inputs, smaller than its 3x3 window"):
        Config.from_dict({"dataset": "digits", "architecture": too_small})
    with pytest.raises(ConfigError, match="model"):
        Config.from_dict({"dataset": "digits", "architecture": conv, "model": "feedforward_batchnorm"})
    with pytest.raises(ConfigError, match="conv_recording"):
        Config.from_dict({"dataset": "digits", "architecture": conv, "conv_recording": "channel_median"})


def test_the_stored_architecture_is_complete_and_reads_back():
    config = Config.from_dict({"dataset": "digits", "architecture": ["dense(units=5)", 4]})
    assert config.architecture == [5, 4]
    config = Config.from_dict({"dataset": "digits", "architecture": TINY, "conv_recording": "channel_max"})
    assert config.architecture == [
        'conv2d(filters=3, kernel_size=3, strides=1, padding="valid")',
        'maxpool2d(pool_size=2, strides=2, padding="valid")',
        'conv2d(filters=4, kernel_size=[2, 3], strides=[1, 2], padding="same")',
        'avgpool2d(pool_size=2, strides=2, padding="same")', "flatten", "dropout(rate=0.25)", 12]
    again = Config.from_dict(dict(config.raw()))
    assert again.to_toml() == config.to_toml() and again.fingerprint() == config.fingerprint()


# ------------------------------------------------------------------------------- shapes and widths
def test_widths_and_parameters_are_keras():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(6, 5), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 5, strides=(1, 2), padding="same"), keras.layers.AveragePooling2D(3, 2, "same"),
        keras.layers.Flatten(), keras.layers.Dense(120), keras.layers.Dense(10)])
    architecture = ['conv2d(filters=6, kernel_size=5)', 'maxpool2d(pool_size=2)',
                    'conv2d(filters=16, kernel_size=5, strides=[1, 2], padding="same")',
                    'avgpool2d(pool_size=3, strides=2, padding="same")', 'flatten', 120]
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers if not isinstance(layer, keras.layers.Flatten)]
    layers = recorded_layers(architecture, (28, 28, 1), 10)
    assert [layer.shape for layer in layers] == shapes
    assert [layer.name for layer in layers] == ["conv2d_1", "maxpool2d_1", "conv2d_2", "avgpool2d_1", "dense_1",
                                                "readout"]
    assert parameter_count(architecture, (28, 28, 1), 10) == model.count_params()


def test_recorded_widths_full_and_per_channel():
    assert recorded_widths(LENET, (28, 28, 1), 10) == [24 * 24 * 6, 12 * 12 * 6, 8 * 8 * 16, 4 * 4 * 16, 120, 84, 10]
    assert recorded_widths(LENET, (28, 28, 1), 10, "channel_mean") == [6, 6, 16, 16, 120, 84, 10]
    assert recorded_widths([10, 7], (12,), 2) == [10, 7, 2]  # dense nets as before
    assert input_shape([10, 7], 784, (28, 28, 1)) == (784,)  # a dense net sees the flat pixels
    assert input_shape(LENET, 784, (28, 28, 1)) == (28, 28, 1)


def test_the_sizes_of_a_dry_run_are_what_is_recorded(serial_file, tiny_toml, capsys):
    """What ``ibsim run --dry-run`` and the resource check count is what the run recorded."""
    config = Config.from_toml(tiny_toml)
    ds = xr.open_dataset(serial_file)
    widths = recorded_widths(config.architecture, DIGITS_SHAPE, 10)
    assert list(ds["layer_width"].values) == widths
    assert [ds[f"activations_{k}"].shape[-1] for k in range(1, len(widths) + 1)] == widths
    need = budget.estimate(config, plan_shape(config), 1797, 64, 10, 1797)
    assert need.part_bytes == sum(ds[f"activations_{k}"].size for k in range(1, len(widths) + 1)) * 4
    assert serial_file.stat().st_size <= need.file_bytes
    assert main(["run", str(tiny_toml), "--dry-run", "-o", str(serial_file.with_name("dry.nc"))]) == 0
    assert f"{need.part_bytes / 1e6:.0f} MB of part files" in capsys.readouterr().out
    # pooling layers have no weights: no gradient statistics and no weight norm
    layers = recorded_layers(config.architecture, DIGITS_SHAPE, 10)
    pools = [k for k, layer in enumerate(layers) if "pool" in layer.name]
    for name in ("weight_norm", "grad_mean"):
        assert np.isnan(ds[name].values[:, 1:, pools]).all(), name
        assert np.isfinite(np.delete(ds[name].values[:, 1:], pools, axis=2)).all(), name


# ----------------------------------------------------------------------- one ensemble, bit for bit
def _ensemble(runs, **network) -> Ensemble:
    settings = dict(architecture=TINY, batch_size=300, activation_fn="relu", learning_rate=0.01,
                    max_norm_weights=1.5)
    return Ensemble(Network(**{**settings, **network}), 64, 10, runs, seed=5, threads=1, image_shape=DIGITS_SHAPE)


@pytest.fixture(scope="module")
def groups(digits):
    """Runs 0-2 trained two epochs in groups {0, 1, 2}, {2} and {0, 1}."""
    trained = {(0, 1, 2): _ensemble([0, 1, 2]), (2,): _ensemble([2]), (0, 1): _ensemble([0, 1])}
    tf = trained[(2,)]._tf
    for _ in range(2):
        for ensemble in trained.values():
            ensemble.train_epoch(tf.constant(digits.training.X), tf.constant(digits.training.Y), with_stats=True)
    return trained


def test_a_run_does_not_depend_on_its_group(groups, digits):
    """Run 2 of a group of 3 is bit for bit run 2 trained alone; runs 0 and 1 are
    those of a group of 2 (conv, pooling, strides, padding, dropout, max-norm)."""
    three = groups[(0, 1, 2)]
    for part, positions in (((2,), [2]), ((0, 1), [0, 1])):
        other = groups[part]
        for mine, theirs in zip(three.params + three.slots, other.params + other.slots):
            assert np.array_equal(mine.numpy()[..., positions], theirs.numpy())
        for mine, theirs in zip(three.record(digits.full_dataset.X), other.record(digits.full_dataset.X)):
            assert np.array_equal(mine[positions], theirs)
        assert np.array_equal(three.last_metrics[..., positions], other.last_metrics)
        assert np.array_equal(three.stats[0].numpy()[..., positions], other.stats[0].numpy())


def test_dropout_is_per_run_and_only_in_training(groups, digits):
    """The same runs without dropout start from the same weights and record
    the same (no dropout when recording), and train differently."""
    with_dropout = _ensemble([0, 1, 2])
    without = _ensemble([0, 1, 2], architecture=[t for t in TINY if "dropout" not in str(t)])
    for before, after in zip(with_dropout.record(digits.full_dataset.X), without.record(digits.full_dataset.X)):
        assert np.array_equal(before, after)
    tf = without._tf
    for _ in range(2):
        without.train_epoch(tf.constant(digits.training.X), tf.constant(digits.training.Y), with_stats=True)
    assert not np.array_equal(groups[(0, 1, 2)].params[-1].numpy(), without.params[-1].numpy())
    first, second = groups[(0, 1, 2)].record(digits.test.X), groups[(0, 1, 2)].record(digits.test.X)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


# ---------------------------------------------------------------------------------- Keras' steps
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_follows_keras(digits, optimizer):
    """Same initial weights, same batches: the conv ensemble's steps are Keras'
    (Conv2D valid and same/strided, MaxPooling2D, AveragePooling2D, Flatten, Dense)."""
    keras = pytest.importorskip("keras")
    architecture = [t for t in TINY if "dropout" not in str(t)]
    network = Network(architecture=architecture, optimizer=optimizer, learning_rate=0.05, batch_size=500,
                      activation_fn="tanh")
    ensemble = Ensemble(network, 64, 10, [4], seed=0, image_shape=DIGITS_SHAPE)
    n_kernels = len(ensemble.params) // 2
    weights = []
    for k in range(n_kernels):
        weights += [ensemble.params[k].numpy()[..., 0], ensemble.params[n_kernels + k].numpy()[..., 0]]
    model = keras.Sequential([
        keras.Input((64,)), keras.layers.Reshape(DIGITS_SHAPE), keras.layers.Conv2D(3, 3, activation="tanh"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(4, (2, 3), strides=(1, 2), padding="same", activation="tanh"),
        keras.layers.AveragePooling2D(2, padding="same"), keras.layers.Flatten(),
        keras.layers.Dense(12, activation="tanh"), keras.layers.Dense(10, activation="softmax")])
    optimizer_cls = keras.optimizers.SGD if optimizer == "sgd" else keras.optimizers.Adam
    model.compile(optimizer_cls(learning_rate=0.05), "categorical_crossentropy")
    model.set_weights(weights)
    train_in_lockstep(ensemble, model, digits.training.X, digits.training.Y, 500, epochs=2)
    theirs = model.predict(digits.full_dataset.X, verbose=0)
    np.testing.assert_allclose(ensemble.record(digits.full_dataset.X)[-1][0], theirs, atol=2e-6)
    for k in range(n_kernels):
        np.testing.assert_allclose(ensemble.params[k].numpy()[..., 0], model.get_weights()[2 * k], atol=2e-6)


# ---------------------------------------------------------------------------- per-channel recording
def test_channel_summaries_are_the_full_recording_pooled(digits):
    """The same runs recorded in full and per channel: the channel means and
    maxima are those of the full recording over its positions."""
    x = digits.full_dataset.X
    full = Ensemble(Network(architecture=TINY), 64, 10, [0, 1], seed=2, image_shape=DIGITS_SHAPE).record(x)
    shapes = [layer.shape for layer in recorded_layers(TINY, DIGITS_SHAPE, 10)]
    for summary, pool in (("channel_mean", np.mean), ("channel_max", np.max)):
        pooled = Ensemble(Network(architecture=TINY), 64, 10, [0, 1], seed=2, image_shape=DIGITS_SHAPE,
                          conv_recording=summary).record(x)
        for values, summed, shape in zip(full, pooled, shapes):
            if len(shape) == 3:
                expected = pool(values.reshape(2, len(x), -1, shape[-1]), axis=2)
                np.testing.assert_allclose(summed, expected, rtol=1e-6, atol=1e-7)
            else:
                assert np.array_equal(values, summed)


# ------------------------------------------------------------------------------------ whole runs
#: the tiny net's whole experiment, run through the command line
TINY_RUN = dict(name="tiny", dataset="digits", architecture=TINY, epochs=3, batch_size=256, learning_rate=0.003,
                n_runs=3, group_size=2, seed=1, record_schedule="every", save_activations=True,
                estimator=["binning(bin_size=0.07)", "kde_upper(variance=0.001)"], plots=["infoplane"])


@pytest.fixture(scope="module")
def tiny_toml(tmp_path_factory):
    path = tmp_path_factory.mktemp("conv") / "tiny.toml"
    path.write_text(Config.from_dict(TINY_RUN).to_toml())
    return path


@pytest.fixture(scope="module")
def serial_file(tiny_toml):
    out = tiny_toml.with_name("serial.nc")
    assert main(["run", str(tiny_toml), "-o", str(out), "-q", "--backend", "serial"]) == 0
    return out


def test_a_conv_run_on_digits_end_to_end(serial_file):
    ds = xr.open_dataset(serial_file)
    assert ds.sizes["layer"] == 6 and ds.sizes["run"] == 3 and ds.sizes["sample"] == 1797
    assert list(ds["layer_width"].values) == recorded_widths(TINY, DIGITS_SHAPE, 10)
    h_y = -np.sum((p := np.bincount(ds["y"].values) / ds.sizes["sample"]) * np.log2(p))
    for name, bound in (("I_XT", np.log2(1797)), ("I_TY", h_y)):
        values = ds[name].values
        assert np.isfinite(values).all() and (values >= -1e-9).all() and (values <= bound + 1e-9).all(), name
    # a fresh conv layer keeps the distinct digits apart at this bin size
    assert ds["I_XT"].sel(estimator="binning(bin_size=0.07)", layer=1).isel(epoch=0).values == \
        pytest.approx(np.log2(1797), abs=0.2)
    assert (serial_file.parent / "serial_infoplane.png").stat().st_size > 10_000  # the command draws it


def test_two_workers_write_the_numbers_of_a_serial_run(tiny_toml, serial_file, tmp_path):
    path = tmp_path / "joblib.nc"
    assert main(["run", str(tiny_toml), "-o", str(path), "-q", "--no-plots", "--backend", "joblib", "--jobs", "2"]) == 0
    one, two = xr.open_dataset(serial_file), xr.open_dataset(path)
    assert two.attrs["backend"].startswith("joblib (2 workers")
    for name in one.data_vars:
        assert np.array_equal(one[name].values, two[name].values, equal_nan=True), name


# ------------------------------------------------------------------------- wide layers, estimators
@pytest.mark.parametrize("spec", ["binning(bin_size=0.5)", "kde_upper(variance=0.1)", "kde_lower(variance=0.1)"])
def test_estimators_take_a_wide_conv_layer(spec):
    """A full conv layer of 24 x 24 x 8 = 4608 neurons (rows hashed by the binning kernel)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 300)
    acts = np.tanh(rng.normal(0, 1, (2, 300, 4608))).astype(np.float32)
    acts[:, 150:] = acts[:, :150]  # half the samples repeat the other half: 150 distinct patterns
    estimator = make_estimator(spec)
    blocks = LayerBlocks(acts, labels, 10)
    if estimator.range_scope is not None:
        blocks.ranges = np.stack([acts.min(axis=(1, 2)), acts.max(axis=(1, 2))], axis=1)
    values = estimator.estimate_blocks(blocks)
    assert values.shape == (2, 2) and np.isfinite(values).all()
    if spec.startswith("binning"):
        assert values[:, 0] == pytest.approx(np.log2(150), abs=1e-9)


@pytest.mark.mpi
def test_two_mpi_ranks_write_the_numbers_of_a_serial_run(tiny_toml, serial_file, tmp_path):
    if not MPIEXEC.exists():
        pytest.skip("mpiexec is not installed in this environment")
    path = tmp_path / "mpi.nc"
    done = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, "-m", "ibsim", "run", str(tiny_toml), "-o",
                           str(path), "-q", "--no-plots"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr
    one, two = xr.open_dataset(serial_file), xr.open_dataset(path)
    assert two.attrs["backend"].startswith("mpi (2 ranks")
    for name in one.data_vars:
        assert np.array_equal(one[name].values, two[name].values, equal_nan=True), name
