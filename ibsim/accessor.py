"""``ds.ibsim``: ibsim's analyses on a results file opened with plain xarray.

``import ibsim`` registers the accessor, after which every :class:`xarray.Dataset`
has an ``ibsim`` attribute::

    import ibsim  # registers ds.ibsim
    import xarray as xr

    ds = xr.open_dataset("results/tishby_tanh.nc")
    ds.ibsim.config.epochs                 # the Config the file was made with
    ds.ibsim.infoplane(per_run=True)       # the infoplane plot (a matplotlib Figure)
    ds.ibsim.compression()                 # ΔI(X;T) per run and layer, with intervals
    ds.ibsim.mean_over_runs("I_XT")        # mean over the finished runs

The accessor wraps the dataset in :class:`~ibsim.results.Results`, so it offers
what ``Results.open(path)`` offers, on a dataset from any source (a file opened
with xarray, a selection of one, a dataset built in memory).

Finished runs: ``run_status`` 0 (completed) and 1 (stopped early) are finished;
2 (diverged) is left out of every mean, as the plots and
:func:`ibsim.analysis.compression.compression` leave it out.

Importing this module imports no TensorFlow.
"""
from __future__ import annotations

import warnings
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

from ibsim.errors import ConfigError, NoFiniteRunError
from ibsim.results.results import Results
from ibsim.analysis.compression import compression
from ibsim.resultsfile.schema import DIVERGED
from ibsim.plots import make_plot

if TYPE_CHECKING:  # only for annotations: importing them would load matplotlib
    from matplotlib.figure import Figure

    from ibsim.config.config import Config



@xr.register_dataset_accessor("ibsim")
class IbsimAccessor:
    """The ``ds.ibsim`` namespace of a results dataset (see the module docstring).

    xarray builds one accessor per dataset object and keeps it, so the cached
    properties (:attr:`results`, :attr:`config`) are computed once per dataset.

    Args:
        dataset: The results dataset (the layout of docs/results-format.md).
    """

    def __init__(self, dataset: xr.Dataset) -> None:
        self._ds = dataset

    # ---------------------------------------------------------------- access
    @cached_property
    def results(self) -> Results:
        """The dataset wrapped as :class:`~ibsim.results.Results` (no copy)."""
        return Results(self._ds)

    @cached_property
    def config(self) -> "Config":
        """The :class:`~ibsim.config.Config` stored in the ``config`` attribute.

        Raises:
            ResultsFileError: The dataset has no ``config`` attribute (not an
                ibsim results file).
            ConfigError: The stored config cannot be read or is not valid.
        """
        if not isinstance(self._ds.attrs.get("config"), str):
            raise self.results.file_error(
                "the dataset has no 'config' attribute: it is not an ibsim results file "
                "(docs/results-format.md)"
            )
        return self.results.config

    @property
    def finished_runs(self) -> xr.DataArray:
        """Boolean per run: True for a finished run (``run_status`` 0 completed or
        1 stopped early), False for a diverged one (2)."""
        self.results.require("run_status", needed_by="ds.ibsim (the runs' status)")
        return self._ds["run_status"] != DIVERGED

    # ------------------------------------------------------------- analyses
    def mean_over_runs(self, var: str | list[str] = "I_XT", *, estimator: str | int | None = None,
                       skipna: bool = True) -> xr.DataArray | xr.Dataset:
        """Mean of ``var`` over the finished runs; diverged runs are left out.

        Runs with ``run_status`` 0 (completed) or 1 (stopped early) count;
        runs with 2 (diverged) do not. A run that stopped early has NaN after
        its last epoch, so with ``skipna`` (the default) the mean at a later
        epoch is over the runs that reached it (as the plots draw it).

        Args:
            var: A variable with a ``run`` dimension (``"I_XT"``, ``"I_TY"``,
                ``"accuracy"``, ``"loss"``, ...), or a list of them.
            estimator: Keep only this estimate (label, name or position, as
                :meth:`Results.information` takes it); default: all estimates.
            skipna: Skip NaN values (runs that stopped before an epoch).

        Returns:
            A DataArray (one variable) or Dataset (a list) without the ``run``
            dimension, with the attributes ``runs`` (the runs averaged) and
            ``runs_left_out`` (the diverged ones) and a CF ``cell_methods``.

        Raises:
            ResultsFileError: A variable or ``run_status`` is missing.
            ConfigError: A variable has no ``run`` dimension, or the estimator
                is not in the results.
            NoFiniteRunError: Every run diverged.
        """
        names = [var] if isinstance(var, str) else list(var)
        self.results.require(*names, needed_by="ds.ibsim.mean_over_runs")
        for name in names:
            if "run" not in self._ds[name].dims:
                raise ConfigError(f"variable '{name}' has no run dimension (dims {self._ds[name].dims}); "
                                  "mean_over_runs averages over runs")
        finished = self.finished_runs
        runs = self._ds["run"].values
        kept, left_out = runs[finished.values], runs[~finished.values]
        if kept.size == 0:
            raise NoFiniteRunError(f"no finished run to average: all {runs.size} run(s) diverged (run_status = 2)")
        selected = self._ds[names].sel(run=kept)
        if estimator is not None:
            label = str(self.results.information(estimator)["estimator"].values)
            selected = selected.sel(estimator=label) if "estimator" in selected.dims else selected
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice": epochs no kept run reached
            mean = selected.mean("run", skipna=skipna, keep_attrs=True)
        for item in mean.data_vars.values():
            item.attrs.update({
                "cell_methods": "run: mean (finished runs: run_status 0 or 1; diverged runs left out)",
                "runs": [int(r) for r in kept],
                "runs_left_out": [int(r) for r in left_out],
            })
        return mean[names[0]] if isinstance(var, str) else mean

    def compression(self, estimator: str | int | None = None, **options: Any) -> xr.Dataset:
        """ΔI(X;T) = peak − final per run and layer, with its mean and bootstrap
        interval over the finished runs: :func:`ibsim.analysis.compression.compression`
        of this dataset (``first_epoch``, ``confidence``, ``n_resamples`` and
        ``seed`` pass through)."""
        return compression(self.results, estimator, **options)

    # ----------------------------------------------------------------- plots
    def plot(self, kind: str = "infoplane", path: str | Path | None = None, **options: Any) -> "Figure":
        """Draw a registered plot (a name or spec, e.g. ``"snr"`` or
        ``"infoplane(per_run=true)"``) with ``options``; save it if ``path`` is given.

        Returns:
            The matplotlib Figure.
        """
        # ibsim.plots imports matplotlib; imported here so that `import ibsim`
        # (which registers this accessor) does not load it.
        return make_plot(kind, **options).draw(self.results, path)

    def infoplane(self, path: str | Path | None = None, **options: Any) -> "Figure":
        """The information plane (mean over the finished runs); ``options`` are the
        infoplane plot's parameters (``estimator``, ``per_run``)."""
        return self.plot("infoplane", path, **options)

    def __repr__(self) -> str:
        return f"<ibsim accessor of results {self._ds.attrs.get('name', '?')!r}>"


__all__ = ["IbsimAccessor"]
