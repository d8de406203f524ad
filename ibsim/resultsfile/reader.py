"""Opening results files with errors that name the file, and checking what they hold.

Every reader of results files (``Results.open``, ``ibsim estimate``, ``ibsim
plot``, ``ibsim tensorboard``, ``ibsim ls`` and the catalog) opens them with
:func:`open_dataset`, which refuses a file that is not a readable ibsim
results file of a format this ibsim understands, or whose layout is
inconsistent (:func:`check_layout`). What a reader needs beyond the variables
every file has (the activation cubes, the gradient statistics) it asks for with
:func:`require`. Each refusal is a :class:`~ibsim.errors.ResultsFileError`
whose message is one line naming the file and what is wrong.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import numpy as np
import xarray as xr

from ibsim.errors import ResultsFileError
from ibsim.resultsfile.schema import (
    ACTIVATIONS_PREFIX,
    COORD_ATTRS,
    FORMAT_MAJOR,
    FORMAT_NAME,
    FORMAT_VERSION,
    MI_SPLIT_DIM,
    REQUIRED_VARIABLES,
    SPLIT_VARIABLES,
    STANDARD_ERRORS,
    STORED_DTYPE_ATTR,
    VARIABLE_DIMS,
    activation_dims,
    activation_name,
    decode_activations,
    format_major,
)

try:  # xarray's own lazy decoding (as of its mask and scale coders); older xarray had it elsewhere
    from xarray.coding.common import lazy_elemwise_func
except ImportError:  # pragma: no cover - depends on the xarray version
    from xarray.coding.variables import lazy_elemwise_func


def open_dataset(path: str | Path, load: bool = False, require_complete: bool = True) -> xr.Dataset:
    """Open an ibsim results file with xarray, checking that it is one.

    Args:
        path: The file.
        load: Read everything into memory (and close the file).
        require_complete: Refuse files whose ``status`` is not "completed".

    Raises:
        ResultsFileError: The file is missing, not NetCDF, truncated, not an
            ibsim results file, of a newer format (:func:`check_format_version`),
            (with ``require_complete``) incomplete, or damaged: a variable every
            results file has is missing or the dimensions disagree
            (:func:`check_layout`).
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(f"results file {path} does not exist")
    try:
        ds = xr.open_dataset(path, engine="netcdf4")
    except Exception as error:  # netCDF4/HDF5 raise OSError, ValueError, RuntimeError...
        raise ResultsFileError(f"{path} is not a readable NetCDF file ({type(error).__name__}: {error})") from None
    try:
        if ds.attrs.get("format") != FORMAT_NAME:
            raise ResultsFileError(
                f"{path} is a NetCDF file but not an ibsim results file (no format = {FORMAT_NAME!r})"
            )
        check_format_version(ds.attrs.get("format_version"), path)
        status = ds.attrs.get("status")
        if require_complete and status != "completed":
            raise ResultsFileError(f"{path} is incomplete (status: {status}); it was not finished or was interrupted")
        check_layout(ds, path)
        decode_cubes(ds, path)
    except BaseException:
        ds.close()
        raise
    if load:
        try:
            loaded = ds.load()
        except Exception as error:
            raise ResultsFileError(f"{path} is truncated or damaged ({type(error).__name__}: {error})") from None
        finally:
            ds.close()
        return loaded
    return ds


#: Encoding entries of a stored cube that do not hold for its decoded values.
_STORED_ENCODING = ("dtype", "_FillValue", "missing_value", "_Unsigned", "scale_factor", "add_offset")


def decode_cubes(ds: xr.Dataset, path: str | Path | None = None) -> xr.Dataset:
    """Make the activation cubes stored as float16 read as float32, lazily (in place).

    A cube with the :data:`~ibsim.resultsfile.schema.STORED_DTYPE_ATTR`
    attribute ``"float16"`` holds float16 bit patterns as uint16
    (:func:`~ibsim.resultsfile.schema.encode_activations`); it is replaced by
    a variable that decodes each slice as it is read
    (:func:`~ibsim.resultsfile.schema.decode_activations`: exact), keeping
    the attribute (so ``ibsim estimate`` and ``Results.save`` know) and the
    compression. A cube already of a float dtype with the attribute (saved
    again by plain xarray) is left as it is. Cubes without the attribute are
    float32, as in every file before it.

    Args:
        ds: An opened results file.
        path: The file, for the messages (default: the dataset's source).

    Raises:
        ResultsFileError: A cube's attribute names another dtype than float16,
            or its values are neither uint16 bit patterns nor floats.
    """
    for name in [str(n) for n in ds.data_vars if str(n).startswith(ACTIVATIONS_PREFIX)]:
        variable = ds[name].variable
        stored = variable.attrs.get(STORED_DTYPE_ATTR)
        if stored is None or (stored == "float16" and variable.dtype.kind == "f"):
            continue
        if stored != "float16" or variable.dtype != np.uint16:
            raise ResultsFileError(
                f"{file_of(ds, path) or 'the results'} is damaged: {name} has {STORED_DTYPE_ATTR} = {stored!r} and "
                f"holds {variable.dtype} values (ibsim stores float16 cubes as uint16 bit patterns)"
            )
        encoding = {k: v for k, v in variable.encoding.items() if k not in _STORED_ENCODING}
        data = lazy_elemwise_func(variable._data, decode_activations, np.dtype(np.float32))
        ds[name] = xr.Variable(variable.dims, data, variable.attrs, encoding)
    return ds


def activation_dtype(ds: xr.Dataset) -> str:
    """The dtype the file stores its activation cubes in: ``"float16"`` when a
    cube says so (:data:`~ibsim.resultsfile.schema.STORED_DTYPE_ATTR`),
    ``"float32"`` otherwise (also for a file without cubes)."""
    for name in ds.data_vars:
        if str(name).startswith(ACTIVATIONS_PREFIX):
            stored = ds[name].attrs.get(STORED_DTYPE_ATTR)
            if stored is not None:
                return str(stored)
    return "float32"


def check_format_version(version: object, path: str | Path) -> None:
    """Refuse a ``format_version`` this ibsim cannot read.

    A file of the same major version reads (a minor version only adds); a
    newer major version needs a newer ibsim.

    Args:
        version: The file's ``format_version`` attribute (None when absent).
        path: The file, for the message.

    Raises:
        ResultsFileError: The attribute is missing, not ``MAJOR.MINOR``, or of
            another major version than :data:`~ibsim.resultsfile.schema.FORMAT_MAJOR`.
    """
    if version is None:
        raise ResultsFileError(f"{path} has no format_version attribute: it is damaged (ibsim writes {FORMAT_VERSION})")
    major = format_major(version)
    if major is None:
        raise ResultsFileError(
            f"{path} has an invalid format_version {str(version)!r} (expected MAJOR.MINOR, e.g. {FORMAT_VERSION})"
        )
    if major > FORMAT_MAJOR:
        raise ResultsFileError(
            f"{path} has format_version {version}, newer than this ibsim reads ({FORMAT_MAJOR}.x): "
            "it was written by a newer ibsim; upgrade ibsim to read it"
        )
    if major < FORMAT_MAJOR:
        raise ResultsFileError(
            f"{path} has format_version {version}, older than this ibsim reads ({FORMAT_MAJOR}.x)"
        )


def check_layout(ds: xr.Dataset, path: str | Path | None = None) -> None:
    """Refuse a dataset whose layout is not that of a results file.

    Checks that every variable of :data:`~ibsim.resultsfile.schema.REQUIRED_VARIABLES`
    is present, that each known variable has its dimensions
    (:data:`~ibsim.resultsfile.schema.VARIABLE_DIMS`; a standard error those
    of its estimate, :data:`~ibsim.resultsfile.schema.STANDARD_ERRORS`), that each dimension of
    :data:`~ibsim.resultsfile.schema.COORD_ATTRS` in use has its coordinate, and
    that the activation cubes are either absent or exactly one per layer
    (``activations_1`` .. ``activations_L``), each as wide as ``layer_width``
    says. Reads only ``layer_width``'s few numbers.

    Args:
        ds: The dataset.
        path: The file, for the messages (default: the dataset's source).

    Raises:
        ResultsFileError: Naming the file and the first inconsistency.
    """
    where = file_of(ds, path) or "the results"
    missing = [name for name in REQUIRED_VARIABLES if name not in ds.variables]
    if missing:
        raise ResultsFileError(
            f"{where} is damaged: it has no {_variables(missing)}, which every ibsim results file has"
        )
    for name, dims in VARIABLE_DIMS.items():
        if name in ds.variables:
            if name in SPLIT_VARIABLES and MI_SPLIT_DIM in ds[name].dims:
                dims = dims + (MI_SPLIT_DIM,)
            _check_dims(ds, name, dims, where)
    for name, error in STANDARD_ERRORS.items():
        if error in ds.variables:
            _check_dims(ds, error, ds[name].dims, where)
    for dim in COORD_ATTRS:
        if dim in ds.dims and dim not in ds.variables:
            raise ResultsFileError(f"{where} is damaged: the dimension {dim!r} has no coordinate variable")
    n_layers = ds.sizes["layer"]
    cubes = sorted((str(name) for name in ds.data_vars if str(name).startswith(ACTIVATIONS_PREFIX)),
                   key=lambda name: (len(name), name))  # activations_2 before activations_10
    expected = [activation_name(k) for k in range(1, n_layers + 1)]
    if cubes and set(cubes) != set(expected):
        wanted = expected[0] if n_layers == 1 else f"{expected[0]}..{expected[-1]}"
        raise ResultsFileError(
            f"{where} is damaged: it has the activation cube(s) {', '.join(cubes)} for {n_layers} layer(s) "
            f"(expected {wanted}, or none)"
        )
    if not cubes:
        return
    try:
        widths = np.asarray(ds["layer_width"].values)
    except Exception as error:  # HDF5 fails only when the bytes are read
        raise ResultsFileError(f"{where} is truncated or damaged ({type(error).__name__}: {error})") from None
    for k in range(1, n_layers + 1):
        name = activation_name(k)
        _check_dims(ds, name, activation_dims(k), where)
        width = ds.sizes[f"neuron_{k}"]
        if width != widths[k - 1]:
            raise ResultsFileError(
                f"{where} is damaged: {name} has {width} neuron(s) but layer_width says layer {k} has {widths[k - 1]}"
            )


def _check_dims(ds: xr.Dataset, name: str, dims: tuple[str, ...], where: str) -> None:
    """Raise unless ``ds[name]`` has the dimensions ``dims``."""
    actual = ds[name].dims
    if actual != dims:
        raise ResultsFileError(
            f"{where} is damaged: {name} has dimensions ({_sizes(ds, actual)}), expected ({_sizes(ds, dims)})"
        )


def _sizes(ds: xr.Dataset, dims: Iterable[str]) -> str:
    """``"run: 2, epoch: 3"`` (a dimension absent from ``ds`` shows without a size)."""
    return ", ".join(f"{dim}: {ds.sizes[dim]}" if dim in ds.sizes else str(dim) for dim in dims)


def _variables(names: list[str]) -> str:
    """``"variable I_XT"`` or ``"variables I_XT, I_TY"``."""
    return f"variable{'s' if len(names) > 1 else ''} {', '.join(names)}"


def file_of(ds: xr.Dataset, path: str | Path | None = None) -> str | None:
    """The file to name in a message: ``path``, else the file the dataset was
    opened from (None for a dataset built in memory)."""
    if path is not None:
        return str(path)
    opened = ds.encoding.get("source")
    return str(opened) if opened else None


def require(
    ds: xr.Dataset,
    names: Iterable[str],
    needed_by: str,
    path: str | Path | None = None,
    hint: str = "",
) -> None:
    """Raise unless ``ds`` holds every variable of ``names``.

    Each consumer of results files calls this with what it needs beyond
    :data:`~ibsim.resultsfile.schema.REQUIRED_VARIABLES`, which
    :func:`open_dataset` has checked already.

    Args:
        ds: The dataset.
        names: The variables needed.
        needed_by: Who needs them, for the message (e.g. ``"ibsim estimate"``).
        path: The file (default: the dataset's source).
        hint: What to do about it, appended to the message.

    Raises:
        ResultsFileError: One line naming the file, the missing variables and
            ``needed_by``.
    """
    missing = [name for name in names if name not in ds.variables]
    if missing:
        message = f"{file_of(ds, path) or 'the results'} has no {_variables(missing)}, which {needed_by} needs"
        raise ResultsFileError(message + (f": {hint}" if hint else ""))


def naming_file(message: str, ds: xr.Dataset, path: str | Path | None = None) -> str:
    """``message`` prefixed with the file's name, unless it names the file already.

    Args:
        message: An error message (e.g. a plot's "this file has no ...").
        ds: The dataset it is about.
        path: The file (default: the dataset's source).
    """
    where = file_of(ds, path)
    if where is None or where in message:
        return message
    return f"{where}: {message}"


def missing_variable(error: KeyError, ds: xr.Dataset) -> str | None:
    """The variable a ``KeyError`` from indexing ``ds`` asked for, if ``ds`` lacks it.

    Args:
        error: Raised by ``ds[name]`` (xarray: "No variable named 'name'. ...")
            or ``ds[[names]]`` (just the name; taken only when it is a
            variable of the schema, so a bug's ``KeyError`` is not mistaken
            for a damaged file).
        ds: The dataset that was indexed.

    Returns:
        The missing variable's name, or None when the error is not about a
        variable absent from ``ds`` (then it is a bug, not a damaged file).
    """
    key = error.args[0] if error.args else None
    if not isinstance(key, str):
        return None
    match = re.match(r"No variable named '([^']+)'", key)
    if match:
        name = match.group(1)
    elif key in VARIABLE_DIMS or key.startswith(ACTIVATIONS_PREFIX):
        name = key
    else:
        return None
    return name if name not in ds.variables else None
