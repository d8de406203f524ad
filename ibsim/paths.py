"""What may be a file name, and what ibsim may write over.

An experiment's ``name`` becomes file names (``<name>.nc``, its part folder
``<name>.nc.parts``, its plots ``<name>_<plot>.png``, the hidden temporary
``.<name>.nc.<pid>.tmp``), so it must be one plain file name: no separators,
no ``..``, no control characters, and short enough that every name derived
from it fits the file system's limit of 255 bytes. An output path may name a
regular file (replaced atomically) or nothing yet, never a folder, a device, a
socket or a FIFO.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import unicodedata
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ibsim.toml_text import format_value
from ibsim.errors import DiskFullError, OutputError

#: Below this many free bytes, a library's failed write (netCDF4 reports a full
#: disk only as "HDF error") is taken to be the disk filling up.
NEARLY_FULL_BYTES = 4 * 2**20

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)

#: Longest experiment name, in UTF-8 bytes: 255 (NAME_MAX) less what ibsim adds
#: around it (".nc.parts", ".<pid>.tmp", "_<plot>.png").
MAX_NAME_BYTES = 200


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an experiment name, or None when it can."""
    if not name:
        return "it is empty"
    if "/" in name or "\\" in name:
        return "it holds a path separator ('/' or '\\'); a name is a file name, not a path"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        return "it holds control characters (NUL, newline, escape...)"
    if name.startswith("."):
        return "it starts with '.' ('..' climbs out of the folder; '.name' would be a hidden file)"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        return f"it is {size} bytes long; at most {MAX_NAME_BYTES} fit the file names made from it"
    return None


def shorten_name(name: str) -> str:
    """``name`` if it fits :data:`MAX_NAME_BYTES`, else its start and a hash of
    the whole (distinct long names stay distinct)."""
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    head = name.encode("utf-8")[: MAX_NAME_BYTES - len(digest) - 2].decode("utf-8", "ignore")
    return f"{head}__{digest}"


def check_output_file(path: str | Path, what: str = "output") -> Path:
    """Refuse an output path that names something other than a regular file.

    Args:
        path: Where a file will be written (replaced atomically if it exists).
        what: What the file is, for the message.

    Returns:
        The path.

    Raises:
        OutputError: The path is a folder, a device, a socket, a FIFO, or a
            link to one of them.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there yet (a bad folder is refused where it is made)
        return path
    except OSError as error:
        raise OutputError(f"cannot use {path} as the {what}: {error.strerror or error}") from None
    if stat.S_ISDIR(mode):
        raise OutputError(f"the {what} {path} is a folder; name a file inside it")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise OutputError(f"the {what} {path} is {kind}; ibsim only replaces regular files")
    return path


def free_bytes(folder: str | Path) -> int:
    """Bytes free to this user on the file system holding ``folder`` (0 if unknown)."""
    try:
        info = os.statvfs(folder)
    except OSError:
        return 0
    return info.f_bavail * info.f_frsize


def disk_full(path: str | Path, action: str = "writing") -> DiskFullError:
    """The error for a disk that filled up while ``action`` ``path``: where,
    how much is free, and what to do."""
    folder = Path(path).parent
    return DiskFullError(
        f"disk full while {action} {path} ({free_bytes(folder) / 1e6:.0f} MB free in {folder}); free space there "
        "(ibsim run --dry-run shows what the run needs) and run the same command again with --resume"
    )


@contextmanager
def os_errors(path: str | Path, action: str = "writing") -> Iterator[None]:
    """Turn an OS error while ``action`` ``path`` into one clear line: a full
    disk becomes :class:`DiskFullError`, anything else an :class:`OutputError`
    naming the file."""
    try:
        yield
    except OSError as error:
        if error.errno in _DISK_FULL:
            raise disk_full(path, action) from None
        raise OutputError(f"error while {action} {path}: {error.strerror or error}") from None


_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def _value_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "-".join(_value_text(v) for v in value)
    text = value if isinstance(value, str) else format_value(value)
    return _UNSAFE.sub("_", text).strip("_")


def point_name(base: str, values: dict[str, Any]) -> str:
    """The name of a sweep point: ``base__key=value__key=value``, safe as a file
    name (characters other than letters, digits and ``._=+-`` become ``_``; a
    name longer than 200 bytes keeps its start and a hash of the whole)."""
    return shorten_name("__".join([base] + [f"{key}={_value_text(value)}" for key, value in values.items()]))
