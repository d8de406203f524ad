"""One generator of hostile inputs for every kernel (after bottleneck's tests/util.py).

Each case is (description, kwargs) for a kernel's fast and reference versions:
random data of several shapes and two seeds, ties, all-equal and all-distinct
rows, values exactly on and next to bin edges, huge values, clipping, repeated
inputs, many classes, one sample, one neuron, strided and float64 input, NaN
and infinities.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np


def _labels(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    return rng.integers(0, classes, n).astype(np.int64)


def binning_cases() -> Iterator[tuple[str, dict]]:
    """Inputs for ``binned_entropies``."""
    for seed in (0, 1):
        rng = np.random.default_rng(seed)

        def case(acts, lo=0.0, width=0.07, n_bins=0, classes=2, groups=None):
            acts = np.asarray(acts)
            blocks, n = acts.shape[0], acts.shape[1]
            kwargs = dict(
                acts=acts,
                lo=np.full(blocks, lo, dtype=np.float64),
                width=np.full(blocks, width, dtype=np.float64),
                n_bins=n_bins,
                labels=_labels(rng, n, classes),
                n_labels=classes,
            )
            if groups is not None:
                kwargs.update(groups=groups, n_groups=int(groups.max()) + 1)
            return kwargs

        for shape in [(1, 1, 1), (2, 1, 5), (3, 50, 1), (2, 300, 7), (2, 257, 12)]:
            yield f"normal{shape} seed{seed}", case(rng.normal(size=shape).astype(np.float32))
        yield f"tanh saturated seed{seed}", case(np.tanh(8 * rng.normal(size=(3, 400, 6))).astype(np.float32))
        yield f"relu zeros seed{seed}", case(np.maximum(rng.normal(size=(2, 400, 5)), 0).astype(np.float32))
        yield f"all rows equal seed{seed}", case(np.full((2, 100, 4), 0.3, dtype=np.float32))
        distinct = np.arange(2 * 128 * 3, dtype=np.float32).reshape(2, 128, 3) * 0.1
        yield f"all rows distinct seed{seed}", case(distinct, width=0.05)
        edges = (rng.integers(-20, 20, (2, 200, 5)) * np.float32(0.07)).astype(np.float32)
        yield f"exactly on bin edges seed{seed}", case(edges)
        near = np.nextafter(edges, np.float32(np.inf) * np.sign(rng.normal(size=edges.shape))).astype(np.float32)
        yield f"next to bin edges seed{seed}", case(near)
        # t / 0.07 for these t lies within an ulp of an integer, and t * (1 / 0.07)
        # rounds to the other side: the kernel must fall back to the exact division.
        awkward = np.array([1.75, 3.5, 5.25, 7.0, 10.5, -1.75, -3.5, -7.0], dtype=np.float32)
        yield f"reciprocal rounds across a bin edge seed{seed}", case(
            rng.choice(awkward, size=(2, 120, 4)).astype(np.float32)
        )
        # the same values in one neuron beside mid-bin values of the bins on either
        # side, so that a wrong floor moves them into another, counted bin
        k = np.round(awkward.astype(np.float64) / 0.07)
        neighbours = np.concatenate([(k - 0.5) * 0.07, (k + 0.5) * 0.07]).astype(np.float32)
        values = np.concatenate([awkward, neighbours])
        weights = rng.uniform(1, 3, values.size)
        yield f"reciprocal rounds across a counted bin edge seed{seed}", case(
            rng.choice(values, size=(2, 400, 1), p=weights / weights.sum()).astype(np.float32))
        yield f"huge values seed{seed}", case((rng.normal(size=(2, 100, 3)) * 1e5).astype(np.float32), width=1e-3)
        yield f"tiny width seed{seed}", case(rng.normal(size=(2, 100, 3)).astype(np.float32), width=1e-7)
        yield f"clipped to n_bins seed{seed}", case(
            (3 * rng.normal(size=(2, 300, 4))).astype(np.float32), lo=-1.0, width=2 / 30, n_bins=30
        )
        # The float32 byte-code path: edges of a lower bound that float32 cannot
        # hold, values at and next to it, tiny values of either sign, rows of
        # 1-8, 9-16 and more than 16 neurons, and a far lower bound (wide error
        # bound: most chunks are coded again in float64).
        lo_edges = (np.float32(0.1) + rng.integers(-10, 10, (2, 200, 3)) * np.float32(0.07)).astype(np.float32)
        yield f"edges of a lower bound float32 cannot hold seed{seed}", case(lo_edges, lo=0.1)
        at_lo = rng.choice(np.array([np.float32(0.1), np.nextafter(np.float32(0.1), np.float32(1)),
                                     np.nextafter(np.float32(0.1), np.float32(0))], dtype=np.float32),
                           size=(2, 100, 4))
        yield f"values at a lower bound float32 cannot hold seed{seed}", case(at_lo, lo=0.1)
        # float32 quotients of these land across a bin edge from the exact ones
        # (found by enumeration, with and without a fused multiply-add); 0.7 >
        # float32(0.7), so t = float32(0.7) has code -1 although t - lo32 == 0
        across = np.array([-1.5400001, -1.33, -1.12, -0.91, 0.7, 2.73, 2.94, -1.4700001, -1.47, -0.49000004,
                           -0.49, 0.48999998, 1.26, np.nextafter(np.float32(0.7), np.float32(1))], dtype=np.float32)
        yield f"float32 rounds across a bin edge seed{seed}", case(rng.choice(across, size=(2, 150, 3)), lo=0.7)
        # each of them alone in its chunk of 256 among mid-bin values, so that no
        # other element makes the kernel code its chunk again in float64
        mid = (np.float32(0.7) + (np.arange(-40, 40) + np.float32(0.5)) * np.float32(0.07)).astype(np.float32)
        lonely = rng.choice(mid, size=(2, 256 * len(across), 1))  # one neuron: one moved code changes H(T)
        lonely[:, 256 * np.arange(len(across)) + 100, 0] = across
        yield f"one value across a bin edge in its chunk seed{seed}", case(lonely, lo=0.7)
        across_range = np.array([0.39999995, 0.39999998, 1.3333333, 0.53333336, 0.99999994, 1.4666666, 1.6,
                                 1.9333333, -1.0, 0.0], dtype=np.float32)
        yield f"float32 rounds across an edge of 30 bins seed{seed}", case(
            rng.choice(across_range, size=(2, 150, 3)), lo=-1.0, width=2 / 30, n_bins=30)
        range_edges = (np.float32(-1) + rng.integers(0, 31, (2, 200, 9)) * np.float32(2 / 30)).astype(np.float32)
        yield f"edges of 30 bins over [-1, 1] seed{seed}", case(range_edges, lo=-1.0, width=2 / 30, n_bins=30)
        tiny = (rng.choice([-1, 1], size=(2, 120, 2)) * rng.choice([1e-39, 1e-45, 1e-30, 0.0], size=(2, 120, 2)))
        yield f"tiny values of either sign seed{seed}", case(tiny.astype(np.float32))
        yield f"16 neurons seed{seed}", case(np.tanh(rng.normal(size=(2, 300, 16))).astype(np.float32), width=0.7)
        yield f"24 neurons, 2 bits seed{seed}", case(np.tanh(rng.normal(size=(2, 300, 24))).astype(np.float32),
                                                     width=0.6)
        yield f"far lower bound seed{seed}", case(rng.normal(size=(2, 300, 5)).astype(np.float32), lo=-3000.3,
                                                  width=0.9)
        wide = rng.normal(size=(2, 150, 40)).astype(np.float32)
        yield f"wide layer (hashed path) seed{seed}", case(wide, width=0.5)
        groups = rng.integers(0, 40, 150).astype(np.int64)
        groups[:40] = np.arange(40)
        yield f"repeated inputs seed{seed}", case(rng.normal(size=(2, 150, 3)).astype(np.float32), width=0.5,
                                                   groups=groups)
        yield f"many classes seed{seed}", case(rng.normal(size=(2, 300, 3)).astype(np.float32), width=0.3,
                                                classes=100)
        yield f"one class seed{seed}", case(rng.normal(size=(2, 50, 3)).astype(np.float32), classes=1)
        strided = rng.normal(size=(2, 40, 12)).astype(np.float32)[:, ::2, ::3]
        yield f"strided view seed{seed}", case(strided, width=0.4)
        yield f"float64 input seed{seed}", case(rng.normal(size=(2, 60, 3)), width=0.2)
        nan = rng.normal(size=(2, 30, 3)).astype(np.float32)
        nan[1, 5, 2] = np.nan
        yield f"NaN seed{seed}", case(nan)
        inf = rng.normal(size=(2, 30, 3)).astype(np.float32)
        inf[0, 3, 1] = np.inf
        yield f"inf seed{seed}", case(inf)


def kde_cases() -> Iterator[tuple[str, dict]]:
    """Inputs for ``kde_log_sums`` (small N: the twin is the dense N x N formula)."""
    for seed in (0, 1):
        rng = np.random.default_rng(seed)

        def case(acts, scale=500.0, classes=2):
            acts = np.asarray(acts)
            return dict(acts=acts, labels=_labels(rng, acts.shape[1], classes), n_labels=classes, scale=scale)

        for shape in [(1, 1, 1), (2, 1, 4), (2, 7, 1), (2, 150, 10), (1, 300, 3)]:
            yield f"tanh{shape} seed{seed}", case(np.tanh(2 * rng.normal(size=shape)).astype(np.float32))
        dup = np.tanh(rng.normal(size=(2, 200, 5))).astype(np.float32)
        dup[:, 50:150] = dup[:, :1]
        yield f"many duplicates seed{seed}", case(dup)
        yield f"all rows equal seed{seed}", case(np.full((2, 80, 3), 0.25, dtype=np.float32))
        yield f"wide kernel seed{seed}", case(rng.normal(size=(2, 120, 6)).astype(np.float32), scale=0.05)
        yield f"narrow kernel seed{seed}", case(rng.normal(size=(2, 120, 6)).astype(np.float32), scale=1e7)
        yield f"clusters seed{seed}", case(
            (np.repeat(rng.normal(size=(6, 4)) * 5, 30, axis=0) + 1e-3 * rng.normal(size=(180, 4)))[None]
            .astype(np.float32)
        )
        yield f"many classes seed{seed}", case(rng.normal(size=(2, 200, 3)).astype(np.float32), classes=30)
        yield f"one class seed{seed}", case(rng.normal(size=(2, 90, 3)).astype(np.float32), classes=1)
        yield f"float64 input seed{seed}", case(rng.normal(size=(1, 60, 3)), scale=2.0)
        yield f"strided view seed{seed}", case(rng.normal(size=(2, 80, 10)).astype(np.float32)[:, ::2, ::2])
        nan = rng.normal(size=(2, 30, 3)).astype(np.float32)
        nan[1, 4, 0] = np.nan
        yield f"NaN seed{seed}", case(nan)
        inf = rng.normal(size=(2, 30, 3)).astype(np.float32)
        inf[0, 0, 2] = -np.inf
        yield f"inf seed{seed}", case(inf)


def edge_cases() -> Iterator[tuple[str, dict]]:
    """Inputs for ``edge_base_estimates`` (small N: the twin hashes in Python loops)."""
    for seed in (0, 1):
        rng = np.random.default_rng(seed)

        def case(acts, width=0.3, factor=(1.0, 1.7), classes=2, groups=None, n_buckets=10**6, shift=None):
            acts = np.asarray(acts)
            blocks, n, d = acts.shape
            factor = np.asarray(factor, dtype=np.float64)
            kwargs = dict(
                acts=acts,
                width=np.broadcast_to(np.asarray(width, dtype=np.float64), (blocks, d)).copy(),
                factor=factor,
                shift=rng.random((len(factor), d)) if shift is None else shift,
                hash_seed=int(rng.integers(0, 2**63)),
                n_buckets=n_buckets,
                labels=_labels(rng, n, classes),
                n_labels=classes,
            )
            if groups is not None:
                kwargs.update(groups=groups, n_groups=int(groups.max()) + 1)
            return kwargs

        for shape in [(1, 1, 1), (2, 5, 3), (2, 150, 1), (2, 200, 6), (1, 120, 20)]:
            yield f"tanh{shape} seed{seed}", case(np.tanh(2 * rng.normal(size=shape)).astype(np.float32))
        yield f"all rows equal seed{seed}", case(np.full((2, 80, 3), 0.25, dtype=np.float32))
        yield f"saturated seed{seed}", case(np.sign(rng.normal(size=(2, 150, 4))).astype(np.float32))
        # values on the bin edges of a zero shift: floor of exact integers and their neighbours
        on_edges = (rng.integers(-5, 5, (2, 120, 3)) * np.float32(0.5)).astype(np.float32)
        yield f"on bin edges seed{seed}", case(on_edges, width=0.5, factor=(1.0,), shift=np.zeros((1, 3)))
        yield f"next to bin edges seed{seed}", case(np.nextafter(on_edges, np.float32(-np.inf)), width=0.5,
                                                     factor=(1.0,), shift=np.zeros((1, 3)))
        yield f"negative codes seed{seed}", case((rng.normal(size=(2, 100, 3)) * 50 - 200).astype(np.float32))
        yield f"few buckets (second-hash collisions) seed{seed}", case(
            rng.normal(size=(2, 150, 4)).astype(np.float32), n_buckets=7)
        yield f"one bucket seed{seed}", case(rng.normal(size=(1, 60, 2)).astype(np.float32), n_buckets=1)
        yield f"huge bucket count seed{seed}", case(rng.normal(size=(1, 60, 2)).astype(np.float32),
                                                    n_buckets=2**64 - 59)
        yield f"per-neuron widths seed{seed}", case(rng.normal(size=(2, 100, 3)).astype(np.float32),
                                                    width=np.array([0.1, 1.0, 10.0]))
        groups = rng.integers(0, 30, 150).astype(np.int64)
        groups[:30] = np.arange(30)
        yield f"repeated inputs seed{seed}", case(rng.normal(size=(2, 150, 3)).astype(np.float32), groups=groups)
        yield f"many classes seed{seed}", case(rng.normal(size=(2, 200, 3)).astype(np.float32), classes=40)
        yield f"one class seed{seed}", case(rng.normal(size=(2, 60, 3)).astype(np.float32), classes=1)
        yield f"float64 input seed{seed}", case(rng.normal(size=(1, 60, 3)))
        yield f"strided view seed{seed}", case(rng.normal(size=(2, 80, 10)).astype(np.float32)[:, ::2, ::2])
        yield f"code overflow seed{seed}", case((rng.normal(size=(2, 30, 2)) * 1e30).astype(np.float32),
                                                width=1e-10)
        nan = rng.normal(size=(2, 30, 3)).astype(np.float32)
        nan[1, 4, 0] = np.nan
        yield f"NaN seed{seed}", case(nan)
        inf = rng.normal(size=(2, 30, 3)).astype(np.float32)
        inf[0, 0, 2] = -np.inf
        yield f"inf seed{seed}", case(inf)


def renyi2_cases() -> Iterator[tuple[str, dict]]:
    """Inputs for ``renyi2_entropies`` (small N: the twin is the dense N x N formula)."""
    for seed in (0, 1):
        rng = np.random.default_rng(seed)

        def case(acts, sigma=0.5, classes=2, groups=None):
            acts = np.asarray(acts)
            kwargs = dict(acts=acts, sigma=sigma, labels=_labels(rng, acts.shape[1], classes), n_labels=classes)
            if groups is not None:
                kwargs.update(groups=groups, n_groups=int(groups.max()) + 1)
            return kwargs

        for shape in [(1, 1, 1), (2, 1, 4), (2, 7, 1), (2, 150, 10), (1, 300, 3), (1, 70, 130)]:
            yield f"tanh{shape} seed{seed}", case(np.tanh(2 * rng.normal(size=shape)).astype(np.float32))
        dup = np.tanh(rng.normal(size=(2, 200, 5))).astype(np.float32)
        dup[:, 50:150] = dup[:, :1]
        yield f"many duplicates seed{seed}", case(dup)
        groups = np.repeat(np.arange(50), 4)
        rep = np.repeat(np.tanh(rng.normal(size=(2, 50, 3))), 4, axis=1).astype(np.float32)
        rep[:, ::8] += 0.1  # a stochastic-looking layer: identical inputs, different rows
        yield f"repeated inputs seed{seed}", case(rep, groups=groups)
        yield f"all rows equal seed{seed}", case(np.full((2, 80, 3), 0.25, dtype=np.float32))
        yield f"wide kernel seed{seed}", case(rng.normal(size=(2, 120, 6)).astype(np.float32), sigma=30.0)
        yield f"narrow kernel seed{seed}", case(rng.normal(size=(2, 120, 6)).astype(np.float32), sigma=1e-3)
        yield f"per-block sigma seed{seed}", case(rng.normal(size=(2, 60, 3)).astype(np.float32),
                                                 sigma=np.array([0.2, 2.0]))
        yield f"many classes seed{seed}", case(rng.normal(size=(2, 200, 3)).astype(np.float32), classes=30)
        yield f"float64 input seed{seed}", case(rng.normal(size=(1, 60, 3)), sigma=1.5)
        yield f"strided view seed{seed}", case(rng.normal(size=(2, 80, 10)).astype(np.float32)[:, ::2, ::2])
        yield f"zero sigma seed{seed}", case(rng.normal(size=(1, 20, 3)).astype(np.float32), sigma=0.0)
        nan = rng.normal(size=(2, 30, 3)).astype(np.float32)
        nan[1, 4, 0] = np.nan
        yield f"NaN seed{seed}", case(nan)


def _knn_point_sets(rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray]]:
    """Point sets for the k-NN kernels: ties (lattice points), duplicates, clusters, lopsided splits, 1 to 17 dims."""
    for shape in [(5, 1), (40, 2), (300, 3), (200, 10), (150, 17)]:
        yield f"normal{shape}", rng.normal(size=shape)
    yield "lattice (ties at every radius)", rng.integers(-3, 4, (300, 3)).astype(np.float64)
    yield "lattice in 5 dims", rng.integers(0, 2, (200, 5)).astype(np.float64)
    dup = rng.normal(size=(120, 4))
    dup[40:80] = dup[:1]
    yield "many duplicates", dup
    yield "all points equal", np.full((50, 3), 0.25)
    yield "tight clusters (noisy copies)", np.repeat(np.tanh(3 * rng.normal(size=(60, 6))), 8, axis=0) + \
        0.03 * rng.normal(size=(480, 6))
    yield "float32 input", rng.normal(size=(80, 3)).astype(np.float32)
    yield "strided view", rng.normal(size=(100, 8))[::2, ::2]
    yield "huge and tiny values", rng.normal(size=(100, 3)) * np.array([1e150, 1e-150, 1.0])
    # the tree's splits: lopsided middles (heavy tails, scales halving per point) fall back to medians;
    # many equal points over several levels; more points than one leaf in 1-D; N = k + 1
    yield "Cauchy tails (lopsided splits)", rng.standard_cauchy(size=(1500, 2))
    yield "scales halving per point (1-D)", (2.0 ** -np.arange(400.0))[:, None]
    yield "1-D with ties", rng.integers(0, 5, (200, 1)).astype(np.float64)
    yield "700 equal points", np.full((700, 2), -3.5)
    yield "N = k + 1", rng.normal(size=(4, 2))
    yield "noisy copies of saturated patterns (1600 points)", np.repeat(
        np.sign(rng.normal(size=(200, 5))) * rng.choice([0.999, 0.97], size=(200, 5)), 8, axis=0
    ) + 0.0316 * rng.normal(size=(1600, 5))


def _refusal_points(rng: np.random.Generator) -> np.ndarray:
    """30 finite points in 3 dimensions (for the refusals of a bad argument)."""
    return rng.normal(size=(30, 3))


def knn_group_point_sets(rng: np.random.Generator) -> Iterator[tuple[str, np.ndarray, int]]:
    """Point sets for the grouped k-th distance search, each with the group it is built of (rows
    ``[i g, (i + 1) g)`` copies of one point, as ``np.repeat`` lays them out, or no such structure):
    isolated and overlapping groups, duplicate rows and groups, ties, 1 to 16 dimensions."""
    for d in (1, 2, 7, 10, 16):
        centres = np.tanh(3 * rng.normal(size=(40, d)))
        yield f"isolated copies d={d}", np.repeat(centres, 8, axis=0) + 0.002 * rng.normal(size=(320, d)), 8
        yield f"overlapping copies d={d}", np.repeat(centres, 8, axis=0) + 0.5 * rng.normal(size=(320, d)), 8
    saturated = np.sign(rng.normal(size=(60, 3)))  # 8 patterns: groups of the same pattern overlap exactly
    yield "saturated patterns, copies", np.repeat(saturated, 4, axis=0) + 0.01 * rng.normal(size=(240, 3)), 4
    yield "duplicate copies (no noise)", np.repeat(saturated, 4, axis=0), 4
    yield "lattice copies (ties)", np.repeat(rng.integers(-2, 3, (50, 2)).astype(np.float64), 16, axis=0) + \
        rng.integers(-1, 2, (800, 2)), 16
    yield "copies of a tight cluster in 10 dims", np.repeat(0.01 * rng.normal(size=(30, 10)), 2, axis=0) + \
        0.01 * rng.normal(size=(60, 10)), 2
    yield "normal, no groups", rng.normal(size=(250, 5)), 1
    yield "huge and tiny values, copies", np.repeat(rng.normal(size=(25, 3)) * np.array([1e150, 1e-150, 1.0]),
                                                    4, axis=0) * (1 + 1e-3 * rng.normal(size=(100, 3))), 4


def knn_cases(kernel: str) -> Iterator[tuple[str, dict]]:
    """Inputs for ``knn_kth_distance`` or ``knn_count_within`` (both metrics; KSG's split joint norm;
    the k-th distances also grouped, 2 to 16 rows, groups that do not divide N included)."""
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        for i, (label, points) in enumerate(_knn_point_sets(rng)):
            for metric in ("chebyshev", "euclidean"):
                splits = [None] + ([points.shape[1] // 2] if metric == "euclidean" and points.shape[1] > 1 else [])
                for split in splits:
                    where = f"{label} {metric} split={split} seed{seed}"
                    if kernel == "knn_kth_distance":
                        for k in (1, 3):
                            yield f"{where} k={k}", dict(points=points, k=k, metric=metric, split=split)
                            group = (2, 3, 8, 16)[(i + k) % 4]
                            if group <= len(points):
                                yield f"{where} k={k} group={group}", dict(points=points, k=k, metric=metric,
                                                                           split=split, group=group)
                    else:
                        # radii at neighbour distances (points exactly on them), just below, random and negative
                        dist = np.abs(np.asarray(points, dtype=np.float64)[:, :1] - np.asarray(points)[::-1, :1].T)
                        radius = np.sort(dist, axis=1)[:, min(3, len(points) - 1)]
                        yield f"{where} radius on distances", dict(points=points, radius=radius, metric=metric,
                                                                   split=split)
                        yield f"{where} radius below", dict(points=points, radius=np.nextafter(radius, 0),
                                                            metric=metric, split=split)
                        mixed = rng.uniform(-0.5, 2.0, len(points))
                        yield f"{where} random radii", dict(points=points, radius=mixed, metric=metric, split=split)
        bad = rng.normal(size=(30, 3))
        bad[4, 1] = np.nan
        yield f"NaN seed{seed}", (dict(points=bad, k=2) if kernel == "knn_kth_distance"
                                  else dict(points=bad, radius=np.ones(30)))
        small = rng.normal(size=(3, 2))
        if kernel == "knn_kth_distance":
            yield f"N <= k seed{seed}", dict(points=small, k=3)
            for label, points, group in knn_group_point_sets(rng):
                for metric in ("chebyshev", "euclidean"):
                    for k in (1, 3, 10):
                        for g in sorted({group, 2, 16}):
                            yield f"{label} {metric} k={k} group={g} seed{seed}", dict(
                                points=points, k=k, metric=metric, group=g)
            for bad in (0, -1, 31, 2.5, True, "8", None):  # refused by both
                yield f"group={bad!r} seed{seed}", dict(points=_refusal_points(rng), k=2, group=bad)
        else:
            yield f"NaN radius seed{seed}", dict(points=small, radius=np.array([1.0, np.nan, 1.0]))


def _class_labels(rng: np.random.Generator, points: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """Labels for Ross's search over ``points``: few and many classes, classes of one and of at most k
    members, one class, classes apart in space with lone members among another class, negative (no class),
    sparse and boolean labels."""
    n = len(points)
    yield "2 classes", rng.integers(0, 2, n)
    yield "10 classes", rng.integers(0, 10, n)
    yield "classes of 1 to ~5 (<= k)", rng.integers(0, max(1, n // 3), n)
    yield "one class", np.zeros(n, dtype=np.int64)
    first = np.asarray(points, dtype=np.float64)[:, 0]
    apart = (first > np.median(first)).astype(np.int64)
    apart[rng.random(n) < 0.03] ^= 1  # lone members deep in the other class
    yield "classes apart, lone members", apart
    yield "no-class (negative) and sparse labels", rng.choice(np.array([-1, -7, 3, 10**12]), n)
    yield "boolean labels", rng.random(n) < 0.3
    yield "all singletons", np.arange(n)


def knn_class_cases() -> Iterator[tuple[str, dict]]:
    """Inputs for ``knn_class_radius_and_count`` (Ross's search): the k-NN point sets (ties, duplicates,
    clusters, 1 to 17 dims) with several labellings each, both metrics, k = 1, 3, 10; refusals."""
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        for i, (label, points) in enumerate(_knn_point_sets(rng)):
            schemes = list(_class_labels(rng, points))
            for metric in ("chebyshev", "euclidean"):
                for j in range(3):
                    name, labels = schemes[(3 * i + 3 * (metric == "euclidean") + j) % len(schemes)]
                    k = (1, 3, 10)[(i + j) % 3]
                    yield f"{label} {name} {metric} k={k} seed{seed}", dict(points=points, labels=labels, k=k,
                                                                           metric=metric)
        good = rng.normal(size=(30, 3))
        labels = rng.integers(0, 3, 30)
        bad = good.copy()
        bad[4, 1] = np.nan
        yield f"NaN seed{seed}", dict(points=bad, labels=labels, k=2)
        yield f"labels of another length seed{seed}", dict(points=good, labels=labels[:29], k=2)
        yield f"float labels seed{seed}", dict(points=good, labels=labels.astype(np.float64), k=2)
        for k in (0, -1, True, 2.5, "3"):
            yield f"k={k!r} seed{seed}", dict(points=good, labels=labels, k=k)
        yield f"unknown metric seed{seed}", dict(points=good, labels=labels, k=2, metric="cosine")
