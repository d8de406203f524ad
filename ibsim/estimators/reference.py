"""Plain NumPy twins of the compiled kernels: the oracle of the tests.

Each function here has the same name, arguments and results as its compiled
counterpart in :mod:`ibsim.estimators.kernels` and is written as the textbook
formula, for clarity rather than speed. The tests run both over one generator of
hostile inputs and require the same values (to float64 rounding) or the same
error.
"""
from __future__ import annotations

import numpy as np

from ibsim.errors import EstimatorError

CODE_LIMIT = 4.0e18


def _entropy_bits(rows: np.ndarray) -> float:
    """Entropy in bits of the empirical distribution of the rows of ``rows``."""
    _, counts = np.unique(rows, axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log2(p)))


def _conditional_entropy_bits(rows: np.ndarray, given: np.ndarray) -> float:
    """H(rows | given) = sum_v p(v) H(rows | given = v)."""
    total = 0.0
    for value in np.unique(given):
        mask = given == value
        total += mask.mean() * _entropy_bits(rows[mask])
    return total


def bin_codes(t: np.ndarray, lo: float, width: float, n_bins: int) -> np.ndarray:
    """Bin codes ``floor((t - lo) / width)`` in float64, clipped to
    ``[0, n_bins - 1]`` when ``n_bins > 0``; the definition the kernel follows."""
    t = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(t)):
        raise EstimatorError("activations contain NaN or infinite values")
    codes = np.floor((t - lo) / width)
    if n_bins > 0:
        codes = np.clip(codes, 0, n_bins - 1)
    elif np.any(np.abs(codes) > CODE_LIMIT):
        raise EstimatorError("bin codes overflow: activations too large for the bin width")
    return codes.astype(np.int64)


def binned_entropies(
    acts: np.ndarray,
    lo: np.ndarray,
    width: np.ndarray,
    n_bins: int = 0,
    labels: np.ndarray | None = None,
    n_labels: int = 0,
    groups: np.ndarray | None = None,
    n_groups: int = 0,
) -> np.ndarray:
    """H(T), H(T|Y), H(T|X) in bits per block (the twin of the compiled kernel).

    Args:
        acts: (blocks, N, d) activations: float64 ones are binned as given,
            any other dtype as float32 (as the kernel reads them).
        lo: (blocks,) lower edge of bin 0.
        width: (blocks,) bin width.
        n_bins: Clip codes to [0, n_bins - 1] when > 0.
        labels: (N,) class per sample; ``n_labels`` 0 skips H(T|Y).
        groups: (N,) index of the sample's group of identical inputs;
            ``n_groups`` 0 (or N, all distinct) gives H(T|X) = 0.

    Returns:
        (blocks, 3) float64.
    """
    acts = np.asarray(acts)
    if acts.dtype != np.float64:
        acts = acts.astype(np.float32)  # activations are float32, as in the kernel
    out = np.zeros((acts.shape[0], 3))
    for b in range(acts.shape[0]):
        codes = bin_codes(acts[b], lo[b], width[b], n_bins)
        out[b, 0] = _entropy_bits(codes)
        if n_labels > 0:
            out[b, 1] = _conditional_entropy_bits(codes, labels)
        if 0 < n_groups < acts.shape[1]:
            out[b, 2] = _conditional_entropy_bits(codes, groups)
    return out


def kde_log_sums(acts: np.ndarray, labels: np.ndarray, n_labels: int, scale: float) -> np.ndarray:
    """Mean log Gaussian-kernel sums per block (the twin of the compiled kernel).

    With ``S_i = sum_j exp(-scale |t_i - t_j|^2)`` over all rows and ``S_i^c`` the
    same over rows of ``t_i``'s label, returns ``(mean_i log S_i,
    mean_i log S_i^c)`` per block: the dense textbook formula with the full
    N x N matrix.

    Args:
        acts: (blocks, N, d) activations.
        labels: (N,) labels in [0, n_labels).
        n_labels: Number of labels.
        scale: 1 / (2 variance).

    Returns:
        (blocks, 2) float64.
    """
    acts = np.asarray(acts, dtype=np.float32).astype(np.float64)
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None, :]
    out = np.zeros((acts.shape[0], 2))
    for b, x in enumerate(acts):
        if not np.all(np.isfinite(x)):
            raise EstimatorError("activations contain NaN or infinite values")
        dists = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1)
        kernel = np.exp(-scale * dists)
        out[b, 0] = np.mean(np.log(kernel.sum(axis=1)))
        out[b, 1] = np.mean(np.log((kernel * same).sum(axis=1)))
    return out
