"""The UCI mushroom data set, one-hot encoded (the seed's ``mushroom``).

A CSV with a header of ``attribute=value`` names and 8124 rows of 0/1; the first
two columns are ``class=e`` (edible) and ``class=p`` (poisonous) and give the
label; the other 117 columns are the inputs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ibsim.datasets.base import DATASETS, Dataset, RawData
from ibsim.datasets.download import DataFile, fetch
from ibsim.datasets.files import data_dir
from ibsim.errors import DataError

MUSHROOM_FILE = DataFile(
    "mushroom.csv",
    (("sha256", "5a96d3e87c0cedcf9c6112d94cd58d5e086cf39c838498e1f98d711c9497dad7"),),
    ("https://raw.githubusercontent.com/neuroinfo-os/deep-bottleneck/master/deep_bottleneck/datasets",),
)


def read_mushroom(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Inputs (n, 117), labels (n,) and input column names of the CSV."""
    with open(path) as handle:
        header = handle.readline().strip().split(",")
    if header[:2] != ["class=e", "class=p"]:
        raise DataError(f"{path}: expected the first columns class=e, class=p, got {header[:2]}")
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
    if table.ndim != 2 or table.shape[1] != len(header):
        raise DataError(f"{path}: rows do not match the {len(header)} header columns")
    if not np.all(table[:, 0] + table[:, 1] == 1):
        raise DataError(f"{path}: every row needs exactly one of class=e and class=p")
    return table[:, 2:], table[:, 1].astype(np.int64), header[2:]


@DATASETS.register("mushroom", "datasets.mushroom")
class Mushroom(Dataset):
    """UCI mushrooms (Schlimmer 1987), one-hot: edible (0) or poisonous (1) from 117 binary inputs."""

    name = "mushroom"
    provenance = "UCI Mushroom (Schlimmer 1987, CC BY 4.0), one-hot CSV of neuroinfo-os/deep-bottleneck"
    PARAMS = {}

    def load_raw(self, folder: Path | None) -> RawData:
        X, y, _ = read_mushroom(fetch(MUSHROOM_FILE, data_dir(folder) / "mushroom"))
        return RawData(X, y, ("edible", "poisonous"))
