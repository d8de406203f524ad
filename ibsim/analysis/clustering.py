"""Does I(X;T) move with a clustering measure? Goldfeld et al. (2019)'s claim.

Goldfeld et al. (2019) argue that in a noisy network (Gaussian noise of std β
after every hidden layer) I(X;T) falls during training exactly when the
layer's representations of the inputs cluster, and that the binned
information of earlier work measures that clustering: for a deterministic
layer and distinct inputs, I(X; Bin(T)) = H(Bin(T)), the entropy of the
occupied bins, which falls when points merge into fewer bins. With both on
file as two estimators of one results file (for example ``sp`` and
``binning(bin_size=...)``), :func:`curve_correlation` measures, per run and
layer, how closely the two curves over the recorded epochs move together
(Pearson's r), over all recorded epochs or from the first curve's peak on
(its fall), and summarises r over runs with the mean and a bootstrap
confidence interval (:func:`ibsim.analysis.compression.bootstrap_mean_ci`).

A curve that does not change over the epochs used (a layer whose I(X;T)
stays at log2 N, say) has no correlation: r is NaN there, and such runs are
left out of the mean (``n_runs`` counts the runs with an r).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ibsim.analysis.compression import _information, bootstrap_mean_ci
from ibsim.errors import ConfigError
from ibsim.results import Results

#: The fewest epochs a correlation is computed from.
MIN_POINTS = 3


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of two equally long 1-d arrays; NaN when either is constant."""
    dx, dy = x - x.mean(), y - y.mean()
    norm = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    if norm <= 1e-12 * max(1.0, np.abs(x).max(), np.abs(y).max()) ** 2:
        return float("nan")
    return float(np.clip((dx * dy).sum() / norm, -1.0, 1.0))


def curve_correlation(
    source: Results | xr.Dataset | str | Path,
    first: str | int,
    second: str | int,
    *,
    split: str | None = None,
    from_peak: bool = False,
    min_points: int = MIN_POINTS,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
) -> xr.Dataset:
    """Pearson's r over epochs between two estimators' I(X;T) curves, per run and layer.

    Args:
        source: A results file, :class:`~ibsim.results.Results` or its dataset.
        first: The first estimate (label, name or index), e.g. ``"sp"``.
        second: The second estimate, e.g. ``"binning"`` (the clustering measure).
        split: Which estimated split, for files of several (default: the first).
        from_peak: Use only the epochs from the first curve's peak (its
            largest value, per run and layer) to the end: whether the two
            fall together.
        min_points: The fewest epochs (where both curves are finite) an r is
            computed from; fewer give NaN.
        confidence: Confidence level of the intervals (0 < confidence < 1).
        n_resamples: Bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        A Dataset with, per run and layer, ``correlation`` (r, NaN where a
        curve is constant over the epochs used or has fewer than
        ``min_points``) and ``n_points``; per layer, ``mean_r``, ``ci_low``,
        ``ci_high`` (the bootstrap interval of the mean r over the runs that
        have one) and ``n_runs``. Attributes name both estimators.

    Raises:
        ConfigError: ``min_points`` < 3, ``confidence`` not in (0, 1),
            ``n_resamples`` < 1, or an estimator is not in the results.
    """
    if not isinstance(min_points, (int, np.integer)) or min_points < MIN_POINTS:
        raise ConfigError(f"min_points must be an int of at least {MIN_POINTS}, got {min_points!r}")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    if n_resamples < 1:
        raise ConfigError(f"n_resamples must be at least 1, got {n_resamples!r}")
    if isinstance(source, (str, Path)):
        with Results.open(source) as results:
            results.dataset.load()
            return curve_correlation(results, first, second, split=split, from_peak=from_peak,
                                     min_points=min_points, confidence=confidence, n_resamples=n_resamples,
                                     seed=seed)
    a, label_a = _information(source, first, split)
    b, label_b = _information(source, second, split)
    a_values, b_values = a.values, b.values  # (run, epoch, layer), the same runs
    n_run, n_epoch, n_layer = a_values.shape
    both = np.isfinite(a_values) & np.isfinite(b_values)
    if from_peak:
        peak = np.argmax(np.where(np.isfinite(a_values), a_values, -np.inf), axis=1)  # (run, layer)
        both &= np.arange(n_epoch)[None, :, None] >= peak[:, None, :]
    r = np.full((n_run, n_layer), np.nan)
    n_points = both.sum(axis=1)
    for i in range(n_run):
        for k in range(n_layer):
            if n_points[i, k] >= min_points:
                used = both[i, :, k]
                r[i, k] = _pearson(a_values[i, used, k], b_values[i, used, k])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        summary = np.array([bootstrap_mean_ci(r[:, k], confidence, n_resamples, seed) for k in range(n_layer)])
    what = f"r over epochs of {label_a} and {label_b}" + (" from the first's peak" if from_peak else "")
    return xr.Dataset(
        {
            "correlation": (("run", "layer"), r, {"long_name": what}),
            "n_points": (("run", "layer"), n_points, {"long_name": "epochs the r is computed from"}),
            "mean_r": ("layer", summary[:, 0], {"long_name": "mean r over runs"}),
            "ci_low": ("layer", summary[:, 1], {"long_name": f"{confidence:.0%} CI of the mean r, low"}),
            "ci_high": ("layer", summary[:, 2], {"long_name": f"{confidence:.0%} CI of the mean r, high"}),
            "n_runs": ("layer", np.isfinite(r).sum(axis=0), {"long_name": "runs with an r"}),
        },
        coords={"run": a["run"].values, "layer": a["layer"].values},
        attrs={"first": label_a, "second": label_b, "from_peak": int(from_peak), "confidence": confidence,
               "n_resamples": n_resamples, "method": "Pearson r per run; percentile bootstrap of the mean over runs",
               "seed": seed},
    )
