"""Your own data: in-memory arrays (``Dataset.from_arrays``) and ``.npz``/``.csv`` files.

Both are checked by :func:`check_arrays` (one owner of every data check) and
identified by :func:`arrays_sha256`, the checksum a results file records
(``data_checksum = "sha256:<hex>"``): the same arrays give the same checksum
whether they came from memory or from a file.

- ``arrays(name=..., sha256=...)``: the arrays travel with the instance (and
  with a config pickled to joblib workers), never in the spec. Built from a
  spec alone (a config read back from a results file) the component exists,
  but loading its data raises :class:`~ibsim.errors.DataError`.
- ``file(path=..., label_column=..., sha256=...)``: an ``.npz`` with arrays
  ``X``, ``y`` and optionally ``X_test``, ``y_test`` (read with
  ``allow_pickle=False``), or a ``.csv`` with a header row, numeric feature
  columns and one label column. The canonical spec holds the absolute path and
  the data's sha256; a file that changed since is refused.

Labels: integers 0..k-1 without gaps, or strings (CSV text, NumPy ``str``
arrays), which map to 0..k-1 in sorted order (``"cat" < "dog"``), the strings
becoming the class names. Image-shaped inputs ``(n, H, W[, C])`` are flattened
row-major to ``(n, H*W*C)`` features, as MNIST's are; the checksum is taken of
the shape given. Their shape becomes the dataset's ``image_shape`` (a
parameter of both specs, filled in when the data are read, so that workers
and ranks know it without reading): conv and pooling layers see the rows as
those images. Flat inputs may declare it (``image_shape = [28, 28, 1]``).
"""
from __future__ import annotations

import csv
import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ibsim.datasets.base import DATASETS, Dataset, DataSplits, RawData
from ibsim.errors import ConfigError, DataError
from ibsim.params import AnyOf, Constant, Param, Predicate, String

#: Fewest samples of each class in the given data and in a training split.
MIN_PER_CLASS = 2
#: The file suffixes a ``file`` dataset reads.
FILE_SUFFIXES = (".npz", ".csv")
#: The arrays of an ``.npz`` file (the last two optional).
NPZ_KEYS = ("X", "y", "X_test", "y_test")


def _labels(y: np.ndarray, where: str, what: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Integer labels of one label array, and class names when they were strings."""
    if y.dtype.kind in "US":
        names, codes = np.unique(y, return_inverse=True)
        return codes.reshape(-1).astype(np.int64), tuple(str(n) for n in names)
    if y.dtype.kind == "b":
        return y.astype(np.int64), None
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{where}: {what} holds labels that are not integers; give class indices 0..k-1 or "
                            "class names as strings")
    elif y.dtype.kind not in "iu":
        raise DataError(f"{where}: {what} has dtype {y.dtype}; labels must be integers 0..k-1 or strings")
    if y.size and y.min() < 0:
        raise DataError(f"{where}: {what} holds negative labels ({int(y.min())}); labels must be 0..k-1")
    return y.astype(np.int64), None


def _inputs(X: Any, where: str, what: str) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype.kind == "O":
        raise DataError(f"{where}: {what} is an object array; give numbers (e.g. X.astype(np.float32))")
    if X.dtype.kind not in "biuf":
        raise DataError(f"{where}: {what} has dtype {X.dtype}; inputs must be numbers")
    if X.ndim not in (2, 3, 4):
        raise DataError(f"{where}: {what} has shape {X.shape}; expected (n, features) or images (n, H, W[, C])")
    if X.shape[0] == 0 or X[0].size == 0:
        raise DataError(f"{where}: {what} is empty (shape {X.shape})")
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not np.all(np.isfinite(X)):
        raise DataError(f"{where}: {what} holds NaN or infinite values (e.g. at sample "
                        f"{int(np.flatnonzero(~np.isfinite(X).reshape(len(X), -1).all(axis=1))[0])})")
    return X


def _one_split(X: Any, y: Any, where: str, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
    X = _inputs(X, where, f"X{suffix}")
    y = np.asarray(y)
    if y.dtype.kind == "O":
        raise DataError(f"{where}: y{suffix} is an object array; give integers or strings (e.g. y.astype(str))")
    if y.ndim != 1:
        raise DataError(f"{where}: y{suffix} has shape {y.shape}; expected one label per sample (n,)")
    if len(y) != len(X):
        raise DataError(f"{where}: X{suffix} has {len(X)} samples but y{suffix} has {len(y)} labels")
    return X, y


def check_arrays(X: Any, y: Any, X_test: Any = None, y_test: Any = None, where: str = "arrays"
                 ) -> tuple[dict[str, np.ndarray], RawData]:
    """Validate user data and turn it into the arrays to hash and the data to train on.

    Args:
        X: Inputs (n, features) or images (n, H, W[, C]), finite numbers.
        y: Labels (n,): integers 0..k-1 without gaps, or strings (mapped in sorted order).
        X_test: Optional predefined test inputs (same features as ``X``).
        y_test: Their labels (given together with ``X_test``).
        where: What to name in error messages (the file or the argument).

    Returns:
        The checked arrays by name (float32 inputs in their given shape, int64
        labels), which :func:`arrays_sha256` hashes, and the :class:`RawData`
        (inputs flattened; a train mask when a test split is given).

    Raises:
        DataError: One line naming ``where`` and the problem.
    """
    if (X_test is None) != (y_test is None):
        raise DataError(f"{where}: give X_test and y_test together, or neither")
    X, y_given = _one_split(X, y, where)
    parts = {"X": X}
    labels = [y_given]
    if X_test is not None:
        X_test, y_test_given = _one_split(X_test, y_test, where, "_test")
        if X_test.shape[1:] != X.shape[1:]:
            raise DataError(f"{where}: X_test has samples of shape {X_test.shape[1:]}, X of {X.shape[1:]}")
        parts["X_test"] = X_test
        labels.append(y_test_given)
    strings = [lab.dtype.kind in "US" for lab in labels]
    if any(strings) and not all(strings):
        raise DataError(f"{where}: y and y_test must both be integers or both be strings")
    joined, names = _labels(np.concatenate(labels), where, "y" if len(labels) == 1 else "y and y_test")
    present = np.unique(joined)
    k = int(present[-1]) + 1
    if len(present) != k:
        missing = sorted(set(range(k)) - set(present.tolist()))
        raise DataError(f"{where}: labels must be 0..k-1 without gaps; {missing[:5]} missing from 0..{k - 1} "
                        "(relabel, e.g. with np.unique(y, return_inverse=True))")
    if k < 2:
        raise DataError(f"{where}: all samples have one label; at least two classes are needed")
    y = joined[: len(y_given)]
    counts = np.bincount(y, minlength=k)
    if counts.min() < MIN_PER_CLASS:
        few = int(np.argmin(counts))
        raise DataError(f"{where}: class {names[few] if names else few} has {int(counts[few])} sample(s) in "
                        f"{'X' if X_test is None else 'the training data'}; each class needs at least "
                        f"{MIN_PER_CLASS}")
    parts["y"] = y
    class_names = names or tuple(str(c) for c in range(k))
    if X_test is None:
        return parts, RawData(X.reshape(len(X), -1), y, class_names)
    parts["y_test"] = joined[len(y_given):]
    mask = np.zeros(len(joined), dtype=bool)
    mask[: len(y)] = True
    inputs = np.concatenate([X, X_test]).reshape(len(joined), -1)
    return parts, RawData(inputs, joined, class_names, train_mask=mask)


def arrays_sha256(parts: Mapping[str, np.ndarray]) -> str:
    """The sha256 of checked arrays: each one's name, dtype, shape and bytes, in order."""
    digest = hashlib.sha256()
    for name, array in parts.items():
        array = np.ascontiguousarray(array)
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _check_sha256(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError
    return value


SHA256 = Param(AnyOf(Constant(None), Predicate(_check_sha256, "a sha256 (64 lowercase hex characters)")), None,
               "the sha256 of the data (filled in when the dataset is built)")


def _check_image_shape(value: Any) -> list[int]:
    if not (isinstance(value, (list, tuple)) and len(value) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError
    return list(value)


IMAGE_SHAPE = Param(AnyOf(Constant(None), Predicate(_check_image_shape, "[height, width, channels], positive integers")),
                    None, "the (H, W, C) of the images the samples are (filled in from inputs (n, H, W[, C]); "
                          "flat inputs may declare it); conv and pooling layers need it")


def images_shape(X: np.ndarray) -> tuple[int, int, int] | None:
    """The (H, W, C) of image-shaped inputs (n, H, W[, C]) (C = 1 for (n, H, W)), None for flat ones."""
    if X.ndim == 4:
        return tuple(int(v) for v in X.shape[1:])  # type: ignore[return-value]
    if X.ndim == 3:
        return int(X.shape[1]), int(X.shape[2]), 1
    return None


class OwnData(Dataset):
    """A dataset of the user's arrays: checked by :func:`check_arrays`, and
    refused when a random split leaves a class with fewer than
    :data:`MIN_PER_CLASS` training samples. The data, once read, are kept in
    ``_raw`` (and travel with the instance when it is pickled)."""

    _raw: RawData | None = None

    @property
    def image_shape(self) -> tuple[int, int, int] | None:  # type: ignore[override]
        """The ``image_shape`` parameter: the images' (H, W, C), or None."""
        shape = self._params["image_shape"]
        return None if shape is None else tuple(shape)  # type: ignore[return-value]

    def _take_image_shape(self, parts: Mapping[str, np.ndarray], where: str) -> None:
        """Fill in ``image_shape`` from image-shaped inputs, or check the declared one against them."""
        found, declared = images_shape(parts["X"]), self._params["image_shape"]
        if declared is None:
            self._params["image_shape"] = None if found is None else list(found)
        elif found is not None and tuple(declared) != found:
            raise DataError(f"{where}: the images are {'x'.join(map(str, found))}, but image_shape = {declared}")
        elif int(np.prod(declared)) != parts["X"][0].size:
            raise DataError(f"{where}: samples of {parts['X'][0].size} features are not images of image_shape = "
                            f"{declared} ({int(np.prod(declared))} values)")

    def splits(self, seed: int, train_fraction: float, data_dir: Path | None = None) -> DataSplits:
        """The splits of :meth:`Dataset.splits`, checked for samples of every class.

        Raises:
            DataError: A class has too few training samples.
        """
        splits = super().splits(seed, train_fraction, data_dir)
        counts = np.bincount(splits.training.y, minlength=splits.n_classes)
        if counts.min() < MIN_PER_CLASS:
            few = int(np.argmin(counts))
            raise DataError(
                f"dataset {self.spec}: the training split has {int(counts[few])} sample(s) of class "
                f"{splits.class_names[few]} (train_fraction = {train_fraction}); each class needs at least "
                f"{MIN_PER_CLASS}: give more samples or a larger train_fraction"
            )
        return splits


@DATASETS.register("arrays")
class ArraysDataset(OwnData):
    """Arrays given in Python (:meth:`Dataset.from_arrays`); the spec names them and their sha256."""

    name = "arrays"
    provenance = "arrays given in Python (Dataset.from_arrays); identified by their sha256"
    PARAMS = {
        "name": Param(String(), "arrays", "a name for the arrays, shown in results files"),
        "sha256": SHA256,
        "image_shape": IMAGE_SHAPE,
    }

    @classmethod
    def of(cls, X: Any, y: Any, *, X_test: Any = None, y_test: Any = None,
           name: str | None = None, image_shape: tuple[int, int, int] | None = None) -> "ArraysDataset":
        """The dataset of ``X``, ``y`` (and a predefined test split); see :meth:`Dataset.from_arrays`."""
        where = f"Dataset.from_arrays({name or 'arrays'!r})"
        parts, raw = check_arrays(X, y, X_test, y_test, where=where)
        dataset = cls(name=name or "arrays", sha256=arrays_sha256(parts),
                      image_shape=None if image_shape is None else list(image_shape))
        dataset._take_image_shape(parts, where)
        dataset._raw = raw
        return dataset

    def load_raw(self, data_dir: Path | None) -> RawData:
        if self._raw is None:
            raise DataError(
                f"dataset {self.spec}: its arrays are not in this process (a spec, e.g. a config read back from "
                "a results file, names them by checksum only); build the experiment with "
                "Dataset.from_arrays(X, y) to run it again"
            )
        return self._raw


def read_data_file(path: Path, label_column: str) -> tuple[dict[str, np.ndarray], RawData]:
    """Read and check an ``.npz`` or ``.csv`` data file (see the module's docstring).

    Raises:
        DataError: Naming the file: missing, not npz/csv, unreadable, a missing
            array or column, or data :func:`check_arrays` refuses.
    """
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise DataError(f"data file {path} is neither .npz nor .csv")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    if path.suffix.lower() == ".npz":
        if not zipfile.is_zipfile(path):  # np.load would take it for a pickle
            raise DataError(f"data file {path} is not a readable .npz (not a zip archive of .npy arrays)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except ValueError as error:  # object arrays need pickle: refused
            raise DataError(f"data file {path}: {error} (object arrays are not read; save numbers or strings)") \
                from None
        except (OSError, zipfile.BadZipFile, EOFError) as error:
            raise DataError(f"data file {path} is not a readable .npz: {error}") from None
        missing = [key for key in ("X", "y") if key not in arrays]
        if missing:
            raise DataError(f"data file {path} lacks the array(s) {', '.join(missing)}; it holds "
                            f"{', '.join(arrays) or 'none'} (expected {', '.join(NPZ_KEYS)})")
        return check_arrays(arrays["X"], arrays["y"], arrays.get("X_test"), arrays.get("y_test"), where=str(path))
    return _read_csv(path, label_column)


def _read_csv(path: Path, label_column: str) -> tuple[dict[str, np.ndarray], RawData]:
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"data file {path} cannot be read as CSV: {error}") from None
    rows = [row for row in rows if row]
    if not rows:
        raise DataError(f"data file {path} is empty")
    header = [cell.strip() for cell in rows[0]]
    if label_column not in header:
        raise DataError(f"data file {path} has no column {label_column!r} (label_column); columns: "
                        f"{', '.join(header[:10])}")
    if len(rows) < 2:
        raise DataError(f"data file {path} has a header but no samples")
    column = header.index(label_column)
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"data file {path}, line {number}: {len(row)} values for {len(header)} columns")
    labels = np.array([row[column].strip() for row in rows[1:]])
    try:
        X = np.array([[float(v) for i, v in enumerate(row) if i != column] for row in rows[1:]], dtype=np.float64)
    except ValueError as error:
        raise DataError(f"data file {path}: a feature is not a number ({error}); features must be numeric") \
            from None
    if X.shape[1] == 0:
        raise DataError(f"data file {path} has no feature columns besides {label_column!r}")
    try:  # labels written as integers stay integers; any other text is a class name
        y: np.ndarray = np.array([int(v) for v in labels], dtype=np.int64)
    except ValueError:
        y = labels
    return check_arrays(X, y, where=str(path))


@DATASETS.register("file")
class FileDataset(OwnData):
    """An ``.npz`` or ``.csv`` file of your own: ``file(path="data.npz")``.

    A relative ``path`` is taken from the config file's folder (for a config
    read from a file, see :meth:`resolve_params`), else from the working
    directory; the canonical spec holds the absolute path and the sha256 of the
    data, so workers find the file and a changed file is refused.
    """

    name = "file"
    provenance = "a data file of the user's (npz or csv); identified by the sha256 of its arrays"
    PARAMS = {
        "path": Param(String(), None, "the .npz (arrays X, y[, X_test, y_test]) or .csv file"),
        "label_column": Param(String(), "label", "the CSV column holding the labels (CSV only)"),
        "sha256": SHA256,
        "image_shape": IMAGE_SHAPE,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self._params["path"] is None:
            raise ConfigError("dataset 'file' needs a path, e.g. file(path=\"data.npz\")")
        path = Path(self._params["path"]).expanduser()
        self._params["path"] = str(path if path.is_absolute() else Path(os.path.abspath(path)))
        if self._params["sha256"] is None:  # read now: the spec records what was read
            self._raw = self._read()

    @classmethod
    def resolve_params(cls, params: dict[str, Any], folder: Path | None) -> dict[str, Any]:
        """A relative ``path`` taken from ``folder`` (the config file's)."""
        path = params.get("path")
        if isinstance(path, str) and folder is not None and not Path(path).expanduser().is_absolute():
            return {**params, "path": str(folder / path)}
        return params

    def _read(self) -> RawData:
        path = Path(self._params["path"])
        parts, raw = read_data_file(path, self._params["label_column"])
        self._take_image_shape(parts, f"data file {path}")
        digest = arrays_sha256(parts)
        if self._params["sha256"] is None:
            self._params["sha256"] = digest
        elif digest != self._params["sha256"]:
            raise DataError(f"data file {path} changed: its data's sha256 is {digest}, the config's "
                            f"{self._params['sha256']}")
        return raw

    def load_raw(self, data_dir: Path | None) -> RawData:
        if self._raw is None:
            self._raw = self._read()
        return self._raw
