"""Matrix-based Rényi α-entropy (Giraldo, Rao & Príncipe 2015; Yu et al. 2019).

The entropy of a variable is read off the normalised Gram matrix of its N
samples, with no density estimate:

    K_ij = exp(-|t_i - t_j|^2 / (2 sigma^2)),   A = K / tr(K) = K / N,
    S_α(A) = 1/(1-α) log2 tr(A^α) = 1/(1-α) log2 sum_i λ_i(A)^α,

the joint entropy of two variables is that of the normalised Hadamard product
(Yu et al. 2019's multivariate form), ``S_α(A, B) = S_α(A∘B / tr(A∘B))``, and

    I(X;T) = S_α(A_X) + S_α(A_T) - S_α(A_X, A_T)
    I(T;Y) = S_α(A_T) + S_α(A_Y) - S_α(A_T, A_Y)

as Wickstrøm et al. (2019) draw information planes of CNNs. Y's kernel is the
label kernel ``[y_i == y_j]``. X's kernel (``x_kernel``) is either

- "identity" (default): ``[x_i == x_j]`` (the groups of identical inputs), which
  needs nothing but the groups a results file keeps. With distinct inputs
  this is the limit of the papers' Gaussian input kernel for a small input
  width: S(A_X) = log2 N, the joint is diagonal (log2 N) and I(X;T) = S_α(A_T);
  with repeated inputs S(A_X) is the Rényi entropy of the group sizes and the
  joint is block-diagonal by group; or
- "inputs": the papers' Gaussian kernel on the input values (flattened: for
  images the tensor kernel of Wickstrøm et al., ``exp(-|X_i - X_j|_F^2 /
  (2 sigma_X^2))``) with width ``x_sigma`` (by default the ``sigma`` rule). It
  needs the inputs (:attr:`LayerBlocks.inputs`): the pipeline passes them, a
  results file keeps none. The joint kernel ``K_X ∘ K_T`` is the Gaussian
  kernel of width 1 on the concatenated ``[x / sigma_X, t / sigma_T]``, so it
  takes the same paths as a layer.

Both discrete kernels make the joint matrices block diagonal (by class, by
input group), so their spectra are those of the blocks.

Paths (the same numbers to the stated accuracy, chosen by N and α):

- α = 2: ``S_2(A) = -log2 ||A||_F^2`` from pair sums of the squared kernel, in
  the compiled kernel :func:`ibsim.estimators.kernels.renyi2_entropies`, exact
  to float64 rounding in memory O(N d), any N;
- other α, up to ``exact_limit`` distinct rows per matrix: a symmetric
  eigen-solver on the dense Gram matrix of the distinct rows (weighted by their
  multiplicity), float64, memory 8 m^2 bytes (128 MiB at m = 4096);
- above it: stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017) of
  tr(g(A)), g(λ) = λ^α - λ, with ``probes`` Rademacher probes from ``seed`` and
  LANCZOS_STEPS steps; tr(A^α) = 1 + tr(g(A)) (tr(A) = 1 exactly), which keeps
  the estimate's error relative to the entropy rather than to tr(A^α) (for α
  near 1 the factor 1/(1-α) would multiply the latter a hundredfold). Products
  with A are computed in tiles of rows, never storing A.
"""
from __future__ import annotations

import math

import numpy as np
from threadpoolctl import threadpool_limits

from ibsim.errors import EstimatorError
from ibsim.estimators.base import ESTIMATORS, Estimator, LayerBlocks
from ibsim.estimators.kernels import check_finite_blocks, renyi2_entropies
from ibsim.params import AnyOf, Constant, Interval, Options, Param, Predicate

#: Lanczos steps of the stochastic-trace path.
LANCZOS_STEPS = 40
#: Top eigen-directions the stochastic-trace path computes exactly (deflation).
DEFLATION = 64
#: Silverman's factor gamma of the "silverman" rule (Tapia & Estévez 2020).
SILVERMAN_GAMMA = 0.8
#: Bytes of one tile of the Gram matrix in the stochastic path.
_TILE_BYTES = 32 * 2**20
_EPS = np.finfo(np.float64).eps
#: Why the NumPy paths run on one BLAS thread: the same numbers, bit for bit,
#: whatever the caller's thread count (inline estimation limits itself to one
#: thread, ``ibsim estimate`` and deferred units use all of a worker's), and
#: two BLAS threads on a loaded 2-core machine ran the eigen-solver up to 27
#: times slower than one (measured). The α = 2 pair sums are compiled and
#: thread-count independent by construction.
_ONE_BLAS_THREAD = 1


def _alpha(value: object) -> float:
    """An order α > 0 other than 1 (where the formula's 1/(1-α) is undefined)."""
    alpha = Interval(float, 0, None, "neither").coerce(value)
    if alpha == 1.0:
        raise ValueError(" (α = 1 is Shannon's limit, undefined in this formula; use e.g. 1.01)")
    return alpha


def silverman_sigma(n: int, d: int, gamma: float = SILVERMAN_GAMMA) -> float:
    """Silverman's rule scaled by dimension: ``sigma = gamma sqrt(d) N^(-1/(4+d))``.

    The rule of Yu et al. (2019), ``gamma N^(-1/(4+d))``, times ``sqrt(d)`` so that
    the width grows with the typical distance between points in d dimensions
    (Tapia & Estévez 2020); gamma = 0.8.
    """
    return gamma * math.sqrt(d) * n ** (-1.0 / (4.0 + d))


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _sq_distances(x: np.ndarray, rows: slice, norms: np.ndarray) -> np.ndarray:
    """Squared distances of ``x[rows]`` to every row of (centred) ``x``, >= 0;
    values within the rounding error of the expansion (8 eps (|x_i|^2 + |x_j|^2))
    are 0, so that identical rows are at distance 0 exactly."""
    scale = norms[rows, None] + norms[None, :]
    d2 = scale - 2.0 * (x[rows] @ x.T)
    d2[d2 <= 8.0 * _EPS * scale] = 0.0
    return d2


def _tile_rows(m: int) -> int:
    return max(1, min(m, _TILE_BYTES // (8 * max(m, 1))))


def knn_sigma(x: np.ndarray, k: int = 10) -> float:
    """Wickstrøm et al.'s (2019) rule: the mean distance of a sample to its k
    nearest neighbours, ``sigma = 1/(N k) sum_i sum_{j in kNN(i)} |t_i - t_j|``
    (other samples; duplicates count at distance 0), computed in tiles.

    Raises:
        EstimatorError: N <= k.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if k < 1 or n <= k:
        raise EstimatorError(f"the k-NN kernel width needs more than k = {k} samples, got N = {n}")
    x = x - x.mean(axis=0)
    norms = _sq_norms(x)
    total = 0.0
    step = _tile_rows(n)
    for start in range(0, n, step):
        rows = slice(start, min(n, start + step))
        d2 = _sq_distances(x, rows, norms)
        d2[np.arange(d2.shape[0]), np.arange(rows.start, rows.stop)] = np.inf  # not its own neighbour
        near = np.partition(d2, k - 1, axis=1)[:, :k]
        total += float(np.sqrt(near).sum())
    return total / (n * k)


def kernel_width(x: np.ndarray, sigma: float | str, k: int = 10) -> float:
    """The kernel width of samples ``x`` (N, d): ``sigma`` itself, or a rule by name
    ("silverman": :func:`silverman_sigma`; "knn": :func:`knn_sigma` with ``k``)."""
    if isinstance(sigma, str):
        if sigma == "silverman":
            return silverman_sigma(x.shape[0], x.shape[1])
        if sigma == "knn":
            return knn_sigma(x, k)
        raise EstimatorError(f"unknown kernel width rule {sigma!r}: a float > 0, 'silverman' or 'knn'")
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma > 0):
        raise EstimatorError(f"kernel width sigma must be finite and > 0, got {sigma!r}")
    return sigma


def _discrete_renyi(counts: np.ndarray, alpha: float) -> float:
    """Rényi entropy in bits of the distribution of ``counts`` (the eigenvalues of a
    normalised block-diagonal all-ones kernel)."""
    p = counts[counts > 0] / counts.sum()
    if alpha == 2.0:
        return float(-np.log2(np.sum(p * p)))
    return float(np.log2(np.sum(p**alpha)) / (1.0 - alpha))


def _centres(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``x`` and their multiplicities (identical rows have
    identical kernel rows: the spectrum is that of the weighted distinct rows)."""
    unique, counts = np.unique(x, axis=0, return_counts=True)
    return unique, counts.astype(np.float64)


def _power_trace_eigen(x: np.ndarray, w: np.ndarray, sigma: float, alpha: float, n: int) -> float:
    """sum λ^α over the eigenvalues of ``D K D / n``, D = diag(sqrt(w)), dense."""
    x = x - x.mean(axis=0)
    norms = _sq_norms(x)
    gram = np.exp(_sq_distances(x, slice(None), norms) / (-2.0 * sigma**2))
    root = np.sqrt(w)
    matrix = gram * root[:, None] * root[None, :] / n
    eig = np.linalg.eigvalsh(matrix)
    eig = eig[eig > len(eig) * _EPS * eig.max()]  # rounding noise of the solver counts as 0
    return float(np.sum(eig**alpha))


def _power_trace_slq(x: np.ndarray, w: np.ndarray, sigma: float, alpha: float, n: int, probes: int,
                     seed: int) -> float:
    """sum λ^α of ``M = D K D / n`` by deflated stochastic Lanczos quadrature.

    1. Deflation: a block subspace iteration (DEFLATION columns, 3 products
       with M) finds the top eigen-space Q; the Ritz values θ of ``Q^T M Q``
       give its part, sum θ^α.
    2. The rest, tr f(P M P) with P = I - Q Q^T: Rademacher probes v (projected),
       v^T f(PMP) v ≈ |Pv|^2 sum_k τ_k^2 f(ϑ_k) over the Ritz values ϑ_k of
       LANCZOS_STEPS Lanczos steps and the first components τ_k of their
       eigenvectors. It is computed both for f(λ) = λ^α and as
       ``tr(PMP) + tr g(PMP)``, g(λ) = λ^α - λ (tr(PMP) = tr M - tr(Q^T M Q)
       exactly, tr M = sum(w) / n), and the form whose probes disagree least is
       used: g for α near 1, where the entropy's factor 1/(1-α) would magnify
       the noise of tr f, f for α far from 1.
    All probes run together: each product computes the Gram matrix once, tile
    by tile, never storing it.
    """
    m = len(x)
    x = x - x.mean(axis=0)
    norms = _sq_norms(x)
    root = np.sqrt(w)
    step = _tile_rows(m)
    scale = -1.0 / (2.0 * sigma**2)

    def product(v: np.ndarray) -> np.ndarray:
        weighted = v * root[:, None]
        out = np.empty_like(v)
        for start in range(0, m, step):
            rows = slice(start, min(m, start + step))
            out[rows] = np.exp(_sq_distances(x, rows, norms) * scale) @ weighted
        return out * (root[:, None] / n)

    rng = np.random.default_rng(seed)
    rank = min(DEFLATION, m // 2)
    basis = np.linalg.qr(product(rng.standard_normal((m, rank))))[0]
    for _ in range(2):
        basis = np.linalg.qr(product(basis))[0]
    image = product(basis)
    small = basis.T @ image
    ritz = np.maximum(np.linalg.eigvalsh((small + small.T) / 2.0), 0.0)
    head = float(np.sum(ritz**alpha))
    rest_trace = w.sum() / n - float(np.trace(small))

    def deflated(v: np.ndarray) -> np.ndarray:
        v = v - basis @ (basis.T @ v)
        z = product(v)
        return z - basis @ (basis.T @ z)

    v = rng.choice(np.array([-1.0, 1.0]), size=(m, probes))
    v -= basis @ (basis.T @ v)
    sizes = np.einsum("ij,ij->j", v, v)
    q = v / np.sqrt(sizes)
    q_prev = np.zeros_like(q)
    beta_prev = np.zeros(probes)
    steps = min(LANCZOS_STEPS, m - rank)
    alphas = np.zeros((steps, probes))
    betas = np.zeros((steps, probes))
    length = np.full(probes, steps)
    live = np.ones(probes, dtype=bool)
    for j in range(steps):
        z = deflated(q)
        a = np.einsum("ij,ij->j", q, z)
        z -= a * q + beta_prev * q_prev
        b = np.linalg.norm(z, axis=0)
        alphas[j] = np.where(live, a, 0.0)
        betas[j] = np.where(live, b, 0.0)
        ended = live & (b <= 1e-12 * np.maximum(np.abs(a), 1e-300))  # an invariant subspace: exact
        length[ended] = j + 1
        live &= ~ended
        if not live.any():
            break
        q_prev, q = q, z / np.where(b > 0, b, 1.0)
        beta_prev = b
    quad_f, quad_g = np.zeros(probes), np.zeros(probes)
    for p in range(probes):
        size = int(length[p])
        tri = np.diag(alphas[:size, p]) + np.diag(betas[: size - 1, p], 1) + np.diag(betas[: size - 1, p], -1)
        theta, vectors = np.linalg.eigh(tri)
        theta = np.maximum(theta, 0.0)
        weights = sizes[p] * vectors[0] ** 2
        quad_f[p] = float(np.sum(weights * theta**alpha))
        quad_g[p] = float(np.sum(weights * (theta**alpha - theta)))
    rest = quad_f.mean() if quad_f.std() <= quad_g.std() else rest_trace + quad_g.mean()
    return head + float(rest)


def _power_trace(x: np.ndarray, sigma: float, alpha: float, n: int, exact_limit: int, probes: int,
                 seed: int) -> float:
    """sum λ^α over the eigenvalues of the block ``K(x) / n`` of a normalised Gram matrix."""
    centres, w = _centres(x)
    if len(centres) == 1:
        return float((w[0] / n) ** alpha)
    if len(centres) <= exact_limit:
        return _power_trace_eigen(centres, w, sigma, alpha, n)
    return _power_trace_slq(centres, w, sigma, alpha, n, probes, seed)


def _block_entropy(x: np.ndarray, parts: np.ndarray | None, sigma: float, alpha: float, exact_limit: int,
                   probes: int, seed: int) -> float:
    """S_α of ``K(x) ∘ [p_i == p_j] / N``: block diagonal by part (all one part when None)."""
    n = len(x)
    if parts is None:
        blocks = [x]
    else:
        order = np.argsort(parts, kind="stable")
        bounds = np.flatnonzero(np.diff(parts[order])) + 1
        blocks = [x[rows] for rows in np.split(order, bounds)]
    trace = sum(_power_trace(block, sigma, alpha, n, exact_limit, probes, seed) for block in blocks)
    return math.log2(trace) / (1.0 - alpha)


def matrix_renyi_entropy(x: np.ndarray, sigma: float | str, alpha: float = 1.01, k: int = 10,
                         exact_limit: int = 4096, probes: int = 32, seed: int = 0) -> float:
    """Matrix-based Rényi α-entropy in bits of samples ``x`` (N, d).

    ``S_α(A) = 1/(1-α) log2 tr(A^α)``, ``A = K / N`` with the Gaussian Gram matrix
    of width ``sigma`` (a float, or "silverman" / "knn" with ``k``; see
    :func:`kernel_width`). α = 2 uses the exact pair sums (any N); other α the
    eigen-solver up to ``exact_limit`` distinct rows, stochastic Lanczos
    quadrature above (``probes`` probes from ``seed``).

    Raises:
        EstimatorError: NaN or infinite values, fewer than 2 samples, α <= 0 or
            α = 1, a width that is not > 0.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise EstimatorError(f"the matrix-based entropy needs samples (N, d) with N >= 2, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise EstimatorError("samples contain NaN or infinite values")
    try:
        alpha = _alpha(alpha)
    except ValueError:
        raise EstimatorError(f"the order α must be > 0 and != 1, got {alpha!r}") from None
    with threadpool_limits(_ONE_BLAS_THREAD, user_api="blas"):  # see _ONE_BLAS_THREAD
        return _matrix_renyi_entropy(x, sigma, alpha, k, exact_limit, probes, seed)


def _matrix_renyi_entropy(x: np.ndarray, sigma: float | str, alpha: float, k: int, exact_limit: int, probes: int,
                          seed: int) -> float:
    width = kernel_width(x, sigma, k)
    if width == 0.0:  # a rule on samples that all coincide with their neighbours: the σ -> 0 limit
        return _discrete_renyi(np.unique(x, axis=0, return_counts=True)[1].astype(np.float64), alpha)
    if alpha == 2.0:
        return float(renyi2_entropies(x[None], width)[0, 0])
    return _block_entropy(x, None, width, alpha, exact_limit, probes, seed)


@ESTIMATORS.register("renyi")
class Renyi(Estimator):
    """Matrix-based Rényi α-entropy estimates of I(X;T) and I(T;Y) (see the module).

    Defaults: the papers' α = 1.01 (the eigen path up to ``exact_limit``
    distinct rows; docs/estimators.md gives its cost per block), the
    "silverman" width and X's identity kernel. α = 2 takes exact pair sums in
    O(N d) memory, 100-200 times faster at N = 4096 (measured; docs/estimators.md).
    """

    name = "renyi"
    PARAMS = {
        "alpha": Param(Predicate(_alpha, "a float in the range (0, inf) other than 1"), 1.01,
                       "order α of the entropy (α = 2: exact pair sums at any N, much faster)"),
        "sigma": Param(AnyOf(Interval(float, 0, None, "neither"), Options(["silverman", "knn"])), "silverman",
                       "kernel width of the layer's Gram matrix, or a rule: 'silverman', 'knn'"),
        "k": Param(Interval(int, 1, None), 10, "neighbours of the 'knn' width rule"),
        "x_kernel": Param(Options(["identity", "inputs"]), "identity",
                          "X's kernel: 'identity' of the inputs (groups) or a Gaussian on the input values"),
        "x_sigma": Param(AnyOf(Constant(None), Interval(float, 0, None, "neither"), Options(["silverman", "knn"])),
                         None, "kernel width of the inputs (x_kernel = 'inputs'); unset: the sigma rule"),
        "exact_limit": Param(Interval(int, 2, None), 4096,
                             "most distinct rows per matrix for the eigen-solver (above: stochastic trace)"),
        "probes": Param(Interval(int, 1, None), 32, "probe vectors of the stochastic trace"),
        "seed": Param(Interval(int, 0, None), 0, "seed of the stochastic trace's probes"),
    }

    @property
    def trace_probes(self) -> int:
        """The ``probes`` parameter (``self.probes`` is the base class's flag for
        estimators that probe the network, which this one is not)."""
        return int(self._params["probes"])

    def widths(self, acts: np.ndarray) -> np.ndarray:
        """The kernel width of each block (blocks, N, d)."""
        return np.array([kernel_width(np.asarray(block, dtype=np.float64), self.sigma, self.k)
                         for block in acts])

    @property
    def needs_inputs(self) -> bool:
        """Whether X's kernel is on the input values (``x_kernel = "inputs"``)."""
        return self.x_kernel == "inputs"

    def _scaled_inputs(self, blocks: LayerBlocks, n: int) -> np.ndarray | None:
        """The inputs (N, features) divided by their kernel width, or None where
        X's kernel is the identity of the inputs (``x_kernel = "identity"``, or a
        width rule that gives 0: the identity is its limit)."""
        if not self.needs_inputs:
            return None
        if blocks.inputs is None:
            raise EstimatorError("renyi(x_kernel='inputs') needs the samples' inputs: run it in an experiment "
                                 "(a results file keeps no inputs) or pass inputs=... to estimate()")
        x = np.asarray(blocks.inputs, dtype=np.float64).reshape(len(blocks.inputs), -1)
        if len(x) != n:
            raise EstimatorError(f"the inputs have {len(x)} samples, the layer {n}")
        if not np.all(np.isfinite(x)):
            raise EstimatorError("the inputs contain NaN or infinite values")
        width = kernel_width(x, self.sigma if self.x_sigma is None else self.x_sigma, self.k)
        return None if width == 0.0 else x / width

    def _entropy(self, x: np.ndarray, parts: np.ndarray | None = None) -> float:
        """S_α of the unit-width Gaussian kernel of ``x`` (N, d), block diagonal by
        ``parts``: exact pair sums for α = 2 without parts, else the spectra."""
        if self.alpha == 2.0 and parts is None:
            return float(renyi2_entropies(x[None], 1.0)[0, 0])
        return _block_entropy(x, parts, 1.0, self.alpha, self.exact_limit, self.trace_probes, self.seed)

    def estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        with threadpool_limits(_ONE_BLAS_THREAD, user_api="blas"):  # see _ONE_BLAS_THREAD
            return self._estimate_blocks(blocks)

    def _estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        acts = np.asarray(blocks.acts, dtype=np.float32)
        check_finite_blocks(acts)
        n = acts.shape[1]
        if n < 2:
            raise EstimatorError(f"the matrix-based entropy needs at least 2 samples, got N = {n}")
        labels = np.asarray(blocks.labels, dtype=np.int64)
        groups = blocks.groups if blocks.groups is not None and 0 < blocks.n_groups < n else None
        alpha = self.alpha
        inputs = self._scaled_inputs(blocks, n)
        s_y = _discrete_renyi(np.bincount(labels).astype(np.float64), alpha)
        if inputs is not None:
            s_x = self._entropy(inputs)
        else:
            s_x = math.log2(n) if groups is None else _discrete_renyi(np.bincount(groups).astype(np.float64), alpha)
        widths = self.widths(acts)
        joint = np.empty((len(acts), 3))  # S(T), S(T, Y), S(T, X)
        smooth = widths > 0
        if alpha == 2.0 and smooth.any():
            joint[smooth] = renyi2_entropies(acts[smooth], widths[smooth], labels, int(labels.max()) + 1,
                                             groups, blocks.n_groups if groups is not None else 0)
        for b in np.flatnonzero(~smooth | (alpha != 2.0)):
            x = acts[b].astype(np.float64)
            if widths[b] == 0.0:  # the σ -> 0 limit: discrete patterns
                codes = np.unique(x, axis=0, return_inverse=True)[1].ravel()
                joint[b] = [_discrete_renyi(np.unique(pair, axis=0, return_counts=True)[1].astype(np.float64),
                                            alpha)
                            for pair in (codes[:, None], np.stack([codes, labels], 1),
                                         np.stack([codes, groups if groups is not None else np.arange(n)], 1))]
                if inputs is not None:  # K_X ∘ [t_i == t_j]: block diagonal by pattern
                    joint[b, 2] = self._entropy(inputs, codes)
                continue
            run = dict(sigma=float(widths[b]), alpha=alpha, exact_limit=self.exact_limit, probes=self.trace_probes,
                       seed=self.seed)
            joint[b, 0] = _block_entropy(x, None, **run)
            joint[b, 1] = _block_entropy(x, labels, **run)
            if inputs is None:
                joint[b, 2] = math.log2(n) if groups is None else _block_entropy(x, groups, **run)
        if inputs is not None:  # K_X ∘ K_T: the unit-width kernel of [x / sigma_X, t / sigma_T]
            for b in np.flatnonzero(smooth):
                joint[b, 2] = self._entropy(np.concatenate([inputs, acts[b] / widths[b]], axis=1))
        i_xt = s_x + joint[:, 0] - joint[:, 2]
        i_ty = s_y + joint[:, 0] - joint[:, 1]
        return np.stack([i_xt, i_ty], axis=1)
