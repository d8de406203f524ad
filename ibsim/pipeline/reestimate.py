"""``ibsim estimate``: estimate again from the activations stored in a results file.

The new estimate joins the file's ``estimator`` dimension under its spec (all
parameters spelled out), so several estimates live side by side; estimating
with a spec already present replaces that slice. The file is copied to a hidden
temporary name, extended there, and renamed over the original (or written to
``output``): an interruption leaves the original untouched.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import netCDF4
import numpy as np

from ibsim.errors import ConfigError
from ibsim.estimators import Estimator, make_estimator
from ibsim.parallel import make_backend
from ibsim.pipeline.estimation import Samples, block_ranges, estimate_layer
from ibsim.results.reader import open_dataset, require
from ibsim.results.schema import activation_name
from ibsim.results.writer import temporary_path


@dataclass(frozen=True)
class FileContext:
    """What a re-estimation unit needs: the file, the estimator, the run order."""

    path: str
    spec: str


@dataclass(frozen=True)
class FileUnit:
    """One run's recorded epochs of one layer."""

    run_position: int
    layer: int

    def __str__(self) -> str:
        return f"run position {self.run_position}, layer {self.layer + 1}"


def stored_samples(ds) -> Samples:
    """The labels and input groups stored in a results file."""
    y = ds["y"].values.astype(np.int64)
    groups = ds["input_group"].values.astype(np.int64)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    n_classes = int(ds.attrs.get("n_classes", int(y.max()) + 1))
    return Samples(y, n_classes, None if n_groups == len(groups) else groups, n_groups)


def estimate_file_unit(context: FileContext, unit: FileUnit) -> np.ndarray:
    """I(X;T), I(T;Y) (epochs, 2) of one run and layer, NaN after the run stopped."""
    estimator = make_estimator(context.spec)
    ds = open_dataset(context.path)
    try:
        samples = stored_samples(ds)
        epochs = ds["epoch"].values
        run = int(ds["run"].values[unit.run_position])
        stop = int(ds["stop_epoch"].values[unit.run_position])
        slots = np.flatnonzero(epochs <= stop)
        result = np.full((len(epochs), 2), np.nan)
        if slots.size == 0:
            return result
        cube = ds[activation_name(unit.layer + 1)]
        acts = np.asarray(cube.isel(run=unit.run_position, epoch=slots).values, dtype=np.float32)
        ranges = None
        if estimator.range_scope:
            lo = ds["activation_min"].values[unit.run_position][None]
            hi = ds["activation_max"].values[unit.run_position][None]
            ranges = block_ranges(estimator.range_scope, lo, hi)[0, slots, unit.layer]
        where = [(run, int(epochs[s])) for s in slots]
        result[slots] = estimate_layer(estimator, acts, samples, ranges, where, unit.layer)
        return result
    finally:
        ds.close()


def _check_file(path: Path) -> tuple[int, int]:
    """The numbers of runs and layers of a results file to estimate from.

    Raises:
        ResultsFileError: The file cannot be read, is of a newer format or
            damaged (see :func:`~ibsim.results.reader.open_dataset`), or kept
            no activation cubes; the file is not changed.
    """
    ds = open_dataset(path)
    try:
        n_layers = ds.sizes["layer"]
        require(
            ds, [activation_name(k) for k in range(1, n_layers + 1)], "ibsim estimate", path,
            hint="it was run with save_activations = false; re-run the experiment with save_activations = true "
                 "to estimate again",
        )
        return ds.sizes["run"], n_layers
    finally:
        ds.close()


def estimate_file(
    path: str | Path,
    estimator: str | Estimator,
    output: str | Path | None = None,
    backend: str = "auto",
    jobs: int | None = None,
    quiet: bool = True,
) -> Path:
    """Estimate from a results file's activations and store the estimate in it.

    Args:
        path: The results file (must hold activation cubes).
        estimator: An estimator spec (``"kde_upper(variance=0.01)"``) or instance.
        output: Write the extended file here instead of replacing ``path``.
        backend: "auto", "serial", "joblib" or "mpi" (units are (run, layer) pairs).
        jobs: Workers of the joblib backend.
        quiet: Hide the progress bar.

    Returns:
        The path written.

    Raises:
        ConfigError: The estimator is unknown or needs probe activations.
        ResultsFileError: The file cannot be read, is of a newer format, is
            damaged or kept no activation cubes (checked before any work;
            the file is left as it was).
    """
    path = Path(path)
    made = make_estimator(estimator)
    spec = made.spec
    if made.probes:
        raise ConfigError(
            f"estimator '{spec}' bins on the network's activations on probe inputs, which are recorded during "
            "training only: list it in the config's estimator key and run the experiment"
        )
    n_runs, n_layers = _check_file(path)
    units = [FileUnit(r, k) for r in range(n_runs) for k in range(n_layers)]
    runner = make_backend(backend, jobs)
    try:
        pieces = runner.map(estimate_file_unit, FileContext(str(path), spec), units, desc="estimating",
                            quiet=quiet)
        if not runner.is_root:
            runner.comm.Barrier()  # the others wait until rank 0 has written the file
            return Path(output or path)
        with netCDF4.Dataset(path) as nc:
            n_epochs = len(nc.dimensions["epoch"])
        values = np.full((n_runs, n_epochs, n_layers, 2), np.nan)
        for unit, piece in zip(units, pieces):
            values[unit.run_position, :, unit.layer] = piece
        target = Path(output) if output else path
        _write_estimate(path, target, spec, values)
        if runner.name == "mpi":
            runner.comm.Barrier()
        return target
    finally:
        runner.close()


def _write_estimate(source: Path, target: Path, spec: str, values: np.ndarray) -> None:
    """Copy ``source``, add or replace the estimate ``spec``, rename onto ``target``."""
    tmp = temporary_path(target)
    try:
        shutil.copyfile(source, tmp)
        with netCDF4.Dataset(tmp, "a") as nc:
            labels = [str(v) for v in nc["estimator"][:]]
            index = labels.index(spec) if spec in labels else len(labels)
            nc["estimator"][index] = spec
            nc["I_XT"][index, :, :, :] = values[..., 0]
            nc["I_TY"][index, :, :, :] = values[..., 1]
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
            history = getattr(nc, "history", "")
            nc.setncattr("history", (history + "\n" if history else "") + f"{stamp}: ibsim estimate {spec}")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
