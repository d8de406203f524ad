"""The compiled kernels, validated, with their NumPy twins.

Nothing else in ibsim imports :mod:`ibsim_ext`. Each public function here checks
its inputs, allocates the output, chooses the thread count and calls the
compiled kernel; :data:`KERNELS` maps each kernel name to ``(fast, reference)``
so one parametrised test can hold every kernel to its twin.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ibsim.errors import EstimatorError
from ibsim.estimators import reference
from ibsim.threads import kernel_threads

try:
    from ibsim_ext import _binning, _kde
except ImportError as error:  # pragma: no cover - a broken install
    raise ImportError(
        "ibsim's compiled kernels (ibsim_ext) are not built; reinstall with "
        "`pip install -e .` (needs a C compiler)"
    ) from error

#: What each kernel status code means (the codes are common.h's, one list for every kernel).
_STATUS = {
    _kde.STATUS_NONFINITE: "NaN or infinite activations",
    _kde.STATUS_CODE_OVERFLOW: "bin codes overflow int64 (activations too large for the bin width)",
    _kde.STATUS_NO_MEMORY: "out of memory",
}


#: Every integer in [0, 2**23) plus one half is a float32 value (24-bit significand).
_FLOAT32_HALVES = 2**23


def _shaped(acts: np.ndarray) -> np.ndarray:
    """Check that activations are (blocks, samples, neurons) with a sample and a neuron."""
    acts = np.asarray(acts)
    if acts.ndim != 3:
        raise EstimatorError(f"activations must be (blocks, samples, neurons), got shape {acts.shape}")
    if acts.shape[1] == 0 or acts.shape[2] == 0:
        raise EstimatorError(f"activations need at least one sample and one neuron, got shape {acts.shape}")
    return acts


def _blocks(acts: np.ndarray) -> np.ndarray:
    """Check and convert activations to C-contiguous float32 (blocks, samples, neurons)."""
    return np.ascontiguousarray(_shaped(acts), dtype=np.float32)


def check_finite_blocks(acts: np.ndarray) -> None:
    """Refuse (blocks, N, d) activations holding NaN or infinite values.

    Raises:
        BlockError: Names the first such block (``block``), how many of its
            values are NaN or infinite and in which neurons, in the words of the
            kernels' own status ("NaN or infinite activations").
    """
    finite = np.isfinite(acts)
    if finite.all():
        return
    block = int(np.flatnonzero(~finite.all(axis=(1, 2)))[0])
    bad = ~finite[block]
    neurons = np.flatnonzero(bad.any(axis=0)).tolist()
    shown = ", ".join(map(str, neurons[:10])) + (", ..." if len(neurons) > 10 else "")
    raise BlockError(
        f"{_STATUS[_kde.STATUS_NONFINITE]} ({int(bad.sum())} of {bad.size} values, in neuron(s) {shown})", block
    )


def _raise_for(status: np.ndarray) -> None:
    if status.size == 1 and not status[0]:  # one block, fine: skips the array reductions below
        return
    if status.any():
        bad = np.flatnonzero(status)
        raise BlockError(_STATUS.get(int(status[bad[0]]), f"kernel status {status[bad[0]]}"), int(bad[0]))


class BlockError(EstimatorError):
    """A kernel refused one block; ``block`` is its index in the flattened input."""

    def __init__(self, message: str, block: int):
        super().__init__(message)
        self.block = block


#: Placeholder for absent label/group arrays (the kernel does not read it).
_UNUSED = np.zeros(1, dtype=np.int64)


def _per_block(value: float | np.ndarray, n_blocks: int, name: str, positive: bool = False) -> np.ndarray:
    """One float64 per block from a scalar or an array; finite (and > 0 if ``positive``)."""
    if isinstance(value, (float, int)):  # the common case, kept cheap: this runs once per kernel call
        if not math.isfinite(value) or (positive and value <= 0):
            raise EstimatorError(f"{name} must be finite{' and > 0' if positive else ''}, got {value!r}")
        array = np.empty(n_blocks)
        array.fill(value)
        return array
    array = np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=np.float64), (n_blocks,)))
    if not np.all(np.isfinite(array)) or (positive and np.any(array <= 0)):
        raise EstimatorError(f"{name} must be finite{' and > 0' if positive else ''}, got {value!r}")
    return array


def _index_array(values: np.ndarray | None, n_values: int, n: int, name: str) -> np.ndarray:
    if values is None or n_values == 0:
        return _UNUSED
    values = np.ascontiguousarray(values, dtype=np.int64)
    if values.shape != (n,):
        raise EstimatorError(f"{name} must have one entry per sample ({n}), got shape {values.shape}")
    if n and (values.min() < 0 or values.max() >= n_values):
        raise EstimatorError(f"{name} must lie in [0, {n_values}), got [{values.min()}, {values.max()}]")
    return values


def binned_entropies(
    acts: np.ndarray,
    lo: float | np.ndarray,
    width: float | np.ndarray,
    n_bins: int = 0,
    labels: np.ndarray | None = None,
    n_labels: int = 0,
    groups: np.ndarray | None = None,
    n_groups: int = 0,
    num_threads: int | None = None,
) -> np.ndarray:
    """H(T), H(T|Y), H(T|X) in bits of binned activation patterns, per block.

    The code of an activation t is ``floor((t - lo) / width)`` computed in
    float64 (:func:`ibsim.estimators.reference.bin_codes`). The compiled kernel
    reads float32, so activations of any other dtype are converted to float32,
    except float64 ones, which are binned exactly as given: when every value is
    a float32 (``t.astype(np.float32) == t``) the kernel bins them as they are;
    otherwise (rounding to float32 could move a value beside a bin edge into
    the next bin) their codes are computed in float64 by NumPy and only counted
    by the kernel.

    Args:
        acts: (blocks, N, d) activations: float32 (others are converted to
            float32), or float64, binned in float64 (see above).
        lo: Lower edge of bin 0, a scalar or one per block.
        width: Bin width (> 0), a scalar or one per block.
        n_bins: Clip codes to ``[0, n_bins - 1]`` when > 0; unbounded when 0.
        labels: (N,) class per sample in ``[0, n_labels)``; n_labels 0 skips H(T|Y).
        groups: (N,) identical-input group per sample in ``[0, n_groups)``;
            n_groups 0 or N (all inputs distinct) gives H(T|X) = 0.
        num_threads: Threads over blocks (default: this worker's share).

    Returns:
        (blocks, 3) float64: H(T), H(T|Y), H(T|X).

    Raises:
        BlockError: A block holds NaN/inf, or codes overflow; names the block.
        EstimatorError: Malformed arguments.
    """
    acts = _shaped(acts)
    n_blocks, n, d = acts.shape
    lo_b = _per_block(lo, n_blocks, "lo")
    width_b = _per_block(width, n_blocks, "bin width", positive=True)
    if not 0 <= n_bins < 2**31:
        raise EstimatorError(f"n_bins must be in [0, 2**31), got {n_bins}")
    labels_a = _index_array(labels, n_labels, n, "labels")
    groups_a = _index_array(groups, n_groups, n, "groups")
    threads = max(1, min(num_threads or kernel_threads(), n_blocks))
    counted = dict(labels=labels_a, n_labels=n_labels, groups=groups_a, n_groups=n_groups, threads=threads)
    if acts.dtype != np.float64:
        return _kernel_entropies(_blocks(acts), lo_b, width_b, n_bins, **counted)
    with np.errstate(over="ignore"):  # values beyond float32's range become inf: not float32 values
        acts32 = acts.astype(np.float32)
    if np.array_equal(acts32, acts):  # every value a float32: the kernel bins them exactly
        return _kernel_entropies(np.ascontiguousarray(acts32), lo_b, width_b, n_bins, **counted)
    return _float64_entropies(acts, lo_b, width_b, n_bins, **counted)


def _kernel_entropies(
    acts: np.ndarray, lo: np.ndarray, width: np.ndarray, n_bins: int, labels: np.ndarray, n_labels: int,
    groups: np.ndarray, n_groups: int, threads: int,
) -> np.ndarray:
    """The compiled kernel on checked arguments: C-contiguous float32 ``acts``, per-block ``lo``, ``width``."""
    out = np.zeros((len(acts), 3))
    status = np.zeros(len(acts), dtype=np.int32)
    _binning.binned_entropies(
        acts, lo, width, int(n_bins), labels, int(n_labels), groups, int(n_groups), out, status, threads
    )
    _raise_for(status)
    return out


def _float64_entropies(
    acts: np.ndarray, lo: np.ndarray, width: np.ndarray, n_bins: int, labels: np.ndarray, n_labels: int,
    groups: np.ndarray, n_groups: int, threads: int,
) -> np.ndarray:
    """Entropies of float64 activations binned in float64: NumPy codes, counted by the kernel.

    The entropies depend only on which rows share codes, so each block's codes,
    less each neuron's smallest, go to the kernel as float32 values ``code``
    with ``lo = -0.5`` and width 1: exact (integers and halves below 2**23 are
    float32 values), and mid-bin, where the kernel's fast path codes them. A
    block whose codes span 2**23 or more bins is left to the NumPy twin.
    """
    check_finite_blocks(acts)
    codes = np.empty(acts.shape, dtype=np.float32)
    wide = []
    for b, block in enumerate(acts):
        try:
            with np.errstate(over="ignore"):  # an infinite quotient is refused as an overflow
                block_codes = reference.bin_codes(block, lo[b], width[b], n_bins)
        except EstimatorError:  # the values are finite: the codes overflow int64
            raise BlockError(_STATUS[_kde.STATUS_CODE_OVERFLOW], b) from None
        block_codes -= block_codes.min(axis=0)
        if block_codes.max() < _FLOAT32_HALVES:
            codes[b] = block_codes
        else:
            codes[b] = 0.0
            wide.append(b)
    out = _kernel_entropies(codes, np.full(len(acts), -0.5), np.ones(len(acts)), 0, labels, n_labels, groups,
                            n_groups, threads)
    for b in wide:
        out[b] = reference.binned_entropies(acts[b : b + 1], lo[b : b + 1], width[b : b + 1], n_bins,
                                            labels, n_labels, groups, n_groups)[0]
    return out


def kde_log_sums(
    acts: np.ndarray, labels: np.ndarray, n_labels: int, scale: float, num_threads: int | None = None
) -> np.ndarray:
    """Mean log Gaussian-kernel sums per block, for the KDE bounds.

    With ``S_i = sum_j exp(-scale |t_i - t_j|^2)`` (all rows, ``i`` included) and
    ``S_i^c`` the same over rows with ``t_i``'s label, returns
    ``(mean_i log S_i, mean_i log S_i^c)`` per block, exact to float64 rounding,
    in memory O(N d).

    Args:
        acts: (blocks, N, d) activations (converted to C-contiguous float32).
        labels: (N,) labels in ``[0, n_labels)``.
        n_labels: Number of labels (>= 1).
        scale: ``1 / (2 variance)``, > 0.
        num_threads: Threads within each block (default: this worker's share).

    Returns:
        (blocks, 2) float64.
    """
    acts = _blocks(acts)
    n_blocks, n, _ = acts.shape
    if not (math.isfinite(scale) and scale > 0):
        raise EstimatorError(f"kernel scale must be finite and > 0, got {scale!r}")
    if n_labels < 1:
        raise EstimatorError(f"n_labels must be >= 1, got {n_labels}")
    labels_a = _index_array(labels, n_labels, n, "labels")
    out = np.zeros((n_blocks, 2))
    status = np.zeros(n_blocks, dtype=np.int32)
    _kde.kde_log_sums(acts, labels_a, int(n_labels), float(scale), out, status, max(1, num_threads or kernel_threads()))
    _raise_for(status)
    return out


#: name → (compiled, NumPy reference). The reference has the same arguments,
#: minus ``num_threads``.
KERNELS: dict[str, tuple[Callable, Callable]] = {
    "binned_entropies": (binned_entropies, reference.binned_entropies),
    "kde_log_sums": (kde_log_sums, reference.kde_log_sums),
}
