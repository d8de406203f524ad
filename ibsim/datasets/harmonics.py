"""Tishby's harmonics data set (Shwartz-Ziv & Tishby 2017).

All 4096 binary patterns of 12 inputs with a binary label; the file
``var_u.mat`` ships inside the package and is verified by sha256 at load.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import scipy.io

from ibsim.datasets.base import DATASETS, Dataset, RawData
from ibsim.datasets.checksums import verify_sha256
from ibsim.errors import DataError

VAR_U_SHA256 = "0ba9551878a855396a8de0cbaae620788ede1e7b1eb2b8373bbe017d5ea02036"
VAR_U_SOURCE = "https://github.com/ravidziv/IDNNs/blob/master/data/var_u.mat"


def var_u_path() -> Path:
    """Path of the packaged ``var_u.mat``."""
    return Path(str(resources.files("ibsim.datasets") / "data" / "var_u.mat"))


def load_var_u(path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read and verify ``var_u.mat``: ``F`` (4096, 12) and labels ``y`` (4096,).

    Raises:
        DataError: If the file is missing, corrupt or lacks the ``F``/``y`` arrays.
    """
    path = Path(path) if path is not None else var_u_path()
    if not path.is_file():
        raise DataError(f"harmonics data file {path} is missing; it ships with ibsim (source: {VAR_U_SOURCE})")
    verify_sha256(path, VAR_U_SHA256, VAR_U_SOURCE)
    content = scipy.io.loadmat(str(path))
    try:
        return np.asarray(content["F"], dtype=np.float32), np.asarray(content["y"], dtype=np.int64).ravel()
    except KeyError as missing:
        raise DataError(f"{path} has no variable {missing}") from None


def share_by_ones(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Percentage of ``y == 1`` among patterns with k ones, for k = 0..n_inputs
    (the table of the seed's section 7.7). NaN where no pattern has k ones."""
    ones = np.asarray(X).sum(axis=1).astype(int)
    n_inputs = np.asarray(X).shape[1]
    return np.array(
        [100.0 * np.mean(y[ones == k]) if np.any(ones == k) else np.nan for k in range(n_inputs + 1)]
    )


@DATASETS.register("harmonics", "datasets.harmonics", "var_u")
class Harmonics(Dataset):
    """Tishby's 12-bit harmonics data set (file ``var_u.mat``, shipped with ibsim)."""

    name = "harmonics"
    provenance = (
        "Shwartz-Ziv & Tishby (2017), var_u.mat from github.com/ravidziv/IDNNs (data/), "
        f"sha256 {VAR_U_SHA256}"
    )
    PARAMS = {}

    def load_raw(self, data_dir: Path | None) -> RawData:
        X, y = load_var_u()
        return RawData(X, y, ("0", "1"))
