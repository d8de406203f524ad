"""Your own data: Dataset.from_arrays and file(...) datasets, their checks,
checksums, re-estimation and the backends (docs/extending.md)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ibsim import Experiment, Network, Recorder
from ibsim.config import Config
from ibsim.datasets import Dataset, arrays_sha256, check_arrays
from ibsim.errors import ConfigError, DataError
from ibsim.pipeline.reestimate import estimate_file
from ibsim.resultsfile.provenance import data_checksum
from ibsim.results import Results
from tests.conftest import REPO

MPIEXEC = Path(sys.executable).parent / "mpiexec"
TINY = dict(architecture=[4, 3], epochs=3, batch_size=32, activation_fn="tanh")
OPTIONS = dict(n_runs=2, group_size=1, plots=[], estimators=["binning(bin_size=0.1)"])


def toy(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def experiment(dataset, **changes) -> Experiment:
    options = {**OPTIONS, **changes}
    return Experiment(dataset=dataset, network=Network(**TINY), recorder=Recorder(save_activations=True), **options)


def same_data(a: Path, b: Path) -> None:
    one, two = xr.open_dataset(a), xr.open_dataset(b)
    assert set(one.data_vars) == set(two.data_vars)
    for name in one.data_vars:
        assert np.array_equal(one[name].values, two[name].values, equal_nan=True), name


@pytest.fixture(scope="module")
def serial_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("own") / "serial.nc"
    X, y = toy()
    experiment(Dataset.from_arrays(X, y, name="toy")).run(path, backend="serial", quiet=True).close()
    return path


# ------------------------------------------------------------------ from_arrays
def test_from_arrays_keeps_the_arrays_out_of_the_spec():
    X, y = toy()
    data = Dataset.from_arrays(X, y, name="toy")
    parts, _ = check_arrays(X, y)
    assert data.spec == f'arrays(name="toy", sha256="{arrays_sha256(parts)}")'
    assert data_checksum(data.spec) == f"sha256:{arrays_sha256(parts)}"
    exp = experiment(data)
    assert exp.dataset is data and exp.config.dataset == data.spec
    assert exp.config.replace(n_runs=1).components.dataset is data  # replace keeps the instance
    splits = data.splits(0, 0.75)
    assert (len(splits.training), len(splits.test)) == (90, 30)


def test_a_predefined_split_is_kept():
    X, y = toy(100)
    Xt, yt = toy(40, seed=1)
    splits = Dataset.from_arrays(X, y, X_test=Xt, y_test=yt).splits(0, 0.5)
    assert (len(splits.training), len(splits.test)) == (100, 40)
    assert np.array_equal(splits.test.X, Xt)


def test_string_labels_map_in_sorted_order_and_images_flatten():
    X = np.random.default_rng(0).random((12, 2, 3)).astype(np.float32)
    y = np.array(["dog", "cat", "dog", "cat", "emu", "emu"] * 2)
    splits = Dataset.from_arrays(X, y).splits(0, 0.9)
    assert splits.class_names == ("cat", "dog", "emu")
    assert splits.full_dataset.y.tolist() == [1, 0, 1, 0, 2, 2] * 2
    assert np.array_equal(splits.full_dataset.X, X.reshape(12, 6))


def test_images_declare_their_shape_for_conv_nets(tmp_path):
    """Inputs (n, H, W[, C]) give the dataset its image_shape (in the spec, so
    workers know it unread); flat inputs may declare one; a wrong one is refused."""
    rng = np.random.default_rng(0)
    images, y = rng.random((40, 6, 5)).astype(np.float32), np.arange(40) % 2
    conv = ["conv2d(filters=2, kernel_size=3)", "flatten", 3]
    dataset = Dataset.from_arrays(images, y)
    assert dataset.image_shape == (6, 5, 1) and dataset.splits(0, 0.8).image_shape == (6, 5, 1)
    assert Config.from_dict({"dataset": dataset, "architecture": conv}).components.dataset is dataset
    colour = Dataset.from_arrays(images.reshape(40, 6, 5, 1).repeat(3, axis=3), y)
    assert colour.image_shape == (6, 5, 3)
    flat = images.reshape(40, -1)
    assert "image_shape" not in Dataset.from_arrays(flat, y).spec  # flat data keep their spec
    with pytest.raises(ConfigError, match=r"declares no image shape.*image_shape=\[H, W, C\]"):
        Config.from_dict({"dataset": Dataset.from_arrays(flat, y), "architecture": conv})
    assert Dataset.from_arrays(flat, y, image_shape=(5, 6, 1)).image_shape == (5, 6, 1)
    with pytest.raises(DataError, match=r"30 features are not images of image_shape = \[4, 6, 1\]"):
        Dataset.from_arrays(flat, y, image_shape=(4, 6, 1))
    with pytest.raises(DataError, match=r"the images are 6x5x1, but image_shape = \[5, 6, 1\]"):
        Dataset.from_arrays(images, y, image_shape=(5, 6, 1))
    np.savez(tmp_path / "images.npz", X=images, y=y)
    config = Config.from_dict({"dataset": f'file(path="{tmp_path / "images.npz"}")', "architecture": conv})
    assert "image_shape=[6, 5, 1]" in config.dataset
    again = Config.from_dict(dict(config.raw()))  # as a worker builds it: from the spec, the file unread
    assert again.components.dataset._raw is None and again.components.dataset.image_shape == (6, 5, 1)


@pytest.mark.parametrize("change, message", [
    (lambda X, y: (X[:, :, None, None, None], y, {}), r"expected \(n, features\) or images"),
    (lambda X, y: (X, y[:, None], {}), r"y has shape \(120, 1\)"),
    (lambda X, y: (X, y[:-1], {}), "X has 120 samples but y has 119 labels"),
    (lambda X, y: (np.where(np.arange(120)[:, None] == 7, np.nan, X), y, {}), "NaN or infinite values.*sample 7"),
    (lambda X, y: (X, y + 0.5, {}), "not integers"),
    (lambda X, y: (X, y - 1, {}), "negative labels"),
    (lambda X, y: (X, y * 2, {}), r"without gaps; \[1\] missing from 0..2"),
    (lambda X, y: (X, np.zeros(120, int), {}), "at least two classes"),
    (lambda X, y: (X, np.r_[y[:-1] * 0, 1], {}), "class 1 has 1 sample"),
    (lambda X, y: (X[:0], y[:0], {}), "empty"),
    (lambda X, y: (X, y, {"X_test": X[:, :3], "y_test": y}), r"X_test has samples of shape \(3,\)"),
    (lambda X, y: (X, y, {"X_test": X}), "give X_test and y_test together"),
    (lambda X, y: (X.astype(object), y, {}), "object array"),
    (lambda X, y: (X, y.astype(object), {}), "object array"),
])
def test_bad_arrays_are_refused_in_one_line(change, message):
    X, y, extra = change(*toy())
    with pytest.raises(DataError, match=message) as error:
        Dataset.from_arrays(X, y, name="bad", **extra)
    assert "\n" not in str(error.value) and "Dataset.from_arrays('bad')" in str(error.value)


def test_a_split_without_two_samples_of_a_class_is_refused():
    X, y = toy()
    y = np.r_[y[:-2] * 0, 1, 1]  # class 1: two samples, both may land in the test split
    data = Dataset.from_arrays(X, y)
    with pytest.raises(DataError, match="training split has [01] sample.*larger train_fraction"):
        data.splits(0, 0.1)


def test_results_record_the_checksum_and_a_read_back_config_cannot_load_arrays(serial_file, tmp_path):
    X, y = toy()
    parts, _ = check_arrays(X, y)
    with Results.open(serial_file) as results:
        assert results.dataset.attrs["data_checksum"] == f"sha256:{arrays_sha256(parts)}"
        config = results.config  # builds
        with pytest.raises(DataError, match="arrays are not in this process.*Dataset.from_arrays"):
            config.components.dataset.load_raw(None)
    out = tmp_path / "estimated.nc"
    estimate_file(serial_file, "kde_lower(variance=0.1)", out, options=None, quiet=True)
    assert "kde_lower(variance=0.1)" in [str(e) for e in xr.open_dataset(out)["estimator"].values]


def test_joblib_writes_the_same_numbers(serial_file, tmp_path):
    X, y = toy()
    out = tmp_path / "joblib.nc"
    experiment(Dataset.from_arrays(X, y, name="toy")).run(out, backend="joblib", jobs=2, quiet=True).close()
    same_data(serial_file, out)


@pytest.mark.mpi
def test_mpi_writes_the_same_numbers(serial_file, tmp_path):
    if not MPIEXEC.exists():
        pytest.skip("mpiexec is not installed in this environment")
    script = tmp_path / "own.py"
    out = tmp_path / "mpi.nc"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from ibsim.datasets import Dataset\n"
        "from tests.test_own_data import experiment, toy\n"
        "X, y = toy()\n"
        f"experiment(Dataset.from_arrays(X, y, name='toy')).run({str(out)!r}, quiet=True)\n"
    )
    done = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=240, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr
    assert xr.open_dataset(out).attrs["backend"].startswith("mpi (2 ranks")
    same_data(serial_file, out)


# ------------------------------------------------------------------------ files
def write_config(folder: Path, dataset: str) -> Path:
    path = folder / "exp.toml"
    path.write_text(f"dataset = {dataset!r}\narchitecture = [4, 3]\nepochs = 3\nbatch_size = 32\n"
                    "n_runs = 2\ngroup_size = 1\nplots = []\n")
    return path


def test_an_npz_file_resolves_from_the_config_folder_and_equals_the_arrays(tmp_path, monkeypatch):
    X, y = toy()
    folder = tmp_path / "configs"
    folder.mkdir()
    np.savez(folder / "data.npz", X=X, y=y)
    monkeypatch.chdir(tmp_path)  # not the config's folder
    config = Config.from_toml(write_config(folder, 'file(path="data.npz")'))
    spec = Dataset.from_arrays(X, y).spec
    assert config.dataset == (f'file(path="{folder / "data.npz"}", label_column="label", '
                              f'sha256="{spec.split("sha256=")[1][1:-2]}")')
    assert data_checksum(config.dataset) == data_checksum(spec)
    again = Config.from_dict(config.raw())  # a stored config: the path is absolute, the sha256 checked
    assert np.array_equal(again.components.dataset.splits(0, 0.8).full_dataset.X, X)
    np.savez(folder / "data.npz", X=X + 1, y=y)
    with pytest.raises(DataError, match=r"data\.npz changed: its data's sha256"):
        Config.from_dict(config.raw()).components.dataset.splits(0, 0.8)


def test_file_datasets_run_bitwise_equal_with_joblib(tmp_path):
    X, y = toy()
    np.savez(tmp_path / "data.npz", X=X, y=y)
    config = Config.from_toml(write_config(tmp_path, 'file(path="data.npz")'))
    one, two = tmp_path / "serial.nc", tmp_path / "joblib.nc"
    Experiment(config=config).run(one, backend="serial", quiet=True).close()
    Experiment(config=config).run(two, backend="joblib", jobs=2, quiet=True).close()
    same_data(one, two)


def test_a_csv_file_with_string_labels(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,label,b\n1,dog,2\n3,cat,4\n5,dog,6\n7,cat,8\n0.5,emu,1\n2,emu,1\n")
    data = Config.from_dict({"dataset": f'file(path="{path}")'}).components.dataset
    raw = data.load_raw(None)
    assert raw.class_names == ("cat", "dog", "emu")
    assert raw.y.tolist() == [1, 0, 1, 0, 2, 2]
    assert raw.X.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8], [0.5, 1], [2, 1]]
    ints = tmp_path / "ints.csv"
    ints.write_text("x,y,class\n1,2,1\n3,4,0\n5,6,1\n7,8,0\n")
    data = Config.from_dict({"dataset": f'file(path="{ints}", label_column="class")'}).components.dataset
    assert data.load_raw(None).y.tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize("name, content, message", [
    ("data.txt", "1,2\n", r"data\.txt is neither \.npz nor \.csv"),
    ("absent.npz", None, r"absent\.npz does not exist"),
    ("junk.npz", "not a zip", r"junk\.npz is not a readable \.npz"),
    ("nox.npz", {"y": np.zeros(4)}, r"lacks the array\(s\) X; it holds y"),
    ("obj.npz", {"X": np.array([[1], ["a"]], dtype=object), "y": np.zeros(2)}, "object arrays are not read"),
    ("nan.npz", {"X": np.full((4, 2), np.inf), "y": np.r_[0, 0, 1, 1]}, r"nan\.npz: X holds NaN or infinite"),
    ("nolabel.csv", "a,b\n1,2\n", r"no column 'label' \(label_column\)"),
    ("text.csv", "a,label\nx,1\ny,0\n", "a feature is not a number"),
    ("short.csv", "a,b,label\n1,0\n", "line 2: 2 values for 3 columns"),
    ("empty.csv", "", r"empty\.csv is empty"),
])
def test_bad_files_are_refused_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    with pytest.raises(DataError, match=message) as error:
        Config.from_dict({"dataset": f'file(path="{path}")'})
    assert "\n" not in str(error.value) and "config key 'dataset'" in str(error.value)


def test_a_file_dataset_needs_a_path():
    with pytest.raises(ConfigError, match="needs a path"):
        Config.from_dict({"dataset": "file"})
