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
    from ibsim_ext import _renyi
    from ibsim_ext import _edge
    from ibsim_ext import _knn
    from ibsim_ext import _sp
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


def _threads(num_threads: int | None, n_blocks: int | None = None) -> int:
    """Threads for a kernel call: ``num_threads``, else this worker's share; at
    least 1, and at most one per block for kernels parallel over blocks."""
    threads = max(1, num_threads or kernel_threads())
    return threads if n_blocks is None else max(1, min(threads, n_blocks))


def _positive_scalar(value: float, name: str) -> float:
    """A finite scalar > 0, as a float."""
    if not (math.isfinite(value) and value > 0):
        raise EstimatorError(f"{name} must be finite and > 0, got {value!r}")
    return float(value)


def _label_array(labels: np.ndarray, n_labels: int, n: int) -> np.ndarray:
    """Labels a kernel needs: ``n_labels`` >= 1 and one label in [0, n_labels) per sample."""
    if n_labels < 1:
        raise EstimatorError(f"n_labels must be >= 1, got {n_labels}")
    return _index_array(labels, n_labels, n, "labels")


def _outputs(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A zeroed float64 output of ``shape`` and an int32 status per block (``shape[0]``)."""
    return np.zeros(shape), np.zeros(shape[0], dtype=np.int32)


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
    threads = _threads(num_threads, n_blocks)
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
    out, status = _outputs((len(acts), 3))
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
    acts: np.ndarray, labels: np.ndarray, n_labels: int, scale: float, num_threads: int | None = None,
    portable: bool = False,
) -> np.ndarray:
    """Mean log Gaussian-kernel sums per block, for the KDE bounds.

    With ``S_i = sum_j exp(-scale |t_i - t_j|^2)`` (all rows, ``i`` included) and
    ``S_i^c`` the same over rows with ``t_i``'s label, returns
    ``(mean_i log S_i, mean_i log S_i^c)`` per block, in memory O(N d). Each
    sum is within a relative 2^-36 + 2^-37 + 2e-13 of exact, so each mean log
    within 2.2e-11 nats (``ibsim_ext/kde_core.h``).

    Args:
        acts: (blocks, N, d) activations (converted to C-contiguous float32).
        labels: (N,) labels in ``[0, n_labels)``.
        n_labels: Number of labels (>= 1).
        scale: ``1 / (2 variance)``, > 0.
        num_threads: Threads within each block (default: this worker's share).
        portable: Run the portable kernel even where the AVX-512 one would
            (the tests hold both to the reference); the same bound.

    Returns:
        (blocks, 2) float64.
    """
    acts = _blocks(acts)
    n_blocks, n, _ = acts.shape
    scale = _positive_scalar(scale, "kernel scale")
    labels_a = _label_array(labels, n_labels, n)
    out, status = _outputs((n_blocks, 2))
    _kde.kde_log_sums(acts, labels_a, int(n_labels), scale, out, status, _threads(num_threads), bool(portable))
    _raise_for(status)
    return out


#: Whether this CPU runs the KDE kernel's AVX-512 version (else the portable one).
KDE_AVX512 = bool(_kde.HAS_AVX512)


def renyi2_entropies(
    acts: np.ndarray,
    sigma: float | np.ndarray,
    labels: np.ndarray | None = None,
    n_labels: int = 0,
    groups: np.ndarray | None = None,
    n_groups: int = 0,
    num_threads: int | None = None,
) -> np.ndarray:
    """Order-2 matrix-based Rényi entropies in bits per block, from pair sums.

    With the Gram matrix ``K_ij = exp(-|t_i - t_j|^2 / (2 sigma^2))`` and
    ``A = K / N``: ``S_2(A) = -log2 sum_ij A_ij^2``, and the joint entropies
    with the labels and the input groups (discrete kernels ``[y_i == y_j]``):
    ``S_2(A∘B / tr(A∘B)) = -log2 (sum_{ij: y_i == y_j} K_ij^2 / N^2)``. Exact to
    float64 rounding, in memory O(N d) (never the N x N matrix); see
    ``ibsim_ext/renyi_core.h``.

    Args:
        acts: (blocks, N, d) activations (converted to C-contiguous float32).
        sigma: Kernel width (> 0), a scalar or one per block.
        labels: (N,) labels in ``[0, n_labels)``; ``n_labels`` 0: no labels
            (the joint equals S_2(A)).
        groups: (N,) identical-input groups in ``[0, n_groups)``; ``n_groups``
            0 or N (all inputs distinct): the joint is ``log2 N``.
        num_threads: Threads within each block (default: this worker's share).

    Returns:
        (blocks, 3) float64: S_2(T), S_2(T, Y), S_2(T, X) in bits.
    """
    acts = _blocks(acts)
    n_blocks, n, _ = acts.shape
    sigma_b = _per_block(sigma, n_blocks, "kernel width sigma", positive=True)
    scale = np.ascontiguousarray(1.0 / sigma_b**2)
    if not np.all(np.isfinite(scale)):
        raise EstimatorError(f"kernel width sigma too small: 1 / sigma^2 overflows, got {sigma!r}")
    zeros = np.zeros(n, dtype=np.int64)
    labels_a = _index_array(labels, n_labels, n, "labels") if n_labels else zeros
    distinct = n_groups in (0, n)
    groups_a = zeros if distinct else _index_array(groups, n_groups, n, "groups")
    out, status = _outputs((n_blocks, 3))
    _renyi.renyi2_pair_sums(acts, labels_a, groups_a, scale, out, status, _threads(num_threads))
    _raise_for(status)
    entropies = 2.0 * math.log2(n) - np.log2(out)
    if distinct:
        entropies[:, 2] = math.log2(n)
    return entropies


def edge_base_estimates(
    acts: np.ndarray,
    width: np.ndarray,
    factor: np.ndarray,
    shift: np.ndarray,
    hash_seed: int,
    n_buckets: int,
    labels: np.ndarray,
    n_labels: int,
    groups: np.ndarray | None = None,
    n_groups: int = 0,
    num_threads: int | None = None,
) -> np.ndarray:
    """I(X;T) and I(T;Y) in nats of every EDGE base estimator (one per ensemble member), per block.

    Member l hashes each sample's activations with ``floor(t_k / (factor[l] *
    width[b, k]) + shift[l, k])`` per neuron (H1, float64), then the code vector
    into one of ``n_buckets`` buckets (H2, ``ib_mix`` salted with ``hash_seed +
    l``), and counts the dependence graph's edges against the labels and the
    input groups (:func:`ibsim.estimators.reference.edge_base_estimates` is the
    definition). O(N d) per member.

    Args:
        acts: (blocks, N, d) activations (converted to C-contiguous float32).
        width: (blocks, d) base bin width per neuron, finite and > 0.
        factor: (members,) width factors, finite and > 0.
        shift: (members, d) random shifts (fractions of a bin), finite.
        hash_seed: Salt of the second hash, in [0, 2**64).
        n_buckets: Buckets of the second hash, in [1, 2**64).
        labels: (N,) labels in ``[0, n_labels)``.
        n_labels: Number of labels (>= 1).
        groups: (N,) identical-input group per sample in ``[0, n_groups)``;
            None, 0 or N groups: every input distinct.
        num_threads: Threads over blocks (default: this worker's share).

    Returns:
        (blocks, members, 2) float64, nats.

    Raises:
        BlockError: A block holds NaN/inf, or a hash code overflows int64; names the block.
        EstimatorError: Malformed arguments.
    """
    acts = _blocks(acts)
    n_blocks, n, d = acts.shape
    width_a = np.ascontiguousarray(np.asarray(width, dtype=np.float64))
    factor_a = np.ascontiguousarray(np.asarray(factor, dtype=np.float64).ravel())
    shift_a = np.ascontiguousarray(np.asarray(shift, dtype=np.float64))
    if width_a.shape != (n_blocks, d) or not np.all(np.isfinite(width_a)) or np.any(width_a <= 0):
        raise EstimatorError(f"width must be (blocks, neurons) = {(n_blocks, d)}, finite and > 0")
    if factor_a.size == 0 or not np.all(np.isfinite(factor_a)) or np.any(factor_a <= 0):
        raise EstimatorError(f"factor must be a non-empty vector, finite and > 0, got {factor!r}")
    if shift_a.shape != (factor_a.size, d) or not np.all(np.isfinite(shift_a)):
        raise EstimatorError(f"shift must be (members, neurons) = {(factor_a.size, d)} and finite")
    if not 0 <= int(hash_seed) < 2**64 or not 1 <= int(n_buckets) < 2**64:
        raise EstimatorError(f"hash_seed must be in [0, 2**64) and n_buckets in [1, 2**64), got "
                             f"{hash_seed}, {n_buckets}")
    labels_a = _label_array(labels, n_labels, n)
    distinct = groups is None or n_groups == 0 or n_groups >= n
    groups_a = _UNUSED if distinct else _index_array(groups, n_groups, n, "groups")
    out, status = _outputs((n_blocks, factor_a.size, 2))
    _edge.edge_base_estimates(acts, width_a, factor_a, shift_a, int(hash_seed), int(n_buckets), labels_a,
                              int(n_labels), groups_a, 0 if distinct else int(n_groups), out, status,
                              _threads(num_threads, n_blocks))
    _raise_for(status)
    return out


#: The k-NN kernels' metrics (``split``: see :func:`knn_kth_distance`).
KNN_METRICS = ("chebyshev", "euclidean")

#: Fewer points than this are searched on one thread: starting and joining a
#: parallel region costs more than a small search (and much more on a busy machine).
#: On a quiet 2-core machine two threads gained 1.5-1.7x for Ross's search over
#: 1024 samples (widths 10 and 4 of the main job), 1.0-1.3x for the k-th distances
#: and counts over 1024 points; at 512 some searches lost (up to 1.3x). Blocks of
#: 4096 samples (the main job's) use two threads either way.
KNN_PARALLEL_MIN = 1024


def _knn_threads(n: int, num_threads: int | None) -> int:
    if num_threads is None and n < KNN_PARALLEL_MIN:
        return 1
    return max(1, num_threads or kernel_threads())


def _knn_points(points: np.ndarray, metric: str, split: int | None) -> tuple[np.ndarray, int, int]:
    """Check k-NN points (N, d) and the metric; float64 C-contiguous points, metric code, split.

    NaN and infinite coordinates are the kernel's to refuse (it reads every
    coordinate before it builds its tree): :func:`_raise_for_points`.
    """
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] == 0:
        raise EstimatorError(f"points must be (samples, dimensions) with at least one of each, got {points.shape}")
    if metric not in KNN_METRICS:
        raise EstimatorError(f"metric must be one of {KNN_METRICS}, got {metric!r}")
    points = np.ascontiguousarray(points, dtype=np.float64)
    d = points.shape[1]
    split = d if split is None else int(split)
    if not 0 < split <= d:
        raise EstimatorError(f"split must be in [1, {d}], got {split}")
    return points, (_knn.CHEBYSHEV if metric == "chebyshev" else _knn.EUCLIDEAN), split


def _raise_for_points(status: int) -> None:
    """Raise for a k-NN kernel's status: NaN or infinite points named as such, the others as for any kernel."""
    if status == _knn.STATUS_NONFINITE:
        raise EstimatorError("points contain NaN or infinite values")
    _raise_for(np.array([status], dtype=np.int32))


def knn_kth_distance(
    points: np.ndarray, k: int, metric: str = "chebyshev", split: int | None = None, num_threads: int | None = None,
    group: int = 1,
) -> np.ndarray:
    """Each point's distance to its k-th nearest other point (a compiled k-d tree).

    Equal bit for bit to ``cKDTree(points).query(points, k + 1, p=inf or 2)[0][:, -1]``
    (the same float64 distances; the k-th smallest does not depend on the search),
    whatever ``group``.

    Args:
        points: (N, d) points, converted to float64; N > k.
        k: Neighbour rank, 1 <= k < N.
        metric: "chebyshev" (max norm) or "euclidean".
        split: Euclidean only: the distance is the larger Euclidean norm of
            coordinates ``[0, split)`` and ``[split, d)`` (KSG's joint norm of two
            spaces); None or d: the Euclidean norm of all d.
        num_threads: Threads over points (default: this worker's share, from
            ``KNN_PARALLEL_MIN`` points; one below).
        group: A hint, 1 <= group <= N: rows ``[i group, (i + 1) group)`` (the last
            group possibly shorter) are near each other (the noisy copies of one
            sample, as ``np.repeat`` lays them out), so their neighbours are searched
            together, which is faster when the groups lie apart (see
            ``ibsim_ext/knn_core.h``; when a first look or a probe finds them overlapping, the kernel
            batches the points of each tree leaf instead, as for 1: no grouping).
            The numbers are the same for every group.

    Returns:
        (N,) float64 distances.

    Raises:
        EstimatorError: NaN/inf points, k outside [1, N), a bad metric, split or group.
    """
    points, code, split = _knn_points(points, metric, split)
    if isinstance(k, bool) or not 1 <= int(k) < len(points):
        raise EstimatorError(f"k must be in [1, N) = [1, {len(points)}), got {k!r}")
    group = reference.knn_group(group, len(points))
    out = np.empty(len(points))
    status = _knn.kth_distance(points, int(k), code, split, out, _knn_threads(len(points), num_threads), group)
    _raise_for_points(status)
    return out


def knn_count_within(
    points: np.ndarray, radius: np.ndarray, metric: str = "chebyshev", split: int | None = None,
    num_threads: int | None = None,
) -> np.ndarray:
    """Per point i, the points (i included) at distance <= ``radius[i]`` (a compiled k-d tree).

    Equal to ``cKDTree(points).query_ball_point(points, radius, p=inf or 2,
    return_length=True)`` (Euclidean: a distance's square against ``radius**2``,
    as scipy compares). A negative radius counts nothing.

    Args:
        points: (N, d) points, converted to float64.
        radius: (N,) radii (not NaN).
        metric: "chebyshev" or "euclidean".
        split: As for :func:`knn_kth_distance`.
        num_threads: Threads over points (default: this worker's share).

    Returns:
        (N,) int64 counts.

    Raises:
        EstimatorError: NaN/inf points, NaN radii or not one per point, a bad metric or split.
    """
    points, code, split = _knn_points(points, metric, split)
    radius = np.ascontiguousarray(radius, dtype=np.float64)
    if radius.shape != (len(points),) or np.isnan(radius).any():
        raise EstimatorError(f"radius must be one number (not NaN) per point ({len(points)}), got shape {radius.shape}")
    out = np.empty(len(points), dtype=np.int64)
    status = _knn.count_within(points, radius, code, split, out, _knn_threads(len(points), num_threads))
    _raise_for_points(status)
    return out


def knn_class_radius_and_count(
    points: np.ndarray, labels: np.ndarray, k: int, metric: str = "chebyshev", num_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Ross's neighbour search in one compiled k-d tree walk per point.

    Per point i of a class (the points of one label >= 0) of at least two points:
    ``radius[i]``, its distance to its k_i-th nearest other point of its class
    (k_i = min(k, class size - 1)), and ``count[i]``, the points of any class (i
    and points of negative labels included) strictly within it, exactly as the two
    searches ``knn_kth_distance(points[class], k_i)`` and
    ``knn_count_within(points, np.nextafter(radius, 0))`` give them (so cKDTree's,
    bit for bit); 0 and 0 for the points of a class of one and of negative labels.

    Args:
        points: (N, d) points, converted to float64.
        labels: (N,) integer classes (a negative one: no class).
        k: Neighbour rank, >= 1.
        metric: "chebyshev" or "euclidean".
        num_threads: Threads over points (default: this worker's share, from
            ``KNN_PARALLEL_MIN`` points; one below).

    Returns:
        (N,) float64 radii and (N,) int64 counts.

    Raises:
        EstimatorError: NaN/inf points, labels not one integer per point, k < 1, a bad metric.
    """
    points, code, _ = _knn_points(points, metric, None)
    n = len(points)
    labels = reference.knn_class_labels(labels, n)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise EstimatorError(f"k must be an integer >= 1, got {k!r}")
    top = int(labels.max())
    if labels.dtype.kind == "u" and top > np.iinfo(np.int64).max or top >= 4 * n + 64:  # sparse labels: renumbered
        kept = labels >= 0
        codes = np.full(n, -1, dtype=np.int64)
        values, codes[kept] = np.unique(labels[kept], return_inverse=True)
        n_labels = len(values)
    else:
        codes, n_labels = np.ascontiguousarray(labels, dtype=np.int64), max(top + 1, 0)
    radius, count = np.empty(n), np.empty(n, dtype=np.int64)
    status = _knn.class_radius_and_count(points, codes, n_labels, min(int(k), n), code, radius, count,
                                         _knn_threads(n, num_threads))
    _raise_for_points(status)
    return radius, count


def sp_log_sums(
    queries: np.ndarray, owner: np.ndarray, centres: np.ndarray, labels: np.ndarray, n_labels: int, scale: float,
    groups: np.ndarray | None = None, n_groups: int = 0, num_threads: int | None = None,
) -> np.ndarray:
    """Log Gaussian-mixture sums at arbitrary points, for the sample-propagation estimator.

    With ``e_ij = -scale |q_i - c_j|^2``, per query ``q_i`` (drawn around the
    centre ``owner[i]``): ``log sum_j exp(e_ij)`` over all centres, over the
    centres with the owner's label, and over the centres in the owner's group
    of identical inputs (no groups: the owner's own term ``e_i,owner``). Each a
    log-sum-exp shifted by its own largest term; float64 differences; each
    query summed by one thread in centre order (the same bits for any thread
    count). See ``ibsim_ext/sp_core.h``; O(m n d) time, O(n d) memory.

    Args:
        queries: (m, d) points (converted to C-contiguous float64).
        owner: (m,) centre index of each query, in [0, n).
        centres: (n, d) centres (converted to C-contiguous float32).
        labels: (n,) labels in ``[0, n_labels)``.
        n_labels: Number of labels (>= 1).
        scale: ``1 / (2 variance)``, finite and > 0.
        groups: (n,) groups in ``[0, n_groups)``; None, 0 or n groups: every
            centre is its own input.
        num_threads: Threads over queries (default: this worker's share).

    Returns:
        (m, 3) float64 log sums (nats).

    Raises:
        EstimatorError: Malformed arguments, NaN or infinite queries or centres.
    """
    queries, owner, centres, labels_a, groups_a = reference.sp_arguments(
        queries, owner, centres, labels, n_labels, scale, groups, n_groups)
    out = np.zeros((len(queries), 3))
    if not len(queries):
        return out
    status = _sp.sp_log_sums(queries, owner, centres, labels_a, _UNUSED if groups_a is None else groups_a,
                             groups_a is not None, float(scale), out, _threads(num_threads))
    _raise_for(np.array([status], dtype=np.int32))
    return out


#: name → (compiled, NumPy reference). The reference has the same arguments,
#: minus ``num_threads``.
KERNELS: dict[str, tuple[Callable, Callable]] = {
    "binned_entropies": (binned_entropies, reference.binned_entropies),
    "kde_log_sums": (kde_log_sums, reference.kde_log_sums),
    "renyi2_entropies": (renyi2_entropies, reference.renyi2_entropies),
    "edge_base_estimates": (edge_base_estimates, reference.edge_base_estimates),
    "knn_kth_distance": (knn_kth_distance, reference.knn_kth_distance),
    "knn_count_within": (knn_count_within, reference.knn_count_within),
    "knn_class_radius_and_count": (knn_class_radius_and_count, reference.knn_class_radius_and_count),
    "sp_log_sums": (sp_log_sums, reference.sp_log_sums),
}
