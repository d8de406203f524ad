"""Opening results files with errors that name the file."""
from __future__ import annotations

from pathlib import Path

import xarray as xr

from ibsim.errors import ResultsFileError
from ibsim.results.schema import FORMAT_NAME


def open_dataset(path: str | Path, load: bool = False, require_complete: bool = True) -> xr.Dataset:
    """Open an ibsim results file with xarray, checking that it is one.

    Args:
        path: The file.
        load: Read everything into memory (and close the file).
        require_complete: Refuse files whose ``status`` is not "completed".

    Raises:
        ResultsFileError: The file is missing, not NetCDF, truncated, not an
            ibsim results file or (with ``require_complete``) incomplete.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(f"results file {path} does not exist")
    try:
        ds = xr.open_dataset(path, engine="netcdf4")
    except Exception as error:  # netCDF4/HDF5 raise OSError, ValueError, RuntimeError...
        raise ResultsFileError(f"{path} is not a readable NetCDF file ({type(error).__name__}: {error})") from None
    if ds.attrs.get("format") != FORMAT_NAME:
        ds.close()
        raise ResultsFileError(f"{path} is a NetCDF file but not an ibsim results file (no format = {FORMAT_NAME!r})")
    status = ds.attrs.get("status")
    if require_complete and status != "completed":
        ds.close()
        raise ResultsFileError(f"{path} is incomplete (status: {status}); it was not finished or was interrupted")
    if load:
        try:
            loaded = ds.load()
        except Exception as error:
            raise ResultsFileError(f"{path} is truncated or damaged ({type(error).__name__}: {error})") from None
        finally:
            ds.close()
        return loaded
    return ds
