# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Gaussian-mixture log densities for the sample-propagation estimator (compiled kernel).

A thin driver over ``sp_core.h``. Semantics and the NumPy twin:
``ibsim.estimators.reference.sp_log_sums``. Only ``ibsim.estimators.kernels``
calls this module.

Status: 0 ok, 1 a NaN or infinite centre or query, 3 out of memory.
"""
from libc.stdint cimport int64_t


include "_status.pxi"


cdef extern from "sp_core.h" nogil:
    int sp_block(const double* queries, const int64_t* owner, int64_t m, const float* centres, int64_t n,
                 int64_t d, const int64_t* labels, const int64_t* groups, double scale, int n_threads,
                 double* out)


def sp_log_sums(const double[:, ::1] queries, const int64_t[::1] owner, const float[:, ::1] centres,
                const int64_t[::1] labels, const int64_t[::1] groups, bint has_groups, double scale,
                double[:, ::1] out, int num_threads):
    """Fill ``out`` (m, 3) with each query's log sums over all centres, its owner's class and group.

    Args:
        queries: (m, d) float64 points, C-contiguous.
        owner: (m,) the centre each query was drawn around, in [0, n).
        centres: (n, d) float32 centres, C-contiguous.
        labels: (n,) class of each centre.
        groups: (n,) input group of each centre (read only when ``has_groups``).
        has_groups: False: column 2 is the owner's term alone.
        scale: 1 / (2 variance) of the Gaussian kernel.
        out: (m, 3) float64 output.
        num_threads: OpenMP threads over queries.

    Returns:
        The status (an ib_status code).
    """
    cdef int code
    cdef const int64_t* group_ptr = &groups[0] if has_groups else NULL
    with nogil:
        code = sp_block(&queries[0, 0], &owner[0], queries.shape[0], &centres[0, 0], centres.shape[0],
                        centres.shape[1], &labels[0], group_ptr, scale, num_threads,
                        &out[0, 0])
    return code
