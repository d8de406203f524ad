"""scikit-learn's 8 x 8 handwritten digits: a small image set that is always offline."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ibsim.datasets.base import DATASETS, Dataset, RawData


@DATASETS.register("digits")
class Digits(Dataset):
    """scikit-learn's bundled 8 x 8 digits (1797 images, 10 classes), pixels scaled to [0, 1]."""

    name = "digits"
    image_shape = (8, 8, 1)
    provenance = "scikit-learn load_digits (UCI optical recognition of handwritten digits), bundled"
    PARAMS = {}

    def load_raw(self, folder: Path | None) -> RawData:
        from sklearn.datasets import load_digits

        digits = load_digits()
        return RawData((digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64),
                       tuple(str(d) for d in range(10)))
