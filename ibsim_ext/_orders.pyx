# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Every run's batch orders for several epochs at once (compiled kernel).

Run r's order of each epoch is what ``numpy.random.Generator.permutation(n)``
returns for run r's generator, drawn from the same bit generator in the same
sequence, so the streams and the numbers stay NumPy's: ``np.arange(n)``
shuffled by Fisher-Yates from the last item down, item i swapped with a
uniform j in [0, i] drawn as NumPy's ``random_interval`` draws it (the
smallest all-ones mask >= i, 32-bit draws while i fits in 32 bits, rejected
until <= i). Runs are independent generators, so they are drawn in parallel.
Only ``ibsim.networks.batch_orders`` calls this module (and holds every
generator's lock while it runs).
"""
from cpython.pycapsule cimport PyCapsule_GetPointer
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc
from numpy.random cimport bitgen_t


cdef inline uint64_t _interval(bitgen_t *gen, uint64_t top) noexcept nogil:
    """A uniform integer in [0, top], as NumPy's random_interval draws it."""
    cdef uint64_t mask = top, value
    if top == 0:
        return 0
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    mask |= mask >> 32
    if top <= 0xffffffffUL:
        value = gen.next_uint32(gen.state) & mask
        while value > top:
            value = gen.next_uint32(gen.state) & mask
    else:
        value = gen.next_uint64(gen.state) & mask
        while value > top:
            value = gen.next_uint64(gen.state) & mask
    return value


cdef void _run_orders(bitgen_t *gen, int32_t *out, int64_t count, int64_t n, int64_t runs) noexcept nogil:
    """Fill column ``out[c * n * runs + i * runs]`` (one run's orders) for every epoch c."""
    cdef int64_t c, i, j
    cdef int32_t held
    cdef int32_t *order
    for c in range(count):
        order = out + c * n * runs
        for i in range(n):
            order[i * runs] = <int32_t>i
        for i in range(n - 1, 0, -1):
            j = <int64_t>_interval(gen, <uint64_t>i)
            held = order[j * runs]
            order[j * runs] = order[i * runs]
            order[i * runs] = held


def fill_orders(list bit_generators, int32_t[:, :, ::1] out, int num_threads):
    """Fill ``out`` (count, n, runs) with ``count`` epochs' orders of every run.

    Args:
        bit_generators: One NumPy BitGenerator per run (their locks held by the caller).
        out: (count, n, runs) int32 output, n < 2**31.
        num_threads: OpenMP threads over runs.
    """
    cdef int64_t runs = out.shape[2], r
    if len(bit_generators) != runs:
        raise ValueError(f"one bit generator per run ({runs}), got {len(bit_generators)}")
    if out.shape[0] == 0 or out.shape[1] == 0 or runs == 0:
        return
    cdef bitgen_t **gens = <bitgen_t **>malloc(runs * sizeof(bitgen_t *))
    if gens == NULL:
        raise MemoryError("no memory for the batch orders' generators")
    try:
        for r in range(runs):
            gens[r] = <bitgen_t *>PyCapsule_GetPointer(bit_generators[r].capsule, "BitGenerator")
        with nogil:
            for r in prange(runs, num_threads=num_threads, schedule="static"):
                _run_orders(gens[r], &out[0, 0, r], out.shape[0], out.shape[1], runs)
    finally:
        free(gens)
