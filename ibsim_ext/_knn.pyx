# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""k-nearest-neighbour searches for the k-NN estimators (compiled kernel).

A thin driver over ``knn_core.h``: one block of points at a time, a k-d tree
built over it and queried with every point, in parallel over points. Semantics
and the NumPy twins: ``ibsim.estimators.reference.knn_kth_distance``,
``knn_count_within`` and ``knn_class_radius_and_count``. Only ``ibsim.estimators.kernels`` calls this module.

Returns the status of common.h: 0 ok, 1 a NaN or infinite coordinate, 3 out of memory.
"""
from libc.stdint cimport int64_t

include "_status.pxi"


cdef extern from "knn_core.h" nogil:
    int KN_CHEBYSHEV
    int KN_EUCLIDEAN
    int KN_AUTO
    int KN_GROUPED
    int KN_PER_POINT
    int KN_LEAVES
    int kn_kth_distance(const double* x, int64_t n, int64_t d, int64_t k, int metric, int64_t split, int64_t group,
                        int how, int n_threads, double* out, int* ran)
    int kn_count_within(const double* x, int64_t n, int64_t d, const double* radius, int metric, int64_t split,
                        int how, int n_threads, int64_t* out)
    int kn_class_count(const double* x, int64_t n, int64_t d, const int64_t* labels, int64_t n_labels, int64_t k,
                       int metric, int how, int n_threads, double* radius, int64_t* count)

#: The metric codes of the kernel.
CHEBYSHEV, EUCLIDEAN = KN_CHEBYSHEV, KN_EUCLIDEAN
#: The searches (``how``): AUTO (the default: with group >= 2 the groups batched unless a first look at their
#: centroids or a probe finds them overlapping, else the points of each tree leaf batched), GROUPED, PER_POINT
#: (one point at a time), LEAVES. The same numbers whichever runs.
AUTO, GROUPED, PER_POINT, LEAVES = KN_AUTO, KN_GROUPED, KN_PER_POINT, KN_LEAVES


def kth_distance(const double[:, ::1] x, long k, int metric, long split, double[::1] out, int num_threads,
                 long group=1, int how=KN_AUTO, int[::1] ran=None):
    """Fill ``out`` (N,) with each row's distance to its k-th nearest other row.

    Args:
        x: (N, d) float64 points, C-contiguous, N > k >= 1, d >= 1.
        k: Neighbour rank.
        metric: CHEBYSHEV or EUCLIDEAN.
        split: EUCLIDEAN: the larger norm of coordinates [0, split) and [split, d) (split >= d: all together).
        out: (N,) float64 output.
        num_threads: OpenMP threads over points.
        group: 1 <= group <= N: rows [i group, (i + 1) group) (the last group possibly shorter) are searched
            together (noisy copies of one sample); the same numbers for any group, 1: one row at a time.
        how: AUTO (with group >= 2 the groups batched, unless a first look or a probe finds them overlapping; else the
            points of each tree leaf batched), or GROUPED, LEAVES, PER_POINT (one point at a time): the tests'
            hooks, the numbers are the same.
        ran: If given, ran[0] is set to the search that ran (GROUPED, LEAVES or PER_POINT).

    Returns:
        The status code.
    """
    cdef int code, used = KN_AUTO
    with nogil:
        code = kn_kth_distance(&x[0, 0], x.shape[0], x.shape[1], k, metric, split, group, how, num_threads, &out[0],
                               &used)
    if ran is not None:
        ran[0] = used
    return code


def count_within(const double[:, ::1] x, const double[::1] radius, int metric, long split, int64_t[::1] out,
                 int num_threads, int how=KN_AUTO):
    """Fill ``out`` (N,) with the rows (itself included) at distance <= ``radius[i]`` from row i.

    Args:
        x: (N, d) float64 points, C-contiguous, N >= 1, d >= 1.
        radius: (N,) float64 radii.
        metric: CHEBYSHEV or EUCLIDEAN.
        split: As for kth_distance.
        out: (N,) int64 output.
        num_threads: OpenMP threads over points.
        how: AUTO or LEAVES (the queries of a leaf batched), PER_POINT (one at a time; a test hook: the same
            counts).

    Returns:
        The status code.
    """
    cdef int code
    with nogil:
        code = kn_count_within(&x[0, 0], x.shape[0], x.shape[1], &radius[0], metric, split, how, num_threads,
                               &out[0])
    return code


def class_radius_and_count(const double[:, ::1] x, const int64_t[::1] labels, long n_labels, long k, int metric,
                           double[::1] radius, int64_t[::1] count, int num_threads, int how=KN_AUTO):
    """Ross's search: per row i of a class of at least two rows, ``radius[i]`` = its distance to its k_i-th
    nearest other row of its class (k_i = min(k, class size - 1)) and ``count[i]`` = the rows of any class
    (i included) strictly within it, as ``count_within`` counts them with ``np.nextafter(radius, 0)``;
    0 and 0 for the other rows.

    Args:
        x: (N, d) float64 points, C-contiguous, N >= 1, d >= 1.
        labels: (N,) int64 classes: 0 .. n_labels - 1 (any other value: no class; such rows are counted,
            not searched).
        n_labels: Number of classes (>= 0).
        k: Neighbour rank, >= 1.
        metric: CHEBYSHEV or EUCLIDEAN.
        radius: (N,) float64 output.
        count: (N,) int64 output.
        num_threads: OpenMP threads over points.
        how: AUTO or LEAVES (the points of a tree leaf batched), PER_POINT (one at a time; a test hook: the
            same numbers).

    Returns:
        The status code.
    """
    cdef int code
    with nogil:
        code = kn_class_count(&x[0, 0], x.shape[0], x.shape[1], &labels[0], n_labels, k, metric, how, num_threads,
                              &radius[0], &count[0])
    return code
