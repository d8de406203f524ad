"""Datasets and their train/test/full splits."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ibsim.component import Component
from ibsim.errors import DataError
from ibsim.registry import Registry
from ibsim.seeding import data_rng



@dataclass(frozen=True)
class Split:
    """One split: inputs ``X`` (n, features) float32, labels ``y`` (n,) int64,
    and ``indices`` of its samples in the full dataset."""

    X: np.ndarray
    y: np.ndarray
    indices: np.ndarray
    n_classes: int

    @property
    def Y(self) -> np.ndarray:  # noqa: N802 - the seed's name for one-hot labels
        """One-hot labels (n, classes) float32."""
        return np.eye(self.n_classes, dtype=np.float32)[self.y]

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DataSplits:
    """The training, test and full splits of a loaded dataset."""

    name: str
    training: Split
    test: Split
    full_dataset: Split
    n_classes: int
    class_names: tuple[str, ...]
    provenance: str
    #: (H, W, C) of the images the rows of ``X`` are (row-major, channel last), or None
    image_shape: tuple[int, int, int] | None = None

    def split(self, name: str) -> Split:
        """The split called ``name`` (training, test or full_dataset)."""
        return getattr(self, name)


@dataclass(frozen=True)
class RawData:
    """What a dataset loader returns: all samples, labels, and an optional
    predefined training mask (MNIST's 60 000 / 10 000)."""

    X: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    train_mask: np.ndarray | None = None


class Dataset(Component):
    """A labelled dataset. Subclasses implement :meth:`load_raw`.

    ``provenance`` says where the data come from; it is stored in results files.
    """

    kind = "dataset"
    provenance: ClassVar[str] = ""
    #: (height, width, channels) of each sample when the samples are images,
    #: flattened row-major with the channel last into the rows of ``X`` (the
    #: inputs stay flat everywhere; only a network with conv or pooling layers
    #: sees them as images). None: the samples are vectors.
    image_shape: ClassVar[tuple[int, int, int] | None] = None

    @classmethod
    def from_arrays(cls, X: Any, y: Any, *, X_test: Any = None, y_test: Any = None,
                    name: str | None = None, image_shape: tuple[int, int, int] | None = None) -> "Dataset":
        """A dataset of in-memory arrays (the ``arrays`` dataset of :mod:`ibsim.datasets.own`).

        The arrays travel with the returned instance (to joblib workers with the
        config); its spec, ``arrays(name=..., sha256=...)``, names them by
        checksum only, so a config read back from a results file builds but
        cannot load them. Under MPI every rank runs your script and builds the
        same arrays.

        Args:
            X: Inputs (n, features), or images (n, H, W[, C]) flattened row-major.
            y: Labels (n,): integers 0..k-1 without gaps, or strings (mapped to
                0..k-1 in sorted order, the strings becoming the class names).
            X_test: A predefined test split (``train_fraction`` then does not apply).
            y_test: Its labels, given together with ``X_test``.
            name: A name shown in the spec and results files (default "arrays").
            image_shape: (H, W, C) of the images flat inputs are, for conv
                and pooling layers (inputs (n, H, W[, C]) declare it themselves).

        Raises:
            DataError: Wrong shapes, NaN or inf inputs, labels that are not
                class indices, a class with fewer than two samples, object arrays.
        """
        return DATASETS.get("arrays").of(X, y, X_test=X_test, y_test=y_test, name=name, image_shape=image_shape)

    @classmethod
    def resolve_params(cls, params: dict[str, Any], folder: Path | None) -> dict[str, Any]:
        """The parameters of a config's spec, with anything relative to the config
        file (``folder``, None when the config came from no file) resolved.

        Datasets that read files of the user's override it (``file`` resolves a
        relative ``path``); the others take ``params`` as they are.
        """
        return params

    def load_raw(self, data_dir: Path | None) -> RawData:
        """Load all samples. ``data_dir`` is where downloadable files are cached."""
        raise NotImplementedError

    def splits(self, seed: int, train_fraction: float, data_dir: Path | None = None) -> DataSplits:
        """Load the data and split it.

        Datasets with a predefined split (MNIST) keep it; the others are split at
        random by the experiment's data stream: ``round(train_fraction * N)``
        training samples. The full split keeps the dataset's own order.
        """
        raw = self.load_raw(data_dir)
        X = np.ascontiguousarray(raw.X, dtype=np.float32)
        y = np.asarray(raw.y, dtype=np.int64)
        if X.ndim != 2 or len(X) != len(y) or len(y) == 0:
            raise DataError(f"dataset '{self.name}': expected X (n, features) and y (n,), got {X.shape}, {y.shape}")
        if self.image_shape is not None and int(np.prod(self.image_shape)) != X.shape[1]:
            raise DataError(f"dataset '{self.name}': its samples have {X.shape[1]} features, not the "
                            f"{'x'.join(map(str, self.image_shape))} of its image_shape")
        n_classes = len(raw.class_names)
        if raw.train_mask is not None:
            train_idx = np.flatnonzero(raw.train_mask)
            test_idx = np.flatnonzero(~raw.train_mask)
        else:
            n_train = int(round(train_fraction * len(y)))
            if not 0 < n_train < len(y):
                raise DataError(
                    f"dataset '{self.name}' has {len(y)} samples: train_fraction {train_fraction} "
                    "leaves an empty training or test split"
                )
            order = data_rng(seed).permutation(len(y))
            train_idx, test_idx = np.sort(order[:n_train]), np.sort(order[n_train:])
        full_idx = np.arange(len(y))

        def make(idx: np.ndarray) -> Split:
            return Split(X[idx], y[idx], idx, n_classes)

        return DataSplits(
            name=self.spec,
            training=make(train_idx),
            test=make(test_idx),
            full_dataset=make(full_idx),
            n_classes=n_classes,
            class_names=tuple(raw.class_names),
            provenance=self.provenance,
            image_shape=self.image_shape,
        )


DATASETS: Registry[type[Dataset]] = Registry("dataset", "ibsim.datasets")
