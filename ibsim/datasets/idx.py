"""Reading IDX files (the MNIST format), gzipped or not."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from ibsim.errors import DataError

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` files are decompressed)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read IDX file {path}: {error}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise DataError(f"{path} is not an IDX file")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_TYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(f"{path} is truncated: {len(data) - header} bytes of data, expected {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def load_idx_images(path: str | Path) -> np.ndarray:
    """Images of an IDX file as uint8 (n, rows, cols)."""
    images = read_idx(path)
    if images.ndim != 3:
        raise DataError(f"{path} holds an array of shape {images.shape}, not images")
    return images
