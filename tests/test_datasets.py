"""Datasets: offline paths, downloads into the data directory, clear errors."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from ibsim import ConfigError, DataError
from ibsim.datasets import DATASETS, Digits, FashionMNIST, MNIST, Mushroom
from ibsim.datasets.download import DataFile, fetch
from ibsim.datasets.files import data_dir
from ibsim.datasets.idx import read_idx
from ibsim.datasets.mnist import MNIST_FILES
from ibsim.datasets.mushroom import MUSHROOM_FILE


def test_names_of_the_seed_are_registered():
    for name in ("harmonics", "mnist", "fashion_mnist", "mushroom", "digits",
                 "datasets.harmonics", "datasets.mnist", "datasets.mushroom", "datasets.fashion_mnist"):
        assert name in DATASETS


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown dataset 'cifar10'; valid: .*mnist"):
        DATASETS.get("cifar10")


def test_data_dir_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("IBSIM_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    assert data_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("IBSIM_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache" / "ibsim" / "data"


def test_mnist_test_images_from_the_shared_folder(shared_data):
    splits = MNIST(subset="test").splits(seed=0, train_fraction=0.8, data_dir=shared_data)
    assert splits.full_dataset.X.shape == (10000, 784)
    assert splits.full_dataset.X.min() == 0.0 and splits.full_dataset.X.max() == 1.0
    assert len(splits.training) == 8000 and splits.n_classes == 10
    assert np.bincount(splits.full_dataset.y).min() > 800


def test_mnist_with_the_training_images(shared_data):
    if not (shared_data / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("the MNIST training images are not in the shared folder (test split only offline)")
    splits = MNIST().splits(seed=0, train_fraction=0.8, data_dir=shared_data)
    assert len(splits.training) == 60000 and len(splits.test) == 10000


def test_missing_file_offline_names_file_folder_and_source(tmp_path, monkeypatch):
    monkeypatch.setenv("IBSIM_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        FashionMNIST().splits(0, 0.8, tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path / "fashion_mnist") in message
    assert "fashion-mnist" in message  # the download source


def test_download_from_a_mirror_is_verified_and_cached(shared_data, tmp_path):
    mirror = DataFile(MNIST_FILES["test_labels"].name, MNIST_FILES["test_labels"].checksums,
                      (f"file://{shared_data / 'mnist'}",))
    path = fetch(mirror, tmp_path / "cache")
    assert path.read_bytes() == (shared_data / "mnist" / mirror.name).read_bytes()
    assert read_idx(path).shape == (10000,)
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]  # no partial files
    assert fetch(mirror, tmp_path / "cache") == path  # second time: from the cache


def test_a_download_with_the_wrong_checksum_is_discarded(shared_data, tmp_path):
    wrong = DataFile(MNIST_FILES["test_labels"].name, (("sha256", "0" * 64),), (f"file://{shared_data / 'mnist'}",))
    with pytest.raises(DataError, match="could not be downloaded.*does not match"):
        fetch(wrong, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_cached_file_is_refused(tmp_path, shared_data):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="corrupt"):
        fetch(MNIST_FILES["test_labels"], folder)


def test_mushroom_from_the_shared_folder(shared_data):
    splits = Mushroom().splits(0, 0.8, shared_data)
    assert splits.full_dataset.X.shape == (8124, 117)
    assert set(np.unique(splits.full_dataset.X)) == {0.0, 1.0}
    assert splits.class_names == ("edible", "poisonous")
    assert splits.full_dataset.y.mean() == pytest.approx(3916 / 8124)


def test_mushroom_download_source_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("IBSIM_OFFLINE", "1")
    with pytest.raises(DataError, match="deep-bottleneck"):
        Mushroom().splits(0, 0.8, tmp_path)
    assert MUSHROOM_FILE.checksums[0][0] == "sha256"


def test_digits_are_always_offline():
    splits = Digits().splits(0, 0.8)
    assert splits.full_dataset.X.shape == (1797, 64) and splits.n_classes == 10
    assert 0.0 <= splits.full_dataset.X.min() and splits.full_dataset.X.max() <= 1.0


def test_mnist_experiment_end_to_end(shared_data, tmp_path):
    from ibsim import Experiment
    from tests.conftest import CONFIGS

    shutil.copytree(shared_data / "mnist", tmp_path / "mnist")
    results = Experiment.from_toml(
        CONFIGS / "smoke.toml",
        ['dataset="mnist(subset=\\"test\\")"', "architecture=[8]", "epochs=1", "n_runs=1",
         "calculate_mi_for=\"test\"", "save_activations=false"],
    ).run(data_dir=tmp_path)
    assert results.dataset.sizes["sample"] == 2000 and results.dataset.attrs["n_classes"] == 10
