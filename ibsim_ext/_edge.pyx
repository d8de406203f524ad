# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""EDGE base estimators (compiled kernel).

A thin driver over ``edge_core.h``: blocks (run, epoch, layer) in parallel,
each hashing its activations once per ensemble member and counting the
dependence graph's edges. Semantics and the NumPy twin:
``ibsim.estimators.reference.edge_base_estimates``. Only
``ibsim.estimators.kernels`` calls this module.

Status codes per block (common.h): 0 ok, 1 a NaN or infinite activation,
2 a hash code beyond int64 (bin width too small for the activations), 3 out of memory.
"""
from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint64_t


include "_status.pxi"


cdef extern from "edge_core.h" nogil:
    int edge_block(const float* t, int64_t n, int64_t d, const double* width, int64_t n_members,
                   const double* factor, const double* shift, uint64_t hash_seed, uint64_t n_buckets,
                   const int64_t* labels, int64_t n_labels, const int64_t* groups, int64_t n_groups,
                   double* out)


def edge_base_estimates(const float[:, :, ::1] acts, const double[:, ::1] width, const double[::1] factor,
                        const double[:, ::1] shift, uint64_t hash_seed, uint64_t n_buckets,
                        const int64_t[::1] labels, long n_labels, const int64_t[::1] groups, long n_groups,
                        double[:, :, ::1] out, int[::1] status, int num_threads):
    """Fill ``out`` (blocks, members, 2) with each member's I(X;T) and I(T;Y) in nats.

    Args:
        acts: (blocks, N, d) float32 activations, C-contiguous.
        width: (blocks, d) base bin width of each neuron.
        factor: (members,) the index values t of the ensemble (width factor).
        shift: (members, d) random shifts, as fractions of a bin in [0, 1).
        hash_seed: Salt of the second hash (member l uses hash_seed + l).
        n_buckets: Number of buckets F of the second hash.
        labels: (N,) labels in [0, n_labels).
        groups: (N,) input groups in [0, n_groups); n_groups 0: every input distinct.
        out: (blocks, members, 2) float64 output.
        status: (blocks,) int32 output status.
        num_threads: OpenMP threads over blocks.
    """
    cdef Py_ssize_t b
    cdef int64_t n = acts.shape[1], d = acts.shape[2], members = factor.shape[0]
    for b in prange(acts.shape[0], nogil=True, num_threads=num_threads, schedule="dynamic"):
        status[b] = edge_block(&acts[b, 0, 0], n, d, &width[b, 0], members, &factor[0], &shift[0, 0], hash_seed,
                               n_buckets, &labels[0], n_labels, &groups[0], n_groups, &out[b, 0, 0])
