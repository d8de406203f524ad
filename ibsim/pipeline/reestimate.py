"""``ibsim estimate``: estimate again from the activations stored in a results file.

The new estimate joins the file's ``estimator`` dimension under its spec (all
parameters spelled out), so several estimates live side by side; estimating
with a spec already present replaces that slice. ``split`` estimates on the
training or test samples of a file recorded on more (``sample_split`` says
which is which): in a file of several estimated splits into that split's slot,
in a file of one under the label ``"<spec> @ <split>"``. The standard errors of an
estimator that reports them go to ``I_XT_se``/``I_TY_se``, which are added to
a file without them; an estimator without errors writes NaN there when the
file has them. The file is copied to a hidden
temporary name, extended there, and renamed over the original (or written to
``output``): an interruption leaves the original untouched.

A file that stores its activations as float16 (``activation_dtype``) is
estimated from the rounded values, with ranges rounded alike; that is not the
estimate the run made from its float32 activations, so ``estimate_file`` says
so in one line on stderr and in the file's ``history``.
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ibsim.config.network_noise import with_network_noise
from ibsim.errors import ConfigError, ResultsFileError
from ibsim.estimators import Estimator, make_estimator
from ibsim.estimators.base import ESTIMATE_COLUMNS
from ibsim.parallel import make_backend
from ibsim.pipeline.estimation import Samples, estimate_layer
from ibsim.pipeline.options import RunOptions
from ibsim.resultsfile.netcdf import netCDF4
from ibsim.resultsfile.reader import activation_dtype, open_dataset, require
from ibsim.resultsfile.schema import (MI_SPLIT_DIM, SAMPLE_SPLIT_CODES, STANDARD_ERRORS, VARIABLE_ATTRS,
                                     activation_name, stored_values)
from ibsim.resultsfile.writer import temporary_path


@dataclass(frozen=True)
class FileContext:
    """What a re-estimation unit needs: the file, the estimator, the run order."""

    path: str
    estimator: Estimator


@dataclass(frozen=True)
class FileUnit:
    """One run's recorded epochs of one layer, on one split (None: all recorded samples)."""

    run_position: int
    layer: int
    split: str | None = None

    def __str__(self) -> str:
        on = f" on {self.split}" if self.split else ""
        return f"run position {self.run_position}, layer {self.layer + 1}{on}"


def split_rows(ds, split: str | None, path: str | Path) -> np.ndarray | None:
    """The recorded samples of ``split`` (None: all of them).

    Raises:
        ConfigError: The file did not record that split's samples.
    """
    recorded = str(ds.attrs.get("recorded_split", "full_dataset"))
    if split is None or split == recorded:
        return None
    if split not in SAMPLE_SPLIT_CODES:
        raise ConfigError(f"--split must be training, test or full_dataset, got {split!r}"
                          if split != "full_dataset" else f"{path} recorded the {recorded} samples only")
    if "sample_split" not in ds.variables:
        raise ConfigError(f"{path} has no sample_split variable (written before ibsim stored it): it can be "
                          f"estimated on its recorded split ({recorded}) only")
    rows = np.flatnonzero(ds["sample_split"].values == SAMPLE_SPLIT_CODES[split])
    if rows.size == 0:
        raise ConfigError(f"{path} recorded no {split} samples (recorded split: {recorded})")
    return rows


def stored_samples(ds, rows: np.ndarray | None = None) -> Samples:
    """The labels and input groups stored in a results file (of ``rows`` only)."""
    y = ds["y"].values.astype(np.int64)
    groups = ds["input_group"].values.astype(np.int64)
    if rows is not None:
        y = y[rows]
        groups = np.unique(groups[rows], return_inverse=True)[1].astype(np.int64)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    n_classes = int(ds.attrs.get("n_classes", int(y.max()) + 1))
    return Samples(y, n_classes, None if n_groups == len(groups) else groups, n_groups)


def _subset_ranges(ds, run_position: int, slots: np.ndarray, rows: np.ndarray, layers: list[int]) -> np.ndarray:
    """(1, epochs, all layers, 2) activation ranges of one run on the samples
    ``rows``, read from the cubes of ``layers`` (NaN elsewhere and at epochs not
    in ``slots``)."""
    lo = np.full((1, ds.sizes["epoch"], ds.sizes["layer"]), np.nan)
    hi = lo.copy()
    for layer in layers:
        acts = ds[activation_name(layer + 1)].isel(run=run_position, epoch=slots).values[:, rows]
        lo[0, slots, layer], hi[0, slots, layer] = acts.min(axis=(1, 2)), acts.max(axis=(1, 2))
    return np.stack([lo, hi], axis=-1)


#: Results files that :func:`estimate_file` holds open for the units it runs in its own thread (the serial
#: backend), by path: opening the file costs some 11 ms per unit (half a millisecond of every k-NN block of
#: the smoke run's 25-epoch units). Units in other workers open the file themselves.
_OPEN_HERE = threading.local()


@contextmanager
def _held_open(path: str, here: bool) -> Iterator[None]:
    """While it lasts, the units run in this thread read ``path`` through one open dataset (``here``: the
    backend runs them in this thread; else nothing is held)."""
    if not here:
        yield
        return
    ds = open_dataset(path)
    held = getattr(_OPEN_HERE, "files", None)
    if held is None:
        held = _OPEN_HERE.files = {}
    held[path] = ds
    try:
        yield
    finally:
        held.pop(path, None)
        ds.close()


def estimate_file_unit(context: FileContext, unit: FileUnit) -> np.ndarray:
    """I(X;T), I(T;Y) and their standard errors (epochs, 4) of one run and
    layer, NaN after the run stopped (and for errors the estimator does not report)."""
    estimator = context.estimator
    shared = getattr(_OPEN_HERE, "files", {}).get(context.path)
    ds = shared if shared is not None else open_dataset(context.path)
    try:
        rows = split_rows(ds, unit.split, context.path)
        samples = stored_samples(ds, rows)
        epochs = ds["epoch"].values
        run = int(ds["run"].values[unit.run_position])
        stop = int(ds["stop_epoch"].values[unit.run_position])
        slots = np.flatnonzero(epochs <= stop)
        result = np.full((len(epochs), len(ESTIMATE_COLUMNS)), np.nan)
        if slots.size == 0:
            return result
        cube = ds[activation_name(unit.layer + 1)]
        acts = np.asarray(cube.isel(run=unit.run_position, epoch=slots).values, dtype=np.float32)
        if rows is not None:
            acts = acts[:, rows]
        ranges = None
        if estimator.range_scope:  # bins that follow the data
            if rows is None:  # the run's ranges, of the values as the file stores them
                stored = activation_dtype(ds)
                lo = stored_values(ds["activation_min"].values[unit.run_position][None], stored)
                hi = stored_values(ds["activation_max"].values[unit.run_position][None], stored)
            else:  # the split's own ranges, as a run estimating that split has them
                layers = estimator.range_layers(unit.layer, ds.sizes["layer"])
                lo, hi = np.moveaxis(_subset_ranges(ds, unit.run_position, slots, rows, layers), -1, 0)
            ranges = estimator.block_ranges(lo, hi)[0, slots, unit.layer]
        where = [(run, int(epochs[s])) for s in slots]
        result[slots] = estimate_layer(estimator, acts, samples, ranges, where, unit.layer)
        return result
    finally:
        if shared is None:
            ds.close()


@dataclass(frozen=True)
class FileLayout:
    """What re-estimation needs to know of a file before any work."""

    n_runs: int
    n_layers: int
    splits: tuple[str, ...]  # the file's mi_split coordinate; () when it estimates one split
    recorded: str  # its recorded split
    activation_dtype: str  # how it stores its activation cubes: float32 or float16
    noise_std: float  # the network's training noise (0: a noise-free network, or a file from before the key)


def _check_file(path: Path, split: str | None) -> FileLayout:
    """The layout of a results file to estimate from (on ``split``).

    Raises:
        ResultsFileError: The file cannot be read, is of a newer format or
            damaged (see :func:`~ibsim.resultsfile.reader.open_dataset`), or kept
            no activation cubes; the file is not changed.
        ConfigError: The file did not record the samples of ``split``, or
            estimates other splits (its estimates have a slot per split).
    """
    ds = open_dataset(path)
    try:
        n_layers = ds.sizes["layer"]
        require(
            ds, [activation_name(k) for k in range(1, n_layers + 1)], "ibsim estimate", path,
            hint="it was run with save_activations = false; re-run the experiment with save_activations = true "
                 "to estimate again",
        )
        splits = tuple(str(s) for s in ds[MI_SPLIT_DIM].values) if MI_SPLIT_DIM in ds.dims else ()
        if split is not None and splits and split not in splits:
            raise ConfigError(f"{path} holds estimates on {', '.join(splits)}; --split must be one of them")
        split_rows(ds, split, path)
        try:
            noise_std = float(tomllib.loads(str(ds.attrs.get("config", ""))).get("noise_std", 0.0))
        except (tomllib.TOMLDecodeError, TypeError, ValueError) as error:
            raise ResultsFileError(f"{path}: its stored config cannot be read: {error}") from None
        return FileLayout(ds.sizes["run"], n_layers, splits, str(ds.attrs.get("recorded_split", "full_dataset")),
                          activation_dtype(ds), noise_std)
    finally:
        ds.close()


def estimate_file(
    path: str | Path,
    estimator: str | Estimator,
    output: str | Path | None = None,
    split: str | None = None,
    options: RunOptions | None = None,
    **changes: Any,
) -> Path:
    """Estimate from a results file's activations and store the estimate in it.

    Args:
        path: The results file (must hold activation cubes).
        estimator: An estimator spec (``"kde_upper(variance=0.01)"``) or instance.
        output: Write the extended file here instead of replacing ``path``.
        split: Estimate on the training or test samples of a file that recorded
            more (``calculate_mi_for = "full_dataset"`` or several splits);
            default: every split the file estimates, or all its recorded samples.
        options: How to run (backend, workers, progress); units are (run, layer) pairs.
        **changes: Single run options (``backend="serial"``) over ``options``.

    Returns:
        The path written.

    Raises:
        ConfigError: The estimator is unknown or needs probe activations;
            ``sp`` without ``noise_std`` on a noise-free network, or with
            another than the file's network's (it takes the network's noise
            from the file's config when the spec leaves it out).
        ResultsFileError: The file cannot be read, is of a newer format, is
            damaged or kept no activation cubes (checked before any work;
            the file is left as it was).
    """
    options = RunOptions.from_kwargs(options, **changes)
    path = Path(path)
    layout = _check_file(path, split)
    made = make_estimator(with_network_noise(estimator, layout.noise_std))  # sp takes the network's noise
    spec = made.spec
    if made.probes:
        raise ConfigError(
            f"estimator '{spec}' bins on the network's activations on probe inputs, which are recorded during "
            "training only: list it in the config's estimator key and run the experiment"
        )
    if made.needs_inputs:
        raise ConfigError(
            f"estimator '{spec}' needs the samples' inputs, which a results file does not keep: list it in the "
            "config's estimator key and run the experiment"
        )
    n_runs, n_layers = layout.n_runs, layout.n_layers
    targets = [split] if split is not None else (list(layout.splits) or [None])
    label = spec if layout.splits or split in (None, layout.recorded) else f"{spec} @ {split}"
    units = [FileUnit(r, k, s) for s in targets for r in range(n_runs) for k in range(n_layers)]
    runner = make_backend(options.backend, options.jobs)
    rounded = layout.activation_dtype != "float32"
    if rounded and runner.is_root:
        print(float16_note(path, spec, layout.activation_dtype), file=sys.stderr, flush=True)
    try:
        with _held_open(str(path), runner.name == "serial"):
            pieces = runner.map(estimate_file_unit, FileContext(str(path), made), units, desc="estimating",
                                quiet=options.quiet)
        if not runner.is_root:
            runner.comm.Barrier()  # the others wait until rank 0 has written the file
            return Path(output or path)
        with netCDF4.Dataset(path) as nc:
            n_epochs = len(nc.dimensions["epoch"])
        values = np.full((n_runs, n_epochs, n_layers, len(targets), len(ESTIMATE_COLUMNS)), np.nan)
        for unit, piece in zip(units, pieces):
            values[unit.run_position, :, unit.layer, targets.index(unit.split)] = piece
        target = Path(output) if output else path
        slots = [layout.splits.index(s) for s in targets] if layout.splits else None
        _write_estimate(path, target, label, values, slots, made.reports_error,
                        f" (from {layout.activation_dtype} activations)" if rounded else "")
        if runner.name == "mpi":
            runner.comm.Barrier()
        return target
    finally:
        runner.close()


def float16_note(path: str | Path, spec: str, dtype: str = "float16") -> str:
    """The line ``ibsim estimate`` prints for a file whose activations are stored rounded."""
    return (f"ibsim: warning: {path} stores its activations as {dtype}: '{spec}' is estimated from those rounded "
            "values, not from the run's float32 activations, and may differ from an estimate made during the run")


def _write_estimate(source: Path, target: Path, spec: str, values: np.ndarray, slots: list[int] | None,
                    with_errors: bool = False, note: str = "") -> None:
    """Copy ``source``, add or replace the estimate ``spec`` (``values`` (runs,
    epochs, layers, splits, 4), columns :data:`~ibsim.estimators.base.ESTIMATE_COLUMNS`;
    ``slots``: their places on the file's mi_split dimension, None when it has
    none), rename onto ``target``. The standard errors are written when the
    estimator reports them (``with_errors``: the variables are added if the
    file lacks them) or the file has them already (NaN for this estimate when
    it reports none). ``note`` follows the spec in the file's ``history``."""
    tmp = temporary_path(target)
    try:
        shutil.copyfile(source, tmp)
        with netCDF4.Dataset(tmp, "a") as nc:
            labels = [str(v) for v in nc["estimator"][:]]
            index = labels.index(spec) if spec in labels else len(labels)
            nc["estimator"][index] = spec
            names = list(ESTIMATE_COLUMNS[:2])
            if with_errors or any(name in nc.variables for name in STANDARD_ERRORS.values()):
                for estimate, error in STANDARD_ERRORS.items():
                    _ensure_like(nc, error, like=estimate)
                names = list(ESTIMATE_COLUMNS)
            for position, slot in enumerate(slots if slots is not None else [None]):
                for k, name in enumerate(names):
                    if slot is None:
                        nc[name][index, :, :, :] = values[..., position, k]
                    else:
                        nc[name][index, :, :, :, slot] = values[..., position, k]
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
            history = getattr(nc, "history", "")
            nc.setncattr("history", (history + "\n" if history else "") + f"{stamp}: ibsim estimate {spec}{note}")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _ensure_like(nc: netCDF4.Dataset, name: str, like: str) -> None:
    """Add the float64 variable ``name`` of ``like``'s dimensions (NaN where
    not written, the schema's attributes) unless the file has it."""
    if name in nc.variables:
        return
    variable = nc.createVariable(name, "f8", nc[like].dimensions, zlib=True, complevel=4,
                                 fill_value=np.float64(np.nan))
    variable.setncatts(VARIABLE_ATTRS[name])
