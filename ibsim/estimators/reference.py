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


_MASK64 = (1 << 64) - 1


def _mix64(h: int) -> int:
    """splitmix64's finaliser on a Python int (common.h's ``ib_mix``)."""
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & _MASK64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & _MASK64
    return h ^ (h >> 31)


def _edge_weight_sum(first: list, second: list) -> float:
    """(1/N) sum over the dependence graph's edges (i, j) of N_ij log(N N_ij / (N_i M_j)), nats."""
    n = len(first)
    n_i: dict = {}
    m_j: dict = {}
    n_ij: dict = {}
    for a, b in zip(first, second):
        n_i[a] = n_i.get(a, 0) + 1
        m_j[b] = m_j.get(b, 0) + 1
        n_ij[(a, b)] = n_ij.get((a, b), 0) + 1
    return sum(c * np.log(n * c / (n_i[a] * m_j[b])) for (a, b), c in n_ij.items()) / n


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
) -> np.ndarray:
    """I(X;T) and I(T;Y) in nats of every EDGE base estimator, per block (the twin of the kernel).

    Member l hashes sample i with ``code_k = floor(t_ik / (factor[l] * width[b, k]) + shift[l, k])``
    (float64), then ``h = hash_seed + l``, ``h = mix(h ^ code_k)`` for each neuron k
    (two's complement codes), bucket ``h mod n_buckets``; the estimate is the
    dependence graph's edge sum between the buckets and the labels (I(T;Y)) and
    between the buckets and the input groups (I(X;T); every sample its own
    input when ``n_groups`` is 0 or N).

    Args:
        acts: (blocks, N, d) activations, read as float32.
        width: (blocks, d) base bin widths.
        factor: (members,) width factors t of the ensemble.
        shift: (members, d) random shifts in bins.
        hash_seed: Salt of the second hash.
        n_buckets: Buckets of the second hash.
        labels: (N,) labels in [0, n_labels).
        groups: (N,) input groups in [0, n_groups), or None.

    Returns:
        (blocks, members, 2) float64.
    """
    acts = np.asarray(acts, dtype=np.float32).astype(np.float64)
    n_blocks, n, d = acts.shape
    labels_list = [int(v) for v in np.asarray(labels)]
    distinct = groups is None or n_groups == 0 or n_groups >= n
    inputs = list(range(n)) if distinct else [int(v) for v in np.asarray(groups)]
    out = np.zeros((n_blocks, len(factor), 2))
    for b in range(n_blocks):
        if not np.all(np.isfinite(acts[b])):
            raise EstimatorError("activations contain NaN or infinite values")
        for l, t in enumerate(factor):
            buckets = []
            for i in range(n):
                h = (int(hash_seed) + l) & _MASK64
                for k in range(d):
                    q = acts[b, i, k] / (float(t) * float(width[b, k])) + float(shift[l, k])
                    if not abs(q) <= CODE_LIMIT:
                        raise EstimatorError("hash codes overflow: activations too large for the bin width")
                    h = _mix64(h ^ (int(np.floor(q)) & _MASK64))
                buckets.append(h % int(n_buckets))
            out[b, l, 0] = _edge_weight_sum(inputs, buckets)
            out[b, l, 1] = _edge_weight_sum(buckets, labels_list)
    return out


def gaussian_gram(x: np.ndarray, sigma: float) -> np.ndarray:
    """The Gaussian Gram matrix ``K_ij = exp(-|x_i - x_j|^2 / (2 sigma^2))`` of
    the rows of ``x`` (N, d), dense, in float64 from explicit differences."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise EstimatorError("activations contain NaN or infinite values")
    dists = np.array([((x - row) ** 2).sum(axis=1) for row in x]).reshape(len(x), len(x))
    return np.exp(-dists / (2.0 * sigma**2))


def renyi_entropy_dense(gram: np.ndarray, alpha: float) -> float:
    """Matrix-based Rényi α-entropy in bits of a PSD matrix, normalised to trace 1:
    ``S_α(A) = 1/(1-α) log2 sum_i λ_i^α`` over the eigenvalues of ``A = gram / tr(gram)``.

    Eigenvalues at or below ``N eps λ_max`` (numpy's ``matrix_rank`` tolerance:
    rounding noise of the eigen-solver) count as 0.
    """
    a = np.asarray(gram, dtype=np.float64)
    a = a / np.trace(a)
    eig = np.linalg.eigvalsh(a)
    eig = np.where(eig > len(a) * np.finfo(np.float64).eps * eig.max(), eig, 0.0)
    return float(np.log2(np.sum(eig[eig > 0] ** alpha)) / (1.0 - alpha))


def renyi2_entropies(
    acts: np.ndarray,
    sigma: np.ndarray | float,
    labels: np.ndarray | None = None,
    n_labels: int = 0,
    groups: np.ndarray | None = None,
    n_groups: int = 0,
) -> np.ndarray:
    """S_2(T), S_2(T, Y), S_2(T, X) in bits per block (the twin of the compiled kernel).

    The dense textbook formula: ``A = K / N`` from :func:`gaussian_gram`,
    ``S_2(A) = -log2 sum_ij A_ij^2``, and the joint entropies with the label and
    input-group kernels ``[y_i == y_j]`` as ``S_2(A∘B / tr(A∘B))``. Without
    labels (``n_labels`` 0) the joint with Y is S_2(T); with all inputs distinct
    (``n_groups`` 0 or N) the joint with X is log2 N.

    Args:
        acts: (blocks, N, d) activations (read as float32, like the kernel).
        sigma: Kernel width, a scalar or one per block.
        labels: (N,) labels in [0, n_labels).
        groups: (N,) identical-input groups in [0, n_groups).

    Returns:
        (blocks, 3) float64.
    """
    acts = np.asarray(acts, dtype=np.float32).astype(np.float64)
    n = acts.shape[1]
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (acts.shape[0],))
    if not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
        raise EstimatorError(f"kernel width sigma must be finite and > 0, got {sigma!r}")

    def s2(matrix: np.ndarray) -> float:
        a = matrix / np.trace(matrix)
        return float(-np.log2(np.sum(a**2)))

    out = np.zeros((acts.shape[0], 3))
    for b, x in enumerate(acts):
        gram = gaussian_gram(x, sigma[b])
        out[b, 0] = s2(gram)
        out[b, 1] = s2(gram * (labels[:, None] == labels[None, :])) if n_labels else out[b, 0]
        distinct = n_groups in (0, n)
        out[b, 2] = np.log2(n) if distinct else s2(gram * (groups[:, None] == groups[None, :]))
    return out


def _sqeuclidean_pairs(x: np.ndarray) -> np.ndarray:
    """All (N, N) squared Euclidean distances, summed in scipy's (and the kernel's) order:
    four accumulators over coordinates 4j + c, added up, then the remaining coordinates."""
    diff2 = (x[:, None, :] - x[None, :, :]) ** 2
    d = x.shape[1]
    whole = d - d % 4
    acc = [np.zeros(diff2.shape[:2]) for _ in range(4)]
    for j in range(whole):
        acc[j % 4] += diff2[:, :, j]
    total = acc[0] + acc[1] + acc[2] + acc[3]
    for j in range(whole, d):
        total += diff2[:, :, j]
    return total


def _knn_pair_distances(points: np.ndarray, metric: str, split: int | None) -> tuple[np.ndarray, bool]:
    """(N, N) distances (squared for "euclidean", then ``True``) of checked points."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or 0 in points.shape:
        raise EstimatorError(f"points must be (samples, dimensions) with at least one of each, got {points.shape}")
    if metric not in ("chebyshev", "euclidean"):
        raise EstimatorError(f"unknown metric {metric!r}")
    if not np.all(np.isfinite(points)):
        raise EstimatorError("points contain NaN or infinite values")
    if metric == "chebyshev":
        return np.abs(points[:, None, :] - points[None, :, :]).max(axis=-1), False
    d = points.shape[1]
    split = d if split is None else int(split)
    if not 0 < split <= d:
        raise EstimatorError(f"split must be in [1, {d}], got {split}")
    if split == d:
        return _sqeuclidean_pairs(points), True
    return np.maximum(_sqeuclidean_pairs(points[:, :split]), _sqeuclidean_pairs(points[:, split:])), True


def knn_group(group: int, n: int) -> int:
    """Check the k-NN search's ``group`` (rows searched together) for N points; the kernel and its twin share it.

    Raises:
        EstimatorError: ``group`` not an integer in [1, N].
    """
    if isinstance(group, bool) or not isinstance(group, (int, np.integer)) or not 1 <= group <= max(n, 1):
        raise EstimatorError(f"group must be an integer in [1, N] = [1, {n}], got {group!r}")
    return int(group)


def knn_kth_distance(points: np.ndarray, k: int, metric: str = "chebyshev", split: int | None = None,
                     group: int = 1) -> np.ndarray:
    """Each point's distance to its k-th nearest other point: brute force over all pairs.

    The twin of the compiled kernel: the (k+1)-th smallest of each row of the
    distance matrix (the point itself is the first, at 0); the Euclidean root is
    taken of that squared distance, as scipy and the kernel do. ``group`` (the
    kernel's search hint) is checked as the kernel checks it, and changes nothing.
    """
    dist, squared = _knn_pair_distances(points, metric, split)
    if isinstance(k, bool) or not 1 <= int(k) < len(dist):
        raise EstimatorError(f"k must be in [1, N) = [1, {len(dist)}), got {k!r}")
    knn_group(group, len(dist))
    kth = np.sort(dist, axis=1)[:, int(k)]
    return np.sqrt(kth) if squared else kth


def knn_count_within(points: np.ndarray, radius: np.ndarray, metric: str = "chebyshev",
                     split: int | None = None) -> np.ndarray:
    """Per point i, the points (i included) at distance <= ``radius[i]``: brute force over all pairs.

    The twin of the compiled kernel; a Euclidean distance is compared squared
    against ``radius**2``, as scipy and the kernel compare.
    """
    dist, squared = _knn_pair_distances(points, metric, split)
    radius = np.asarray(radius, dtype=np.float64)
    if radius.shape != (len(dist),) or np.isnan(radius).any():
        raise EstimatorError(f"radius must be one number (not NaN) per point ({len(dist)}), got {radius.shape}")
    bound = np.where(radius < 0, -1.0, radius * radius if squared else radius)
    return (dist <= bound[:, None]).sum(axis=1).astype(np.int64)


def knn_class_labels(labels: np.ndarray, n: int) -> np.ndarray:
    """Check Ross's search's ``labels`` for N points: (N,) integers (a negative one: no class); the kernel and
    its twin share it.

    Raises:
        EstimatorError: Not one integer per point.
    """
    labels = np.asarray(labels)
    if labels.shape != (n,) or labels.dtype.kind not in "biu":
        raise EstimatorError(f"labels must be one integer per point ({n}), got {labels.dtype} of shape {labels.shape}")
    return labels


def knn_class_radius_and_count(points: np.ndarray, labels: np.ndarray, k: int,
                               metric: str = "chebyshev") -> tuple[np.ndarray, np.ndarray]:
    """Ross's search, brute force over all pairs: per point i of a class (equal labels >= 0) of at least two
    points, its distance to its k_i-th nearest other point of its class (k_i = min(k, size - 1)), and the
    points of any class (i included, negative labels too) strictly within it, as Ross's estimate counts them:
    ``knn_count_within(points, np.nextafter(radius, 0))``; 0 and 0 for the other points.

    The twin of the compiled kernel: the (k_i + 1)-th smallest of the row of the class's distance matrix (the
    point itself first, at 0), the Euclidean root taken of that squared distance, and the count compared as
    :func:`knn_count_within` compares.
    """
    dist, squared = _knn_pair_distances(points, metric, None)
    n = len(dist)
    labels = knn_class_labels(labels, n)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise EstimatorError(f"k must be an integer >= 1, got {k!r}")
    radius, count = np.zeros(n), np.zeros(n, dtype=np.int64)
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            continue
        kth = np.sort(dist[np.ix_(members, members)], axis=1)[:, min(int(k), len(members) - 1)]
        radius[members] = np.sqrt(kth) if squared else kth
        below = np.nextafter(radius[members], 0)
        bound = below * below if squared else below
        count[members] = (dist[members] <= bound[:, None]).sum(axis=1)
    return radius, count


def sp_arguments(
    queries: np.ndarray, owner: np.ndarray, centres: np.ndarray, labels: np.ndarray, n_labels: int, scale: float,
    groups: np.ndarray | None = None, n_groups: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Check :func:`sp_log_sums`' arguments (shared by the kernel's wrapper).

    Returns:
        float64 queries (m, d), int64 owner (m,), float32 centres (n, d), int64
        labels (n,), int64 groups (n,) or None (no groups: every centre its own input).

    Raises:
        EstimatorError: Malformed arguments or NaN/infinite queries or centres.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float64)
    centres = np.ascontiguousarray(centres, dtype=np.float32)
    if centres.ndim != 2 or centres.shape[0] == 0 or centres.shape[1] == 0:
        raise EstimatorError(f"centres must be (samples, neurons) with one of each at least, got {centres.shape}")
    n, d = centres.shape
    if queries.ndim != 2 or queries.shape[1] != d:
        raise EstimatorError(f"queries must be (m, {d}) like the centres, got {queries.shape}")
    owner = np.ascontiguousarray(owner, dtype=np.int64)
    if owner.shape != (len(queries),) or (owner.size and (owner.min() < 0 or owner.max() >= n)):
        raise EstimatorError(f"owner must be one centre index in [0, {n}) per query")
    if not (np.isfinite(scale) and scale > 0):
        raise EstimatorError(f"kernel scale must be finite and > 0, got {scale!r}")
    if n_labels < 1:
        raise EstimatorError(f"n_labels must be >= 1, got {n_labels}")
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    if labels.shape != (n,) or labels.min() < 0 or labels.max() >= n_labels:
        raise EstimatorError(f"labels must be one label in [0, {n_labels}) per centre")
    if groups is None or n_groups == 0 or n_groups >= n:
        groups = None
    else:
        groups = np.ascontiguousarray(groups, dtype=np.int64)
        if groups.shape != (n,) or groups.min() < 0 or groups.max() >= n_groups:
            raise EstimatorError(f"groups must be one group in [0, {n_groups}) per centre")
    if not (np.all(np.isfinite(centres)) and np.all(np.isfinite(queries))):
        raise EstimatorError("NaN or infinite activations (centres or queries)")
    return queries, owner, centres, labels, groups


def sp_log_sums(
    queries: np.ndarray, owner: np.ndarray, centres: np.ndarray, labels: np.ndarray, n_labels: int, scale: float,
    groups: np.ndarray | None = None, n_groups: int = 0,
) -> np.ndarray:
    """Log Gaussian-mixture sums at each query (the twin of the compiled kernel).

    With ``e_ij = -scale |q_i - c_j|^2`` (centres in float32, everything else
    float64): ``log sum_j exp(e_ij)`` over all centres, over the centres of the
    owner's label, and over the centres of the owner's group (no groups: the
    owner's term ``e_i,owner`` alone). Dense textbook log-sum-exp.

    Returns:
        (m, 3) float64.
    """
    queries, owner, centres, labels, groups = sp_arguments(queries, owner, centres, labels, n_labels, scale,
                                                           groups, n_groups)
    c = centres.astype(np.float64)
    out = np.zeros((len(queries), 3))

    def lse(e: np.ndarray, mask: np.ndarray) -> np.ndarray:
        top = np.where(mask, e, -np.inf).max(axis=1, keepdims=True)
        return top[:, 0] + np.log(np.exp(np.where(mask, e - top, -np.inf)).sum(axis=1))

    for start in range(0, len(queries), 256):
        q, own = queries[start : start + 256], owner[start : start + 256]
        e = -scale * ((q[:, None, :] - c[None, :, :]) ** 2).sum(axis=-1)
        rows = np.arange(len(q))
        out[start : start + len(q), 0] = lse(e, np.ones_like(e, dtype=bool))
        out[start : start + len(q), 1] = lse(e, labels[None, :] == labels[own][:, None])
        if groups is None:
            out[start : start + len(q), 2] = e[rows, own]
        else:
            out[start : start + len(q), 2] = lse(e, groups[None, :] == groups[own][:, None])
    return out
