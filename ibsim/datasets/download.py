"""Data files: found in the data directory, or downloaded there once and verified.

A :class:`DataFile` names a file, its checksums and where it can be downloaded.
:func:`fetch` returns its path in the data directory, downloading it first if it
is missing and the machine is online (set ``IBSIM_OFFLINE=1`` to never try).
Downloads go to a temporary name and are renamed only after the checksum
matches, so a broken download never looks like data. Offline with a missing
file, the error names the file, the folder and the sources.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ibsim.errors import DataError

TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class DataFile:
    """A downloadable file: its name, checksums (algorithm → hex digest, every one
    checked) and the URLs of folders that serve it, tried in order."""

    name: str
    checksums: tuple[tuple[str, str], ...]
    sources: tuple[str, ...]

    def urls(self) -> list[str]:
        return [source.rstrip("/") + "/" + self.name for source in self.sources]


def digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, spec: DataFile) -> None:
    """Raise :class:`DataError` if ``path`` does not match every checksum of ``spec``."""
    for algorithm, expected in spec.checksums:
        actual = digest(path, algorithm)
        if actual != expected:
            raise DataError(
                f"data file {path} is corrupt: {algorithm} {actual} does not match the expected {expected}; "
                f"delete it to download it again from {spec.urls()[0]}"
            )


def _download(url: str, target: Path) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "ibsim"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response, open(target, "wb") as out:
        shutil.copyfileobj(response, out)


def fetch(spec: DataFile, folder: Path) -> Path:
    """The verified path of ``spec`` in ``folder``, downloading it if needed.

    Raises:
        DataError: The file is missing and cannot be downloaded (offline), or
            its checksum does not match.
    """
    folder = Path(folder)
    path = folder / spec.name
    if path.is_file():
        verify(path, spec)
        return path
    failures = []
    if os.environ.get("IBSIM_OFFLINE") != "1":
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DataError(f"cannot create the data directory {folder}: {error}") from None
        for url in spec.urls():
            tmp = folder / f".{spec.name}.{os.getpid()}.part"
            try:
                _download(url, tmp)
                verify(tmp, spec)
                os.replace(tmp, path)
                return path
            except (urllib.error.URLError, OSError, DataError, TimeoutError) as error:
                failures.append(f"{url}: {error}")
            finally:
                tmp.unlink(missing_ok=True)
    tried = ("; tried " + "; ".join(failures)) if failures else " (IBSIM_OFFLINE=1: no download tried)"
    raise DataError(
        f"data file {spec.name} is not in the data directory {folder} and could not be downloaded{tried}. "
        f"Download it from {spec.urls()[0]} into {folder}, or point --data-dir / IBSIM_DATA_DIR at a "
        "folder that has it"
    )
