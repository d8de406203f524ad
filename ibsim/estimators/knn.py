"""k-nearest-neighbour estimators (Kraskov, Stögbauer & Grassberger 2004; Ross 2014).

A deterministic layer of continuous activations carries infinite information
about its input, so, as for the KDE bounds, the layer is read through Gaussian
noise: T~ = T + Z with Z ~ N(0, noise_variance I), drawn from a fixed seed (the
same noise for every block, so estimates of different epochs differ by the
activations only). Then, since T is a function of X,

    I(X;T~) = h(T~) - h(Z),    h(Z) = d/2 log(2 pi e noise_variance),

with h(T~) from the Kozachenko-Leonenko k-NN entropy estimator (the estimator
KSG builds on; max-norm or Euclidean balls, ``metric``) on ``replicates`` noisy copies of every sample:
T~ is a mixture of one small Gaussian per sample, and with a single draw per
component the neighbour distances never reach the noise scale (a 12-bit layer
then reads as 46 bits); with 8 copies they do, up to a bias that shrinks as the
copies grow (measured: 15.6 bits at 8 copies, 14.3 at 16, for a 4096-sample
tanh layer whose true value is at most 12). And

    I(T~;Y) = psi(N) + <psi(k)> - <psi(N_y)> - <psi(m_i)>

from Ross's (2014) k-NN estimator for a discrete Y on one noisy draw per sample
(copies of a sample share its label and would fake information): the distance
to the k-th neighbour among the samples of the same class, and m_i the samples
of any class within it. Both estimates are clipped to the bounds the true values
obey, 0 <= I(X;T~) <= H(X) and 0 <= I(T~;Y) <= H(Y) (as scikit-learn clips at 0).

:func:`ksg_mutual_information` is KSG's estimator (algorithm 1) for two
continuous variables, checked against the Gaussian closed form.

``metric`` is the norm within each space: "chebyshev" (the max norm, KSG's
paper and the default) or "euclidean" (KSG's joint space then takes the larger
of the two spaces' Euclidean norms, as their paper allows). Only the
Kozachenko-Leonenko entropy's volume term depends on it: log (2 eps)^d for the
max-norm ball of radius eps, log c_d + d log eps with the Euclidean unit ball's
volume c_d = pi^(d/2) / Gamma(d/2 + 1). Neighbour searches run in the compiled
k-d tree of :mod:`ibsim.estimators.kernels` (equal, bit for bit, to scipy's
``cKDTree``, which the tests check); Ross's k-th distances within each class and
counts over all samples come from one walk per sample.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import digamma

from ibsim.errors import EstimatorError
from ibsim.estimators import kernels, side_by_side
from ibsim.estimators.base import ESTIMATORS, Estimator, LayerBlocks
from ibsim.estimators.discrete import entropy_nats
from ibsim.params import Interval, Options, Param

NATS_TO_BITS = 1.0 / math.log(2.0)


def _columns(x: np.ndarray) -> np.ndarray:
    """x as float64 (N, d): (N,) becomes one column."""
    x = np.asarray(x, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def _finite(x: np.ndarray, what: str) -> np.ndarray:
    x = _columns(x)
    if not np.all(np.isfinite(x)):
        raise EstimatorError(f"{what} contain NaN or infinite values")
    return x


def _require_neighbours(n: int, k: int, what: str) -> None:
    """Refuse ``k`` < 1 neighbours, or N <= k samples (a sample's k neighbours are other samples).

    Raises:
        EstimatorError: Names N, k and the estimate (``what``).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise EstimatorError(f"{what} needs an integer number of neighbours k >= 1, got k = {k!r}")
    if n <= k:
        raise EstimatorError(f"{what} needs more than k = {k} samples, got N = {n}")


#: The norms within a space: the max norm (KSG's paper) or the Euclidean norm.
METRICS = ("chebyshev", "euclidean")


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise EstimatorError(f"metric must be one of {', '.join(map(repr, METRICS))}, got {metric!r}")


def _kth_distance(points: np.ndarray, k: int, metric: str = "chebyshev", split: int | None = None,
                  group: int = 1) -> np.ndarray:
    """Distance of each point to its k-th nearest other point (``split``: KSG's joint norm; ``group``: the
    search hint; see kernels)."""
    return kernels.knn_kth_distance(points, k, metric, split, group=group)


def _count_within(points: np.ndarray, radius: np.ndarray, metric: str = "chebyshev") -> np.ndarray:
    """Points strictly within ``radius`` of each point, itself included (at most the float64 below it)."""
    return kernels.knn_count_within(points, np.nextafter(radius, 0), metric)


def log_unit_ball(d: int, metric: str) -> float:
    """log of the volume of the unit ball (radius 1) of the metric in d dimensions.

    The max-norm ball is the cube [-1, 1]^d: d log 2; the Euclidean one
    ``c_d = pi^(d/2) / Gamma(d/2 + 1)``.
    """
    _check_metric(metric)
    if metric == "chebyshev":
        return d * math.log(2.0)
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1.0)


def kl_entropy(samples: np.ndarray, k: int = 3, metric: str = "chebyshev", group: int = 1) -> float:
    """Kozachenko-Leonenko entropy estimate (nats).

    ``h = psi(N) - psi(k) + log c_d + d <log eps_i>`` with ``eps_i`` the distance
    to the k-th neighbour and ``c_d`` the volume of the metric's unit ball: for
    the max norm ``d <log(2 eps_i)>`` (computed so, as before the option),
    for the Euclidean norm ``log c_d = d/2 log pi - log Gamma(d/2 + 1)``.

    Args:
        samples: (N,) or (N, d) samples.
        k: Neighbour rank.
        metric: "chebyshev" (max-norm balls) or "euclidean".
        group: How the samples come, for speed only: rows ``[i group, (i + 1) group)``
            are noisy copies of one point (``np.repeat(points, group, axis=0) + noise``),
            searched together; 1 (the default): no such structure. The estimate is
            the same, bit for bit, for every group in [1, N].

    Raises:
        EstimatorError: NaN/inf samples, k < 1, N <= k samples, duplicate samples, unknown metric,
            a group outside [1, N].
    """
    _check_metric(metric)
    x = _columns(samples)  # NaN and infinite samples: the neighbour search refuses them
    n, d = x.shape
    _require_neighbours(n, k, "the k-NN entropy")
    eps = _kth_distance(x, k, metric, group=group)
    if np.any(eps <= 0):
        raise EstimatorError("duplicate samples: the k-NN estimators need noise (noise_variance > 0)")
    if metric == "chebyshev":
        return float(digamma(n) - digamma(k) + d * np.mean(np.log(2.0 * eps)))
    return float(digamma(n) - digamma(k) + log_unit_ball(d, metric) + d * np.mean(np.log(eps)))


def ksg_mutual_information(x: np.ndarray, y: np.ndarray, k: int = 3, metric: str = "chebyshev") -> float:
    """KSG estimate (algorithm 1, nats) of I(X;Y) for two continuous variables.

    ``I = psi(k) + psi(N) - <psi(n_x + 1) + psi(n_y + 1)>`` with ``n_x``, ``n_y`` the
    marginal neighbours strictly within the joint k-th neighbour distance. The
    joint distance is the larger of the two spaces' distances, each in ``metric``.

    Args:
        x: (N,) or (N, d_x) samples.
        y: (N,) or (N, d_y) samples.
        k: Neighbour rank.
        metric: The norm within each space, "chebyshev" or "euclidean".

    Raises:
        EstimatorError: NaN/inf values, x and y of different lengths, k < 1 or N <= k samples, unknown metric.
    """
    _check_metric(metric)
    x, y = _finite(x, "x"), _finite(y, "y")
    if len(x) != len(y):
        raise EstimatorError(f"x and y need the same number of samples, got {len(x)} and {len(y)}")
    n = len(x)
    _require_neighbours(n, k, "the KSG estimate")
    radius = _kth_distance(np.hstack([x, y]), k, metric, split=x.shape[1])
    n_x = _count_within(x, radius, metric) - 1
    n_y = _count_within(y, radius, metric) - 1
    return float(digamma(k) + digamma(n) - np.mean(digamma(n_x + 1) + digamma(n_y + 1)))


def _class_codes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample the index of its label among ``np.unique(labels)`` (-1 for one equal to none of them, a
    NaN), and the number of samples of each label."""
    unique = np.unique(labels)
    codes = np.full(len(labels), -1, dtype=np.int64)
    for j, label in enumerate(unique):
        codes[labels == label] = j
    return codes, np.bincount(codes[codes >= 0], minlength=len(unique))


def _class_radius_and_count(t: np.ndarray, codes: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Ross's searches in one: per sample of a class of two or more, the distance to its min(k, size - 1)-th
    nearest other sample of its class and the samples of any class strictly within it (0 and 0 for the
    others; see kernels)."""
    return kernels.knn_class_radius_and_count(t, codes, k, metric)


def _class_radius_and_count_two_step(t: np.ndarray, codes: np.ndarray, k: int,
                                     metric: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_class_radius_and_count` as two searches: per class its k-th distances, then one count of all
    samples within them (the estimate's former way; the speed baseline and the tests' second way)."""
    radius = np.zeros(len(t))
    kept = np.zeros(len(t), dtype=bool)
    for j in range(int(codes.max()) + 1 if len(codes) else 0):
        members = codes == j
        size = int(members.sum())
        if size > 1:
            radius[members] = _kth_distance(t[members], min(k, size - 1), metric)
            kept |= members
    count = np.zeros(len(t), dtype=np.int64)
    if kept.any():
        count[kept] = _count_within(t, radius, metric)[kept]
    return radius, count


def discrete_mutual_information(t: np.ndarray, labels: np.ndarray, k: int = 3, metric: str = "chebyshev") -> float:
    """Ross's (2014) k-NN estimate (nats) of I(T;Y) for continuous T, discrete Y.

    Samples whose class has a single member are left out, as Ross does; a class
    of at most k members uses all its other members as neighbours. The neighbour
    distances and counts come from one compiled search (each sample's k-th
    distance within its class and the samples of any class strictly within it,
    found in one tree walk), the numbers of the two searches it replaced bit for bit.

    Args:
        t: (N,) or (N, d) activations.
        labels: (N,) class per sample.
        k: Neighbour rank.
        metric: "chebyshev" or "euclidean".

    Raises:
        EstimatorError: NaN/inf activations, labels not one per sample, k < 1 or N <= k samples,
            unknown metric.
    """
    _check_metric(metric)
    t = _finite(t, "activations")
    _require_neighbours(len(t), k, "the k-NN estimate of I(T;Y)")
    return _RossLabels(labels, len(t), k).estimate(t, metric)


class _RossLabels:
    """What Ross's estimate takes from the labels alone, worked out once for the blocks of one labelling:
    the class codes, the samples kept (of a class of two or more) and the terms of the estimate that do not
    depend on the activations, psi(kept) + <psi(k_i)> - <psi(N_y)>."""

    def __init__(self, labels: np.ndarray, n: int, k: int):
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise EstimatorError(f"labels must have one entry per sample ({n}), got shape {labels.shape}")
        self.k = int(k)
        self.codes, sizes = _class_codes(labels)
        class_size = np.where(self.codes >= 0, sizes[np.maximum(self.codes, 0)], 0).astype(np.float64)
        self.kept = class_size > 1
        if self.kept.any():
            k_used = np.minimum(float(k), class_size - 1)
            self.constant = float(digamma(self.kept.sum()) + np.mean(digamma(k_used[self.kept]))
                                  - np.mean(digamma(class_size[self.kept])))

    def estimate(self, t: np.ndarray, metric: str) -> float:
        """Ross's estimate (nats) for the (N, d) finite activations t of these labels' samples."""
        if not self.kept.any():
            return 0.0
        _, within = _class_radius_and_count(t, self.codes, self.k, metric)
        return float(self.constant - np.mean(digamma(within[self.kept])))


#: Noise arrays of at most this many floats (16 MB) are kept between calls: every
#: block of every call gets the same noise, and drawing it (327 680 normals for
#: a 4096 x 10 layer's 8 copies) cost 3.6 ms of a 15 ms block.
NOISE_CACHE_FLOATS = 2**21


def _draw_noise(seed: int, variance: float, n: int, d: int, replicates: int) -> tuple[np.ndarray, np.ndarray]:
    """The estimator's noise for N samples of width d: (N * replicates, d) for the
    copies, then (N, d) for Ross's draw, from one generator of ``seed``; read-only."""
    rng = np.random.default_rng(seed)
    scale = math.sqrt(variance)
    noise_x = rng.normal(0.0, scale, (n * replicates, d))
    noise_y = rng.normal(0.0, scale, (n, d))
    noise_x.flags.writeable = noise_y.flags.writeable = False
    return noise_x, noise_y


_cached_noise = lru_cache(maxsize=8)(_draw_noise)


def estimator_noise(seed: int, variance: float, n: int, d: int, replicates: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_draw_noise`, kept between calls up to :data:`NOISE_CACHE_FLOATS` floats (the same arrays)."""
    if n * (replicates + 1) * d <= NOISE_CACHE_FLOATS:
        return _cached_noise(seed, variance, n, d, replicates)
    return _draw_noise(seed, variance, n, d, replicates)


@ESTIMATORS.register("knn", "ksg")
class KNN(Estimator):
    """k-NN estimates through Gaussian noise: Kozachenko-Leonenko / KSG for I(X;T), Ross for I(T;Y)."""

    name = "knn"
    main_parameter = "noise_variance"
    PARAMS = {
        "k": Param(Interval(int, 1, None), 3, "number of neighbours"),
        "noise_variance": Param(Interval(float, 0, None, "neither"), 0.001,
                                "variance of the Gaussian noise added to the activations"),
        "replicates": Param(Interval(int, 1, None), 8, "noisy copies of each sample for I(X;T)"),
        "seed": Param(Interval(int, 0, None), 0, "seed of the noise (the same noise for every block)"),
        "metric": Param(Options(list(METRICS)), "chebyshev",
                        "norm of the neighbour distances: max norm (KSG's paper) or Euclidean"),
    }

    def estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        n, d = blocks.acts.shape[1:]
        _require_neighbours(n, self.k, f"estimator '{self.spec}'")
        noise_x, noise_y = estimator_noise(self.seed, self.noise_variance, n, d, self.replicates)
        h_noise = 0.5 * d * math.log(2.0 * math.pi * math.e * self.noise_variance)
        h_x = entropy_nats(blocks.groups) if blocks.groups is not None else math.log(n)
        h_y = entropy_nats(blocks.labels)
        ross = _RossLabels(blocks.labels, n, self.k)
        out = np.empty((len(blocks.acts), 2))

        def estimate(b: int, copies: np.ndarray) -> None:
            acts = _finite(blocks.acts[b], "activations")
            copies.reshape(n, self.replicates, d)[:] = acts[:, None, :]  # np.repeat's layout, no temporary
            copies += noise_x
            out[b, 0] = np.clip(kl_entropy(copies, self.k, self.metric, self.replicates) - h_noise, 0.0, h_x)
            out[b, 1] = np.clip(ross.estimate(acts + noise_y, self.metric), 0.0, h_y)

        # blocks at once, each search on fewer threads (its tree tops and probe are serial): the same numbers.
        # A block at work holds its copies and, in the kernel, up to about four times their size (trees, distances).
        copies_bytes = 8 * n * self.replicates * d
        side_by_side.each_block(len(blocks.acts), estimate, lambda: np.empty((n * self.replicates, d)),
                                block_bytes=5 * copies_bytes)
        return out * NATS_TO_BITS
