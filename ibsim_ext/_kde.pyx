# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Gaussian kernel sums for the KDE bounds (compiled kernel).

A thin driver over ``kde_core.h``: one block (run, epoch, layer) at a time, each
parallel over pairs of tiles. Semantics and the NumPy twin:
``ibsim.estimators.reference.kde_log_sums``. Only ``ibsim.estimators.kernels``
calls this module.

Status codes per block: 0 ok, 1 a NaN or infinite activation, 3 out of memory.
"""
from libc.stdint cimport int64_t


cdef extern from "common.h":
    enum ib_status:
        IB_OK, IB_NONFINITE, IB_CODE_OVERFLOW, IB_NO_MEMORY

#: The kernel status codes (common.h owns them).
STATUS_OK, STATUS_NONFINITE, STATUS_CODE_OVERFLOW, STATUS_NO_MEMORY = IB_OK, IB_NONFINITE, IB_CODE_OVERFLOW, IB_NO_MEMORY


cdef extern from "kde_core.h" nogil:
    int kd_block(const float* t, int64_t n, int64_t d, const int64_t* labels, int64_t n_labels,
                 double scale, int n_threads, double* out)


def kde_log_sums(const float[:, :, ::1] acts, const int64_t[::1] labels, long n_labels, double scale,
                 double[:, ::1] out, int[::1] status, int num_threads):
    """Fill ``out`` (blocks, 2) with A = mean_i log S_i and B = mean_i log S_i^(y_i).

    Args:
        acts: (blocks, N, d) float32 activations, C-contiguous.
        labels: (N,) labels in [0, n_labels).
        n_labels: Number of labels (>= 1).
        scale: 1 / (2 variance) of the Gaussian kernel.
        out: (blocks, 2) float64 output.
        status: (blocks,) int32 output status.
        num_threads: OpenMP threads within each block.
    """
    cdef Py_ssize_t b
    cdef int code
    for b in range(acts.shape[0]):
        with nogil:
            code = kd_block(&acts[b, 0, 0], acts.shape[1], acts.shape[2], &labels[0], n_labels, scale,
                            num_threads, &out[b, 0])
        status[b] = code
