"""netCDF4, imported so that its own HDF5 filter plugins (zstd) stay usable.

TensorFlow's bundled Keras sets ``HDF5_PLUGIN_PATH=disable`` when it is
imported (so that HDF5 loads no plugins from a default path), and netCDF4's
HDF5 reads that variable once, when netCDF4 is imported. If TensorFlow came
first, netCDF4 is imported here with the variable pointing at netCDF4's *own*
plugin folder (the filters its wheel ships) and the variable is put back as
it was, so other HDF5 users in the process still load none. Whether zstd can
be written in this process is :func:`zstd_works`.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

PLUGIN_PATH_VARIABLE = "HDF5_PLUGIN_PATH"
_DISABLED = "disable"


def _own_plugins() -> Path | None:
    """netCDF4's own plugin folder when HDF5 plugins are disabled and netCDF4
    is not imported yet (else None: nothing to do)."""
    if "netCDF4" in sys.modules or os.environ.get(PLUGIN_PATH_VARIABLE) != _DISABLED:
        return None
    spec = importlib.util.find_spec("netCDF4")
    folder = Path(spec.origin).parent / "plugins" if spec is not None and spec.origin else None
    return folder if folder is not None and folder.is_dir() else None


_plugins = _own_plugins()
if _plugins is not None:
    os.environ[PLUGIN_PATH_VARIABLE] = str(_plugins)
try:
    import netCDF4  # noqa: E402  (after the variable is set)
finally:
    if _plugins is not None:
        os.environ[PLUGIN_PATH_VARIABLE] = _DISABLED


@functools.cache
def zstd_works() -> bool:
    """Whether this process can write zstd-compressed variables (a tiny
    in-memory file is written once to find out)."""
    if not netCDF4.__has_zstandard_support__:
        return False
    try:
        with netCDF4.Dataset("zstd_probe.nc", "w", diskless=True, persist=False) as nc:
            nc.createDimension("n", 8)
            variable = nc.createVariable("probe", "f4", ("n",), compression="zstd", complevel=1)
            variable[:] = np.arange(8, dtype=np.float32)
    except RuntimeError:
        return False
    return True
