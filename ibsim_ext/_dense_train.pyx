# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Training epochs of every run of a dense ensemble (compiled kernel).

A thin driver over ``dense_train_core.h``: the active runs in parallel (OpenMP;
a run's epochs may be shared by two threads, one after the other, so that
every thread trains as many epochs), each epoch in the run's own workspace, so
a run's numbers do not depend on the group or the thread count. Only
``ibsim.networks.compiled_trainer`` calls this module; it checks every input.

Status codes per run (common.h): 0 ok, 3 out of memory.
"""
from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport calloc, free, malloc


include "_status.pxi"


cdef extern from "dense_train_core.h" nogil:
    ctypedef struct dt_net:
        int64_t n_layers
        const int64_t* widths
        int activation
        int adam
        float learning_rate
        float max_norm
        int64_t batch
        int64_t n_runs
    enum dt_activation:
        DT_LINEAR, DT_TANH, DT_SIGMOID, DT_RELU, DT_RELU6, DT_LEAKY_RELU, DT_SOFTSIGN, DT_HARD_SIGMOID
    int dt_train_run(const dt_net* net, int64_t r, float* const* params, float* const* slots,
                     double* const* stats, const float* x, const float* y, const int32_t* labels, int64_t n,
                     const int32_t* perm, const float* alphas, const float* xm, const float* ym,
                     const int32_t* labels_m, int64_t nm, double* out)
    void dt_adam_alphas(float learning_rate, int64_t steps, int64_t n_steps, float* out)
    int dt_record_run(const dt_net* net, int64_t r, float* const* params, const float* x, int64_t n,
                      float* const* outs)
    void dt_train_share(const dt_net* net, float* const* params, float* const* slots, double* const* stats,
                        const float* x, const float* y, const int32_t* labels, int64_t n, const int32_t* perm,
                        const float* alphas, int64_t steps, const float* xm, const float* ym,
                        const int32_t* labels_m, int64_t nm, const int64_t* runs, int64_t J, int64_t E,
                        double* out, int* status, int64_t* done, int64_t t, int64_t T)
    int64_t dt_team_size()


#: The hidden activations the kernel implements, by name (ibsim/networks/activations.py).
ACTIVATIONS = {"linear": DT_LINEAR, "tanh": DT_TANH, "sigmoid": DT_SIGMOID, "relu": DT_RELU, "relu6": DT_RELU6,
               "leaky_relu": DT_LEAKY_RELU, "softsign": DT_SOFTSIGN, "hard_sigmoid": DT_HARD_SIGMOID}

#: The most weighted layers the kernel takes.
MAX_LAYERS = 64


def adam_alphas(float learning_rate, int64_t steps, int64_t n_steps, float[::1] out):
    """Fill ``out`` (n_steps,) with Adam's step sizes for steps ``steps + 1`` on (float32)."""
    dt_adam_alphas(learning_rate, steps, n_steps, &out[0])


cdef dt_net _net(const int64_t[::1] widths, int activation, bint adam, float learning_rate, float max_norm,
                 int64_t batch, int64_t n_runs):
    """The kernel's description of the network (``widths`` must outlive it)."""
    cdef dt_net net
    net.n_layers = widths.shape[0] - 1
    net.widths = &widths[0]
    net.activation = activation
    net.adam = adam
    net.learning_rate = learning_rate
    net.max_norm = max_norm
    net.batch = batch
    net.n_runs = n_runs
    return net


cdef void** _table(list arrays, list keep, bint wide) except NULL:
    """A malloc'ed table of pointers to the data of C-contiguous float32 (or,
    ``wide``, float64) arrays, whose views are kept alive in ``keep``; free() it."""
    cdef void** table = <void**>malloc(max(1, len(arrays)) * sizeof(void*))
    cdef float[::1] view
    cdef double[::1] view64
    cdef Py_ssize_t j
    if not table:
        raise MemoryError("a pointer table of the compiled trainer")
    try:
        for j in range(len(arrays)):
            if wide:
                view64 = arrays[j].reshape(-1)
                keep.append(view64)
                table[j] = &view64[0]
            else:
                view = arrays[j].reshape(-1)
                keep.append(view)
                table[j] = &view[0]
    except BaseException:
        free(table)
        raise
    return table


def train_epochs(list params, list slots, list stats, const float[:, ::1] x, const float[:, ::1] y,
                 const int32_t[::1] labels, const int32_t[:, :, ::1] perm, const float[:, ::1] xm,
                 const float[:, ::1] ym, const int32_t[::1] labels_m, const int64_t[::1] runs,
                 const int64_t[::1] widths, int activation, bint adam, float learning_rate, float max_norm,
                 int64_t batch, const float[:, ::1] alphas, double[:, :, ::1] out, int[::1] status,
                 int num_threads):
    """Train the runs ``runs`` (positions in the group) for E epochs, in place:
    the runs' epochs shared out evenly among the threads (``dt_train_share``;
    one parallel region for all of them).

    Args:
        params: Kernels (in, out, R) then biases (out, R), float32, C-contiguous, writable.
        slots: Adam's m, v of every parameter in the same order (empty for SGD).
        stats: Sum and sum of squares (float64) of every kernel's gradient over
            the *last* epoch's mini-batches, or empty.
        x: (n, features) inputs; y: (n, classes) one-hot targets; labels: (n,) their argmax.
        perm: (E, n, R) every run's sample order in each epoch.
        xm, ym, labels_m: the held-out samples (nm may be 0).
        runs: the positions of the runs to train (the active ones).
        widths: (L + 1,) the layer widths.
        activation: a value of :data:`ACTIVATIONS`.
        adam: Adam (else SGD).
        learning_rate, max_norm: the optimizer's step and the MaxNorm bound (0: off).
        batch: the mini-batch size.
        alphas: (E, steps of an epoch) Adam's step sizes (:func:`adam_alphas`).
        out: (E, R, 4) float64: training loss, training accuracy, held-out loss,
            held-out accuracy after each epoch.
        status: (R,) int32 status of each trained run (it stops at its first
            epoch that fails).
        num_threads: OpenMP threads over runs.
    """
    cdef dt_net net = _net(widths, activation, adam, learning_rate, max_norm, batch, perm.shape[2])
    cdef list keep = []
    cdef void** p = NULL
    cdef void** s = NULL
    cdef void** g = NULL
    try:
        p = _table(params, keep, False)
        s = _table(slots, keep, False)
        g = _table(stats, keep, True)
        _train_runs(&net, <float**>p, <float**>s if len(slots) else NULL, <double**>g if len(stats) else NULL,
                    x, y, labels, perm, xm, ym, labels_m, runs, alphas, out, status, num_threads)
    finally:
        free(p)
        free(s)
        free(g)


cdef void _train_runs(const dt_net* net, float** p, float** s, double** g, const float[:, ::1] x,
                     const float[:, ::1] y, const int32_t[::1] labels, const int32_t[:, :, ::1] perm,
                     const float[:, ::1] xm, const float[:, ::1] ym, const int32_t[::1] labels_m,
                     const int64_t[::1] runs, const float[:, ::1] alphas, double[:, :, ::1] out, int[::1] status,
                     int num_threads) noexcept:
    """The runs' epochs shared out among the threads (``dt_train_share``: every
    thread the same number of epochs); each run's status into ``status`` (3,
    out of memory, for every run when the runs' counters cannot be allocated)."""
    cdef int64_t n = x.shape[0], nm = xm.shape[0], n_runs = runs.shape[0]
    cdef const float* xm_ptr = &xm[0, 0] if nm else NULL
    cdef const float* ym_ptr = &ym[0, 0] if nm else NULL
    cdef const int32_t* lm_ptr = &labels_m[0] if nm else NULL
    cdef int64_t* done
    cdef Py_ssize_t j
    if n_runs == 0:
        return
    done = <int64_t*>calloc(n_runs, sizeof(int64_t))
    if done == NULL:
        for j in range(n_runs):
            status[runs[j]] = 3
        return
    with nogil, parallel(num_threads=num_threads):
        dt_train_share(net, p, s, g, &x[0, 0], &y[0, 0], &labels[0], n, &perm[0, 0, 0], &alphas[0, 0],
                       alphas.shape[1], xm_ptr, ym_ptr, lm_ptr, nm, &runs[0], n_runs, perm.shape[0], &out[0, 0, 0],
                       &status[0], done, threadid(), dt_team_size())
    free(done)


#: Samples per chunk of a recording's forward pass (any value gives the same numbers).
RECORD_CHUNK = 256


def record(list params, const float[:, ::1] x, const int64_t[::1] widths, int activation, list outs,
           int[::1] status, int num_threads):
    """Every run's outputs on the samples ``x``: each layer's activations (the
    read-out's softmax probabilities) into ``outs``.

    Args:
        params: Kernels (in, out, R) then biases (out, R), float32, C-contiguous.
        x: (n, features) inputs.
        widths: (L + 1,) the layer widths.
        activation: a value of :data:`ACTIVATIONS`.
        outs: L float32 arrays (R, n, widths[l + 1]), C-contiguous, written.
        status: (R,) int32 status of each run.
        num_threads: OpenMP threads over runs.
    """
    cdef Py_ssize_t r, n_runs = status.shape[0]
    cdef dt_net net = _net(widths, activation, False, 0.0, 0.0, RECORD_CHUNK, n_runs)
    cdef list keep = []
    cdef void** p = NULL
    cdef void** o = NULL
    cdef int64_t n = x.shape[0]
    try:
        p = _table(params, keep, False)
        o = _table(outs, keep, False)
        with nogil:
            for r in prange(n_runs, num_threads=num_threads, schedule="static", chunksize=1):
                status[r] = dt_record_run(&net, r, <float**>p, &x[0, 0], n, <float**>o)
    finally:
        free(p)
        free(o)
