# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Gaussian kernel sums for the KDE bounds (compiled kernel).

A thin driver over ``kde_core.h``: one block (run, epoch, layer) at a time, each
parallel over pairs of tiles (an AVX-512 kernel where the CPU has it, else a
portable one). Semantics and the NumPy twin:
``ibsim.estimators.reference.kde_log_sums``. Only ``ibsim.estimators.kernels``
calls this module.

Status codes per block: 0 ok, 1 a NaN or infinite activation, 3 out of memory.
"""
from libc.stdint cimport int64_t


include "_status.pxi"


cdef extern from "kde_core.h" nogil:
    int kd_block(const float* t, int64_t n, int64_t d, const int64_t* labels, int64_t n_labels,
                 double scale, int n_threads, int portable, double* out)
    int kd_has_avx512()


#: Whether this CPU runs the AVX-512 kernel (else the portable one).
HAS_AVX512 = bool(kd_has_avx512())


def kde_log_sums(const float[:, :, ::1] acts, const int64_t[::1] labels, long n_labels, double scale,
                 double[:, ::1] out, int[::1] status, int num_threads, bint portable=False):
    """Fill ``out`` (blocks, 2) with A = mean_i log S_i and B = mean_i log S_i^(y_i).

    Args:
        acts: (blocks, N, d) float32 activations, C-contiguous.
        labels: (N,) labels in [0, n_labels).
        n_labels: Number of labels (>= 1).
        scale: 1 / (2 variance) of the Gaussian kernel.
        out: (blocks, 2) float64 output.
        status: (blocks,) int32 output status.
        num_threads: OpenMP threads within each block.
        portable: Use the portable kernel even where the AVX-512 one would run.
    """
    cdef Py_ssize_t b
    cdef int code
    for b in range(acts.shape[0]):
        with nogil:
            code = kd_block(&acts[b, 0, 0], acts.shape[1], acts.shape[2], &labels[0], n_labels, scale,
                            num_threads, portable, &out[b, 0])
        status[b] = code
