"""Checksum verification of data files."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ibsim.errors import DataError


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str, source: str = "") -> None:
    """Raise :class:`DataError` naming the file if its sha256 is not ``expected``."""
    actual = sha256_of(path)
    if actual != expected:
        where = f"; a fresh copy is at {source}" if source else ""
        raise DataError(
            f"data file {path} is corrupt: sha256 {actual} does not match the expected {expected}{where}"
        )
