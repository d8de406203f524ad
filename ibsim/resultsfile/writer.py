"""Writing results files: atomically, streaming the activation cubes.

The small variables are written with xarray; the activation cubes are then
appended with netCDF4 one (run, epoch) slab at a time, straight from the part
store, so memory stays at one slab however large the file. Everything goes to
a hidden temporary name next to the output, and only a complete file is renamed
into place, with ``status = "completed"``.
"""
from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import netCDF4
import numpy as np
import xarray as xr

from ibsim.paths import NEARLY_FULL_BYTES, disk_full, free_bytes
from ibsim.resultsfile.provenance import finish_attrs, identity_attrs
from ibsim.resultsfile.schema import (
    COORD_ATTRS,
    FORMAT_NAME,
    FORMAT_VERSION,
    VARIABLE_ATTRS,
)

PACKAGES = ("ibsim", "numpy", "scipy", "tensorflow-cpu", "tensorflow", "xarray", "netCDF4", "mpi4py")
#: Distributions that install the ``tensorflow`` module, in the order they are looked for.
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel",
                            "tensorflow-macos", "tf-nightly", "tf-nightly-cpu")


def _tensorflow_version() -> str | None:
    """The version of the installed TensorFlow, whichever distribution brought it."""
    for name in TENSORFLOW_DISTRIBUTIONS:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    module = sys.modules.get("tensorflow")  # never imported here: that takes seconds
    version = getattr(module, "__version__", None)
    return str(version) if version else None


def package_versions() -> dict[str, str]:
    """Versions of Python, ibsim and the libraries that shaped the numbers.

    ``tensorflow`` is there whichever distribution installed it
    (``tensorflow-cpu`` is listed under its own name too), and ``python``.
    """
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if "tensorflow" not in versions:
        tensorflow = _tensorflow_version()
        if tensorflow:
            versions["tensorflow"] = tensorflow
    if "numpy" not in versions:
        versions["numpy"] = np.__version__
    return versions


def temporary_path(path: Path) -> Path:
    """A hidden sibling of ``path`` to write into before the final rename."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def base_attrs(config_toml: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Global attributes every results file carries.

    Besides the format, the config and the versions: ``experiment_id`` and
    ``data_checksum`` (:func:`ibsim.resultsfile.provenance.identity_attrs`) and
    ``python_version``; ``extra`` adds more (the run's provenance, see
    :class:`ibsim.resultsfile.provenance.RunRecord`).
    """
    versions = package_versions()
    attrs = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "title": "ibsim information-plane results",
        "Conventions": "CF-1.8",
        "config": config_toml,
        "versions": "\n".join(f"{k} = {v}" for k, v in versions.items()),
        "ibsim_version": versions.get("ibsim", "unknown"),
        "python_version": versions["python"],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "status": "writing",
        **identity_attrs(config_toml),
    }
    attrs.update(extra or {})
    return attrs


def annotate(ds: xr.Dataset) -> xr.Dataset:
    """Attach the schema's attributes to the variables and coordinates present."""
    for name, attrs in {**VARIABLE_ATTRS, **COORD_ATTRS}.items():
        if name in ds.variables:
            ds[name].attrs.update(attrs)
    return ds


def encoding_for(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """Compression for the data variables."""
    return {
        name: {"zlib": True, "complevel": 4}
        for name, var in ds.data_vars.items()
        if var.dtype.kind in "fiu" and var.size > 0
    }


@dataclass
class Cube:
    """An activation cube to stream into a results file.

    ``fill(variable)`` writes the data into the netCDF4 variable slab by slab.
    """

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    attrs: dict[str, Any]
    fill: Callable[[Any], None]


def write_dataset(ds: xr.Dataset, path: Path, cubes: list[Cube] | None = None) -> None:
    """Write ``ds`` (and optional activation cubes) to ``path`` atomically.

    A new results file (``status`` not yet ``completed``) with a ``started_at``
    attribute gets ``finished_at`` and ``duration_s`` when it is complete; a
    copy of a finished file (``Results.save``) keeps its own.

    Args:
        ds: The small variables and the global attributes.
        path: The final file.
        cubes: Activation cubes appended after the small variables.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    stamp = ds.attrs.get("status") != "completed" and "started_at" in ds.attrs
    try:
        ds = annotate(ds.copy())
        ds.attrs["status"] = "writing"
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", unlimited_dims=["estimator"], encoding=encoding_for(ds))
        with netCDF4.Dataset(tmp, "a") as nc:
            for cube in cubes or []:
                for dim, size in zip(cube.dims, cube.shape):
                    if dim not in nc.dimensions:
                        nc.createDimension(dim, size)
                variable = nc.createVariable(
                    cube.name, "f4", cube.dims, zlib=True, complevel=1, shuffle=True,
                    chunksizes=[1, 1] + list(cube.shape[2:]), fill_value=np.float32(np.nan),
                )
                variable.setncatts(cube.attrs)
                cube.fill(variable)
            if stamp:
                nc.setncatts(finish_attrs(str(ds.attrs["started_at"])))
            nc.setncattr("status", "completed")
        os.replace(tmp, path)
    except BaseException as error:
        # netCDF4/HDF5 report a full disk as a RuntimeError: judge by the free
        # space while the temporary still holds it
        full = isinstance(error, RuntimeError) and free_bytes(path.parent) < NEARLY_FULL_BYTES
        tmp.unlink(missing_ok=True)
        if full:
            raise disk_full(path) from error
        raise
