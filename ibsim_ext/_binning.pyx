# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Binned entropies of activation patterns (compiled kernel).

A thin parallel driver over the C core in ``binning_core.h``: one OpenMP task
per block (one run, epoch and layer), per-thread scratch, no Python objects
inside the loop. The semantics, and the NumPy twin the tests compare against,
are in ``ibsim.estimators.reference.binned_entropies``. Only
``ibsim.estimators.kernels`` calls this module; it validates and allocates.

Status codes per block: 0 ok, 1 a NaN or infinite activation, 2 a bin code
outside the int64 range.
"""
from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport calloc, free, malloc

import threading

include "_status.pxi"


cdef extern from "binning_core.h" nogil:
    ctypedef struct ib_slot:
        uint64_t key
    ctypedef struct ib_scratch:
        int64_t cap
        ib_slot* table
        unsigned int stamp
        uint64_t* slots
        int64_t* rep_row
        int64_t* counts
        int64_t* ids
        uint64_t* keys
        unsigned char* bytes
        int64_t* codes_a
        int64_t* codes_b
        int64_t joint_size
        int64_t* joint
        int64_t* joint_key
    double ib_xlogx_sum(const int64_t* counts, int64_t n)
    int ib_block_entropies(const float* t, int64_t n, int64_t d, double lo, double width,
                           int64_t n_bins, const int64_t* labels, int64_t n_labels,
                           double label_term, const int64_t* groups, int64_t n_groups,
                           double group_term, ib_scratch* s, double* out)


cdef int64_t _pow2_at_least(int64_t n) noexcept nogil:
    cdef int64_t cap = 16
    while cap < n:
        cap *= 2
    return cap


cdef double _marginal_term(const int64_t[::1] values, int64_t n_values):
    """sum over values v of n_v log2 n_v (the same for every block)."""
    cdef int64_t* counts = <int64_t*> calloc(n_values, sizeof(int64_t))
    cdef Py_ssize_t i
    cdef double term
    if counts == NULL:
        raise MemoryError()
    for i in range(values.shape[0]):
        counts[values[i]] += 1
    term = ib_xlogx_sum(counts, n_values)
    free(counts)
    return term


cdef void _alloc(ib_scratch* s, int64_t n, int64_t d, int64_t cap, int64_t joint_size) noexcept nogil:
    s.cap = cap
    s.joint_size = joint_size
    s.table = <ib_slot*> calloc(cap, sizeof(ib_slot))
    s.stamp = 0
    s.slots = <uint64_t*> malloc(n * sizeof(uint64_t))
    s.rep_row = <int64_t*> malloc(n * sizeof(int64_t))
    s.counts = <int64_t*> malloc(n * sizeof(int64_t))
    s.ids = <int64_t*> malloc(n * sizeof(int64_t))
    s.keys = <uint64_t*> malloc(n * sizeof(uint64_t))
    s.bytes = <unsigned char*> calloc(n * d + 16, 1)
    s.codes_a = <int64_t*> malloc(d * sizeof(int64_t))
    s.codes_b = <int64_t*> malloc(d * sizeof(int64_t))
    s.joint = <int64_t*> malloc(joint_size * sizeof(int64_t))
    s.joint_key = <int64_t*> malloc(cap * sizeof(int64_t))


cdef bint _ok(ib_scratch* s) noexcept nogil:
    return (s.table != NULL and s.slots != NULL and s.rep_row != NULL
            and s.counts != NULL and s.ids != NULL and s.keys != NULL and s.bytes != NULL
            and s.codes_a != NULL and s.codes_b != NULL and s.joint != NULL
            and s.joint_key != NULL)


cdef void _free(ib_scratch* s) noexcept nogil:
    free(s.table)
    free(s.slots)
    free(s.rep_row)
    free(s.counts)
    free(s.ids)
    free(s.keys)
    free(s.bytes)
    free(s.codes_a)
    free(s.codes_b)
    free(s.joint)
    free(s.joint_key)


cdef class _ScratchPool:
    """Per-thread scratch kept between calls: allocating and zeroing the hash
    tables anew for each call cost as much as a small block's work."""

    cdef ib_scratch* items
    cdef int count
    cdef int64_t n, d, cap, joint_size

    def __cinit__(self):
        self.items = NULL
        self.count = 0

    cdef bint fits(self, int count, int64_t n, int64_t d, int64_t cap, int64_t joint_size):
        return (self.items != NULL and count <= self.count and n <= self.n and d <= self.d
                and cap == self.cap and joint_size <= self.joint_size)

    cdef void release(self):
        cdef int k
        if self.items != NULL:
            for k in range(self.count):
                _free(&self.items[k])
            free(self.items)
        self.items = NULL
        self.count = 0

    cdef ib_scratch* take(self, int count, int64_t n, int64_t d, int64_t cap, int64_t joint_size) except NULL:
        cdef int k
        cdef bint ok = True
        if self.fits(count, n, d, cap, joint_size):
            return self.items
        self.release()
        self.items = <ib_scratch*> calloc(count, sizeof(ib_scratch))
        if self.items == NULL:
            raise MemoryError()
        self.count, self.n, self.d, self.cap, self.joint_size = count, n, d, cap, joint_size
        for k in range(count):
            _alloc(&self.items[k], n, d, cap, joint_size)
            ok = ok and _ok(&self.items[k])
        if not ok:
            self.release()
            raise MemoryError("binned_entropies: could not allocate the per-thread hash tables")
        return self.items

    def __dealloc__(self):
        self.release()


_pool = _ScratchPool()
_pool_lock = threading.Lock()


def binned_entropies(const float[:, :, ::1] acts, const double[::1] lo,
                     const double[::1] width, long n_bins,
                     const int64_t[::1] labels, long n_labels,
                     const int64_t[::1] groups, long n_groups,
                     double[:, ::1] out, int[::1] status, int num_threads):
    """Fill ``out`` (blocks, 3) with H(T), H(T|Y), H(T|X) in bits.

    Args:
        acts: (blocks, N, d) float32 activations, C-contiguous, N >= 1, d >= 1.
        lo: (blocks,) lower bin edge per block.
        width: (blocks,) bin width per block, > 0.
        n_bins: clip codes to [0, n_bins - 1] when > 0; unbounded when 0.
        labels: (N,) class index per sample in [0, n_labels); n_labels 0 skips H(T|Y).
        groups: (N,) input-group index in [0, n_groups); n_groups 0 skips H(T|X).
        out: (blocks, 3) float64 output.
        status: (blocks,) int32 output status per block.
        num_threads: OpenMP threads for the loop over blocks.
    """
    cdef int64_t n_blocks = acts.shape[0], n = acts.shape[1], d = acts.shape[2]
    cdef int64_t cap = _pow2_at_least(4 * n)
    cdef int64_t joint_size = cap
    cdef Py_ssize_t b
    cdef int tid
    cdef double label_term = 0.0, group_term = 0.0
    cdef ib_scratch* scratch
    cdef _ScratchPool pool

    if n_blocks == 0:
        return
    if n_labels > 0:
        label_term = _marginal_term(labels, n_labels)
        if n_labels <= 64:
            joint_size = max(cap, n * n_labels)
    if 0 < n_groups < n:
        group_term = _marginal_term(groups, n_groups)

    # The shared pool serves one call at a time; a concurrent caller gets its own.
    shared = _pool_lock.acquire(blocking=False)
    pool = _pool if shared else _ScratchPool()
    try:
        scratch = pool.take(num_threads, n, d, cap, joint_size)
        if num_threads == 1:
            # no OpenMP region: entering one cost about 6 µs per call, a third of a block's work
            with nogil:
                for b in range(n_blocks):
                    status[b] = ib_block_entropies(
                        &acts[b, 0, 0], n, d, lo[b], width[b], n_bins,
                        &labels[0], n_labels, label_term, &groups[0], n_groups, group_term,
                        &scratch[0], &out[b, 0])
            return
        with nogil, parallel(num_threads=num_threads):
            for b in prange(n_blocks, schedule="dynamic"):
                tid = threadid()
                status[b] = ib_block_entropies(
                    &acts[b, 0, 0], n, d, lo[b], width[b], n_bins,
                    &labels[0], n_labels, label_term, &groups[0], n_groups, group_term,
                    &scratch[tid], &out[b, 0])
    finally:
        if shared:
            _pool_lock.release()
