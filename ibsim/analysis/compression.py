"""Compression of I(X;T): how far each layer's information falls from its peak.

Saxe et al. (2018) ask whether a layer "compresses": whether I(X;T) rises
during fitting and then falls. :func:`compression` measures it per run and
layer as

    ΔI(X;T) = max over recorded epochs of I(X;T) − I(X;T) at the last recorded epoch

(bits; 0 when the last epoch is the peak, so ΔI ≥ 0 always) and summarises it
over runs with the mean and a bootstrap confidence interval of the mean
(:func:`scipy.stats.bootstrap`, percentile method, resampling runs). The
maximum of a noisy curve lies above its typical value, so ΔI of a flat but
noisy curve is small and positive, not 0: compare it with the run-to-run
spread of I(X;T) at the end (``final_std``) before calling a layer compressed.

Runs that diverged are left out; a run that stopped early contributes its last
recorded epoch before the stop.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping

import numpy as np
import xarray as xr

from ibsim.errors import ConfigError
from ibsim.results import Results
from ibsim.resultsfile.schema import DIVERGED



def _information(source: Results | xr.Dataset | str | Path, estimator: str | int | None,
                 split: str | None = None) -> tuple[xr.DataArray, str]:
    """I(X;T) (run, epoch, layer) of the completed runs on one estimated split,
    and the estimator's label."""
    if isinstance(source, (str, Path)):
        with Results.open(source) as results:
            results.dataset.load()
            return _information(results, estimator, split)
    results = source if isinstance(source, Results) else Results(source)
    info = results.information(estimator, split)
    label = str(info["estimator"].values) if "estimator" in info.coords else str(estimator)
    i_xt = info["I_XT"].transpose("run", "epoch", "layer")
    if "run_status" in results.dataset:
        i_xt = i_xt.sel(run=results.dataset["run_status"].values != DIVERGED)
    return i_xt, label


def bootstrap_mean_ci(values: np.ndarray, confidence: float = 0.95, n_resamples: int = 9999,
                      seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``values`` and a percentile-bootstrap confidence interval of it.

    Args:
        values: One number per run (NaN values are left out).
        confidence: Confidence level of the interval.
        n_resamples: Bootstrap resamples.
        seed: Seed of the resampling (the interval is reproducible).

    Returns:
        (mean, low, high); NaN for all three when no value is finite, and the
        mean for both ends when there is one value or all values are equal.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"),) * 3
    mean = float(values.mean())
    if values.size == 1 or np.all(values == values[0]):
        return mean, mean, mean
    from scipy import stats  # heavy (0.6 s): imported when an interval is asked for

    result = stats.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                             method="percentile", random_state=np.random.default_rng(seed))
    return mean, float(result.confidence_interval.low), float(result.confidence_interval.high)


def compression(
    source: Results | xr.Dataset | str | Path,
    estimator: str | int | None = None,
    *,
    split: str | None = None,
    first_epoch: int = 0,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
) -> xr.Dataset:
    """ΔI(X;T) = peak − final per run and layer, with its mean and bootstrap interval over runs.

    Args:
        source: A results file, :class:`~ibsim.results.Results` or its dataset.
        estimator: Which estimate (label, name or index; default: the first).
        split: Which estimated split, for files of several (default: the first).
        first_epoch: Leave out recorded epochs before this one (e.g. 1 to skip
            the initial network, which a max-norm constraint has not yet touched).
        confidence: Confidence level of the intervals (0 < confidence < 1).
        n_resamples: Bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        A Dataset with, per run and layer, ``delta_I_XT``, ``peak_I_XT``,
        ``final_I_XT`` and ``peak_epoch``; per layer, ``mean_delta``,
        ``ci_low`` and ``ci_high`` (the interval of the mean ΔI), ``final_std``
        (spread of the final I(X;T) over runs) and ``n_runs``. Attributes name
        the estimator, the confidence level and the method.

    Raises:
        ConfigError: ``confidence`` is not in (0, 1), ``n_resamples`` < 1, or
            the estimator is not in the results.
    """
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    if n_resamples < 1:
        raise ConfigError(f"n_resamples must be at least 1, got {n_resamples!r}")
    i_xt, label = _information(source, estimator, split)
    i_xt = i_xt.sel(epoch=i_xt["epoch"] >= first_epoch)
    if i_xt.sizes["epoch"] == 0:
        raise ConfigError(f"no recorded epoch at or after first_epoch={first_epoch}")
    values = i_xt.values  # (run, epoch, layer)
    n_run, _, n_layer = values.shape
    finite = np.isfinite(values)
    has_any = finite.any(axis=1)  # (run, layer)
    last = values.shape[1] - 1 - np.argmax(finite[:, ::-1, :], axis=1)  # last finite epoch index
    final = np.where(has_any, np.take_along_axis(values, last[:, None, :], axis=1)[:, 0, :], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices of runs without estimates
        peak = np.nanmax(values, axis=1)
    peak_index = np.argmax(np.where(finite, values, -np.inf), axis=1)
    epochs = i_xt["epoch"].values
    peak_epoch = np.where(has_any, epochs[peak_index], -1)
    delta = peak - final
    summary = np.array([bootstrap_mean_ci(delta[:, k], confidence, n_resamples, seed) for k in range(n_layer)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        final_std = np.nanstd(final, axis=0, ddof=1) if n_run > 1 else np.full(n_layer, np.nan)
    bits = {"units": "bits"}
    coords = {"run": i_xt["run"].values, "layer": i_xt["layer"].values}
    return xr.Dataset(
        {
            "delta_I_XT": (("run", "layer"), delta, {**bits, "long_name": "ΔI(X;T) = peak − final"}),
            "peak_I_XT": (("run", "layer"), peak, {**bits, "long_name": "peak I(X;T)"}),
            "final_I_XT": (("run", "layer"), final, {**bits, "long_name": "final I(X;T)"}),
            "peak_epoch": (("run", "layer"), peak_epoch, {"long_name": "epoch of the peak"}),
            "mean_delta": ("layer", summary[:, 0], {**bits, "long_name": "mean ΔI(X;T) over runs"}),
            "ci_low": ("layer", summary[:, 1], {**bits, "long_name": f"{confidence:.0%} CI of the mean, low"}),
            "ci_high": ("layer", summary[:, 2], {**bits, "long_name": f"{confidence:.0%} CI of the mean, high"}),
            "final_std": ("layer", final_std, {**bits, "long_name": "std of the final I(X;T) over runs"}),
            "n_runs": ("layer", np.isfinite(delta).sum(axis=0), {"long_name": "runs with an estimate"}),
        },
        coords=coords,
        attrs={"estimator": label, "first_epoch": first_epoch, "confidence": confidence, "n_resamples": n_resamples,
               "method": "percentile bootstrap of the mean over runs", "seed": seed},
    )


def interval_text(mean: float, low: float, high: float) -> str:
    """A table cell ``"mean [low, high]"``, two decimals."""
    return f"{mean:.2f} [{low:.2f}, {high:.2f}]"


def spread_text(mean: float, std: float) -> str:
    """A table cell ``"mean ± std"``, two decimals."""
    return f"{mean:.2f} ± {std:.2f}"


def compression_table(deltas: Mapping[str, Mapping[str, xr.Dataset]], group: str = "estimator",
                      series: str = "activation") -> str:
    """Markdown tables of :func:`compression` results: ΔI(X;T) per layer as
    "mean [low, high]", then the final I(X;T) as "mean ± std" over runs.

    Args:
        deltas: ``{group label: {series label: compression dataset}}``, e.g.
            ``{"binning": {"tanh": ..., "relu": ...}}``; all with the same layers.
        group: Header of the first column.
        series: Header of the second column.

    Returns:
        The two tables, with a line of text before the second.
    """
    first = next(iter(next(iter(deltas.values())).values()))
    layers = [int(layer) for layer in first["layer"].values]
    head = f"| {group} | {series} | " + " | ".join(f"layer {k}" for k in layers) + " |"
    rule = "|" + "---|" * (len(layers) + 2)

    def rows(cell) -> list[str]:
        return [f"| {g} | {s} | " + " | ".join(cell(result)) + " |"
                for g, by_series in deltas.items() for s, result in by_series.items()]

    interval = rows(lambda r: [interval_text(m, lo, hi) for m, lo, hi in
                               zip(r["mean_delta"].values, r["ci_low"].values, r["ci_high"].values)])
    final = rows(lambda r: [spread_text(m, s) for m, s in
                            zip(r["final_I_XT"].mean("run").values, r["final_I_XT"].std("run", ddof=1).values)])
    return "\n".join([head, rule, *interval, "", "Final I(X;T) (mean ± std over runs, bits), for scale:", "",
                      head, rule, *final])
