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
import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import xarray as xr

from ibsim.paths import NEARLY_FULL_BYTES, disk_full, free_bytes
from ibsim.recording.recorder import ACTIVATION_COMPRESSORS
from ibsim.resultsfile.netcdf import netCDF4, zstd_works
from ibsim.resultsfile.provenance import finish_attrs, identity_attrs
from ibsim.resultsfile.schema import (
    ACTIVATIONS_PREFIX,
    COORD_ATTRS,
    FORMAT_NAME,
    FORMAT_VERSION,
    STORED_DTYPE_ATTR,
    STORED_TYPES,
    VARIABLE_ATTRS,
    encode_activations,
    stored_dtype_attrs,
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


@dataclass(frozen=True)
class CubeStorage:
    """How the activation cubes of a results file are stored.

    Every cube is chunked one (run, epoch) slab per chunk, the unit the
    pipeline writes and ``ibsim estimate`` reads (docs/performance.md, File size).

    Attributes:
        dtype: ``"float32"``, or ``"float16"`` (stored as its bit patterns,
            :func:`~ibsim.resultsfile.schema.encode_activations`).
        compression_level: Level 1..9 of ``compressor`` (zlib after HDF5's
            byte shuffle); 0: uncompressed.
        compressor: ``"zstd"`` or ``"zlib"``
            (:data:`~ibsim.recording.recorder.ACTIVATION_COMPRESSORS`).
    """

    dtype: str = "float32"
    compression_level: int = 1
    compressor: str = "zstd"

    def __post_init__(self) -> None:
        if self.dtype not in STORED_TYPES:
            raise ValueError(f"activation cubes are stored as {' or '.join(STORED_TYPES)}, not {self.dtype!r}")
        level = self.compression_level
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
            raise ValueError(f"the compression level of activation cubes must be an int in 0..9, got {level!r}")
        if self.compressor not in ACTIVATION_COMPRESSORS:
            raise ValueError(f"activation cubes are compressed with {' or '.join(ACTIVATION_COMPRESSORS)}, "
                             f"not {self.compressor!r}")

    @classmethod
    def of(cls, attrs: dict[str, Any], encoding: dict[str, Any]) -> "CubeStorage":
        """The storage of a cube read from a file: its dtype attribute and its
        compression (as xarray's ``encoding`` has it: zstd or zlib with its
        level; zstd level 1 when it says nothing, e.g. a cube made in memory)."""
        dtype = str(attrs.get(STORED_DTYPE_ATTR, "float32"))
        if not encoding:
            return cls(dtype)
        for compressor in ACTIVATION_COMPRESSORS:
            if encoding.get(compressor) or encoding.get("compression") == compressor:
                return cls(dtype, int(encoding.get("complevel", 1)), compressor)
        return cls(dtype, 0)

    def writable(self) -> "CubeStorage":
        """This storage, or, where this process cannot write zstd (netCDF4
        imported after TensorFlow disabled HDF5's plugins, or built without
        zstd), the same with zlib, said in one warning."""
        if self.compressor != "zstd" or not self.compression_level or zstd_works():
            return self
        warnings.warn("ibsim: this process cannot write zstd (netCDF4 was imported after TensorFlow set "
                      "HDF5_PLUGIN_PATH=disable, or it has no zstd filter): the activation cubes are "
                      "compressed with zlib instead (import ibsim before tensorflow to keep zstd)", stacklevel=2)
        return replace(self, compressor="zlib")

    def encoding(self, shape: tuple[int, ...]) -> dict[str, Any]:
        """The compression and chunks of a cube of ``shape``, as both xarray's
        ``to_netcdf`` encoding and netCDF4's ``createVariable`` take them: one
        (run, epoch) slab per chunk."""
        compressed = self.compression_level > 0
        # netCDF4 applies HDF5's byte shuffle only before zlib
        return {"compression": self.compressor if compressed else None, "complevel": self.compression_level,
                "shuffle": compressed and self.compressor == "zlib", "chunksizes": (1, 1, *shape[2:])}

    def create(self, nc: netCDF4.Dataset, name: str, dims: tuple[str, ...], shape: tuple[int, ...]) -> Any:
        """Create the cube's variable in ``nc`` (the dimensions exist); float32
        cubes are NaN where never written, float16 ones have no fill value
        (every slab is written before the file is complete)."""
        fill = np.float32(np.nan) if self.dtype == "float32" else False
        variable = nc.createVariable(name, STORED_TYPES[self.dtype], dims, fill_value=fill, **self.encoding(shape))
        variable.setncatts(stored_dtype_attrs(self.dtype))
        return variable


class _StoringVariable:
    """A cube's netCDF4 variable that stores what is assigned to it in the cube's dtype."""

    def __init__(self, variable: Any, dtype: str) -> None:
        self.variable, self.dtype = variable, dtype

    def __setitem__(self, key: Any, values: Any) -> None:
        self.variable[key] = encode_activations(values, self.dtype)


def is_cube(name: object, var: xr.DataArray) -> bool:
    """Whether a data variable is an activation cube."""
    return str(name).startswith(ACTIVATIONS_PREFIX) and var.ndim == 4


def encoding_for(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """Compression for the data variables: zlib level 4 for the small ones; the
    activation cubes keep their storage (:class:`CubeStorage`, from the file
    they were read from, or the default)."""
    return {
        name: (CubeStorage.of(var.attrs, var.encoding).encoding(var.shape) if is_cube(name, var)
               else {"zlib": True, "complevel": 4})
        for name, var in ds.data_vars.items()
        if var.dtype.kind in "fiu" and var.size > 0
    }


def _stored_cubes(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the activation cubes of a dtype other than float32 (their
    ``stored_dtype`` attribute) encoded as they are stored."""
    for name, var in list(ds.data_vars.items()):
        dtype = var.attrs.get(STORED_DTYPE_ATTR)
        if dtype is not None and is_cube(name, var) and var.dtype.kind == "f":
            ds[name] = var.copy(data=encode_activations(var.values, str(dtype)))
    return ds


@dataclass
class Cube:
    """An activation cube to stream into a results file.

    ``fill(variable)`` writes the float32 data into the variable slab by slab
    (``variable[run_slice, epoch, :, :] = slab``); ``storage`` says how the
    file stores it.
    """

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    attrs: dict[str, Any]
    fill: Callable[[Any], None]
    storage: CubeStorage = field(default_factory=CubeStorage)


def write_dataset(ds: xr.Dataset, path: Path, cubes: list[Cube] | None = None) -> None:
    """Write ``ds`` (and optional activation cubes) to ``path`` atomically.

    A new results file (``status`` not yet ``completed``) with a ``started_at``
    attribute gets ``finished_at`` and ``duration_s`` when it is complete; a
    copy of a finished file (``Results.save``) keeps its own.

    Args:
        ds: The small variables and the global attributes (activation cubes
            in ``ds``, as ``Results.save`` has them, are stored as their
            ``stored_dtype`` attribute and encoding say, see :class:`CubeStorage`).
        path: The final file.
        cubes: Activation cubes appended after the small variables.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    stamp = ds.attrs.get("status") != "completed" and "started_at" in ds.attrs
    try:
        ds = _stored_cubes(annotate(ds.copy()))
        ds.attrs["status"] = "writing"
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", unlimited_dims=["estimator"], encoding=encoding_for(ds))
        with netCDF4.Dataset(tmp, "a") as nc:
            for cube in cubes or []:
                for dim, size in zip(cube.dims, cube.shape):
                    if dim not in nc.dimensions:
                        nc.createDimension(dim, size)
                storage = cube.storage.writable()
                variable = storage.create(nc, cube.name, cube.dims, cube.shape)
                variable.setncatts(cube.attrs)
                cube.fill(_StoringVariable(variable, storage.dtype))
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
