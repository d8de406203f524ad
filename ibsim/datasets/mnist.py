"""MNIST and Fashion-MNIST: four IDX files each, cached in the data directory.

Pixels are scaled to [0, 1] and each image flattened to 784 features. With
``subset = "all"`` the canonical 60 000 / 10 000 split is kept (``train_fraction``
does not apply); ``subset = "test"`` takes the 10 000 test images alone, split at
random by ``train_fraction`` (small, and needs only the two test files). The
files are downloaded once (checksums verified) into ``<data dir>/<dataset>/``;
offline, a missing file is a clear error.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ibsim.datasets.base import DATASETS, Dataset, RawData
from ibsim.datasets.download import DataFile, fetch
from ibsim.datasets.files import data_dir
from ibsim.datasets.idx import load_idx_images, read_idx
from ibsim.params import Options, Param

MNIST_SOURCES = (
    "https://ossci-datasets.s3.amazonaws.com/mnist",
    "https://storage.googleapis.com/cvdf-datasets/mnist",
    "http://yann.lecun.com/exdb/mnist",
)
FASHION_SOURCES = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion",
)

#: sha256 where known (shared/datasets/README.md); the training images carry the
#: sha384 published with the canonical files (it matches the other three here).
MNIST_FILES = {
    "train_images": DataFile("train-images-idx3-ubyte.gz", (
        ("sha384", "f40eb179f7c3d2637e789663bde56d444a23e4a0a14477a9e6ed88bc39c8ad6eaff68056c0cd9bb60daf0062b70dc8ee"),
    ), MNIST_SOURCES),
    "train_labels": DataFile("train-labels-idx1-ubyte.gz", (
        ("sha256", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    ), MNIST_SOURCES),
    "test_images": DataFile("t10k-images-idx3-ubyte.gz", (
        ("sha256", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    ), MNIST_SOURCES),
    "test_labels": DataFile("t10k-labels-idx1-ubyte.gz", (
        ("sha256", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ), MNIST_SOURCES),
}

#: the MD5 sums Zalando publishes with Fashion-MNIST
FASHION_FILES = {
    "train_images": DataFile("train-images-idx3-ubyte.gz", (("md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),),
                             FASHION_SOURCES),
    "train_labels": DataFile("train-labels-idx1-ubyte.gz", (("md5", "25c81989df183df01b3e8a0aad5dffbe"),),
                             FASHION_SOURCES),
    "test_images": DataFile("t10k-images-idx3-ubyte.gz", (("md5", "bef4ecab320f06d8554ea6380940ec79"),),
                            FASHION_SOURCES),
    "test_labels": DataFile("t10k-labels-idx1-ubyte.gz", (("md5", "bb300cfdad3c16e7a12a480ee83cd310"),),
                            FASHION_SOURCES),
}

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot")


SUBSET = Param(Options(["all", "test"]), "all",
               "all: the canonical 60 000 / 10 000 split; test: the 10 000 test images, split by train_fraction")


def load_idx_dataset(files: dict[str, DataFile], folder: Path, class_names: tuple[str, ...],
                     subset: str) -> RawData:
    """Images and labels of an MNIST-format dataset (``subset`` "all" or "test")."""
    parts = ("test",) if subset == "test" else ("train", "test")
    images, labels = [], []
    for part in parts:
        images.append(load_idx_images(fetch(files[f"{part}_images"], folder)).reshape(-1, 784))
        labels.append(read_idx(fetch(files[f"{part}_labels"], folder)))
    X = np.concatenate(images).astype(np.float32) / 255.0
    y = np.concatenate(labels).astype(np.int64)
    if subset == "test":
        return RawData(X, y, class_names)
    mask = np.zeros(len(y), dtype=bool)
    mask[: len(labels[0])] = True
    return RawData(X, y, class_names, train_mask=mask)


@DATASETS.register("mnist", "datasets.mnist")
class MNIST(Dataset):
    """MNIST handwritten digits (LeCun, Cortes & Burges): 60 000 + 10 000 images."""

    name = "mnist"
    image_shape = (28, 28, 1)
    provenance = "MNIST (Y. LeCun, C. Cortes, C. Burges), " + MNIST_SOURCES[0]
    PARAMS = {"subset": SUBSET}

    def load_raw(self, folder: Path | None) -> RawData:
        return load_idx_dataset(MNIST_FILES, data_dir(folder) / "mnist", tuple(str(d) for d in range(10)),
                                self.subset)


@DATASETS.register("fashion_mnist", "datasets.fashion_mnist")
class FashionMNIST(Dataset):
    """Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): Zalando's article images, MNIST's format."""

    name = "fashion_mnist"
    image_shape = (28, 28, 1)
    provenance = "Fashion-MNIST (Zalando Research, MIT licence), " + FASHION_SOURCES[0]
    PARAMS = {"subset": SUBSET}

    def load_raw(self, folder: Path | None) -> RawData:
        return load_idx_dataset(FASHION_FILES, data_dir(folder) / "fashion_mnist", FASHION_CLASSES, self.subset)
