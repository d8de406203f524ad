"""A group of runs of one network, trained together as one ensemble.

Layout: every tensor carries the run axis *last* — weights ``(in, out, R)``,
activations ``(samples, width, R)`` — and a dense layer is the fused
broadcast-multiply-reduce ``sum_i h[b, i, r] W[i, o, r]`` compiled by XLA. With
the run axis last, each run's arithmetic is the same whatever the group size,
so a run's numbers depend only on (seed, run index): run 2 of a group of 3 is
bit for bit run 2 trained alone (tested). One epoch is one compiled call (a
``while`` loop over the mini-batches), so Python costs nothing per step, and
the compiled programs are shared by every ensemble of the same shape.

Each run has its own initialisation and its own batch order, drawn from its own
streams (:mod:`ibsim.seeding`). Optimizers follow Keras' formulas (Adam with
``epsilon = 1e-7``, plain SGD); ``max_norm_weights`` follows Keras' ``MaxNorm``.
A per-run ``active`` mask freezes runs that stopped (early stopping, divergence)
without touching the others.

``feedforward_batchnorm`` puts Keras' batch normalisation (momentum 0.99,
epsilon 1e-3; batch statistics per run in training, moving statistics when
recording) between each hidden layer's weights and its activation. Epochs that
end in a recorded epoch run a variant that also accumulates every weight
matrix's gradient over the mini-batches, for the gradient signal-to-noise
statistics of ibsgd and the seed's SNR plot.

**Networks with layer specs** (conv, pooling, flatten or dropout layers in
``architecture``, :mod:`ibsim.networks.layers`) are still one ensemble with one
compiled call per epoch and the run axis last in every stored tensor (kernels
``(kh, kw, C_in, C_out, R)``), but the compiled epoch loops over the runs
(:class:`RunLoopProgram`): each pass of the loop trains one run's whole epoch
with ordinary tensors (images ``(batch, H, W, C)``), so a run's arithmetic is
the loop body's, which does not depend on the group size. The vectorised
formulations (convolutions with the runs folded into channels, patches with a
reduction over a run-last axis) were tried and broke that: XLA picks different
kernels, fusions and reduction orders for different run counts. The trip count
is passed at run time, so XLA cannot unroll or drop the loop for small groups.
Convolutions and dense layers are matrix products whose sums are cut into
pieces of at most 64 terms (:func:`_contract`, :func:`_conv2d`), so the numbers
do not depend on the thread count either (Eigen splits long sums by thread
count; TensorFlow's convolution backprop ops also compile to generic loops
inside an XLA ``while``, 50-100x slower). Dropout draws a stateless mask from
the run's own key (``run_rng(seed, run, "dropout")``) and the step count, in
training only.

**The compiled trainer.** Dense nets without batch norm or noise (the
Tishby net, the MNIST MLPs) train with a C kernel instead of the XLA epoch
(:mod:`ibsim.networks.compiled_trainer`; network key ``trainer``): 3-4x
faster, each run in its own workspace, so the same guarantees hold bit for
bit; its numbers agree with XLA's to float32 rounding. The parameters then live
in NumPy arrays, and the TensorFlow variables follow them when read.

**Noisy networks** (``noise_std`` = beta > 0, Goldfeld et al. 2019) add
``N(0, beta^2)`` noise to every hidden layer's output (after its activation;
conv layers included, not pooling) in every training step, as Keras'
``GaussianNoise`` does: stateless normals from the run's own key
(``run_rng(seed, run, "noise")``), the layer and the step count, so run r of a
group is still run r alone and a resumed run continues with the same draws.
Recording, the held-out metrics and predictions are noise-free: the recorded
activations are the noise-free outputs S, and the ``sp`` estimator adds the
noise Z analytically (T = S + Z).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ibsim.networks.activations import tf_activation
from ibsim.networks.batch_orders import batch_orders
from ibsim.networks.compiled_trainer import CompiledTrainer, supports
from ibsim.networks.layers import Layer, has_layer_specs, input_shape, layer_io, recorded_layers
from ibsim.networks.network import Network
from ibsim.networks.tf_setup import tensorflow_module
from ibsim.seeding import run_rng

#: Keras' clipping of probabilities in categorical cross-entropy.
PROBABILITY_EPSILON = 1e-7
ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-7
MAX_NORM_EPSILON = 1e-7
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3

#: Layers with at most this many weights use the fused multiply-reduce; larger
#: ones a batched matrix product (faster there, but see the module notes).
FUSED_LAYER_LIMIT = 1 << 14

#: Largest activation tensor (floats) one recording call may produce.
RECORD_CHUNK_FLOATS = 1 << 26


def _initial_kernel(rng: np.random.Generator, name: str, fan_in: int, fan_out: int,
                    shape: tuple[int, ...] | None = None) -> np.ndarray:
    """One run's kernel with a Keras initializer: (fan_in, fan_out), or ``shape``
    (a conv kernel (kh, kw, C_in, C_out): fans kh*kw*C_in and kh*kw*C_out, as Keras')."""
    shape = shape or (fan_in, fan_out)
    if name == "glorot_uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)
    if name == "he_uniform":
        limit = np.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, shape)
    scale = np.sqrt(2.0 / (fan_in + fan_out)) if name == "glorot_normal" else np.sqrt(2.0 / fan_in)
    # Keras draws truncated normals (cut at 2 sd) with stddev = scale / 0.87962566
    stddev = scale / 0.87962566103423978
    values = rng.normal(0.0, stddev, shape)
    bad = np.abs(values) > 2 * stddev
    while bad.any():
        values[bad] = rng.normal(0.0, stddev, bad.sum())
        bad = np.abs(values) > 2 * stddev
    return values


@dataclass
class EnsembleState:
    """Everything needed to continue training a group: parameters, optimizer
    slots, batch-norm statistics, step count, the active mask and the
    batch-order generators' states."""

    params: list[np.ndarray]
    slots: list[np.ndarray]
    moving: list[np.ndarray]
    steps: int
    active: np.ndarray
    rng_states: list[dict]


@dataclass
class GradientStats:
    """Per layer and run: norms of the mean and of the standard deviation over an
    epoch's mini-batches of the gradient of the layer's weight matrix."""

    mean: np.ndarray  # (layers, runs)
    std: np.ndarray  # (layers, runs)


def epochs_one_at_a_time(group: Any, x, y, count: int, with_stats: bool = False) -> GradientStats | None:
    """``train_epochs`` of a group that trains one epoch per call: ``count``
    calls of its ``train_epoch`` (gradient statistics of the last), leaving
    every epoch's metrics in ``group.epochs_metrics`` (count, 2, 2, R).

    Args:
        group: An :class:`Ensemble` or :class:`~ibsim.networks.keras_group.KerasGroup`.
        x: (n, features) training inputs.
        y: (n, classes) one-hot targets.
        count: Epochs (at least 1).
        with_stats: Return the last epoch's gradient statistics.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    metrics, stats = [], None
    for k in range(count):
        stats = group.train_epoch(x, y, with_stats=with_stats and k == count - 1)
        metrics.append(np.asarray(group.last_metrics))
    group.epochs_metrics = np.stack(metrics)
    return stats


@dataclass(frozen=True)
class Signature:
    """What fixes the compiled programs of an ensemble: shapes and constants."""

    widths: tuple[int, ...]
    activation: str
    optimizer: str
    learning_rate: float
    max_norm: float
    batchnorm: bool
    n_runs: int
    #: with layer specs (a :class:`RunLoopProgram`): the canonical architecture,
    #: the input shape and the recording of conv/pooling layers; empty for dense nets
    architecture: tuple = ()
    input_shape: tuple[int, ...] = ()
    conv_recording: str = "full"
    #: std of the Gaussian noise added to every hidden layer's output in training (0: none)
    noise_std: float = 0.0


def _updated(tf, sig: Signature, param, grad, m, v, alpha, scale, norm_axes):
    """One optimizer step of one tensor, Keras' formulas: the new value and the
    new Adam slots (``m``, ``v``; None for SGD). ``scale`` (1 or 0) freezes
    stopped runs; ``norm_axes`` are the axes of one neuron's incoming weights
    for ``max_norm_weights`` (None: no constraint)."""
    if sig.optimizer == "adam":
        m = m + (grad - m) * (1.0 - ADAM_BETA_1)
        v = v + (tf.square(grad) - v) * (1.0 - ADAM_BETA_2)
        update = m * alpha / (tf.sqrt(v) + ADAM_EPSILON)
    else:
        update = sig.learning_rate * grad
    new = param - scale * update
    if norm_axes is not None:
        norms = tf.sqrt(tf.reduce_sum(tf.square(new), axis=norm_axes, keepdims=True))
        desired = tf.clip_by_value(norms, 0.0, float(sig.max_norm))
        # blend so that frozen runs skip the renormalisation too
        new = new * (desired / (MAX_NORM_EPSILON + norms)) * scale + param * (1.0 - scale)
    return new, m, v


def _noise(tf, sig: Signature, key, layer: int, step, shape):
    """One run's training noise at step ``step``: ``noise_std`` times standard
    normals of ``shape``, drawn statelessly from the run's noise key
    (``key[2:]``; ``key[:2]`` is its dropout key) and ``layer`` (the hidden
    layer of a :class:`RunLoopProgram`; 0 for the draws of all the dense
    layers of a :class:`Program` step), so they depend on nothing but (run,
    layer, step)."""
    seed = tf.stack([key[2] + layer, key[3] + tf.cast(step, tf.int64)])
    return sig.noise_std * tf.random.stateless_normal(shape, seed, dtype=tf.float32, alg="philox")


def _adam_alpha(tf, sig: Signature, steps):
    """Adam's step size after ``steps`` steps (bias corrections folded in)."""
    t = tf.cast(steps, tf.float32)
    return sig.learning_rate * tf.sqrt(1.0 - ADAM_BETA_2**t) / (1.0 - ADAM_BETA_1**t)


class Program:
    """The XLA-compiled functions for one :class:`Signature`.

    They take the ensemble's variables as arguments, so every ensemble of the
    same shape (the groups of an experiment, the points of a sweep) shares one
    compilation per process. Parameters are ordered kernels, biases, then (with
    batch norm) the hidden layers' gammas and betas.
    """

    def __init__(self, signature: Signature, tf) -> None:
        self.sig, self._tf = signature, tf
        self.n_layers = len(signature.widths) - 1
        self._hidden = tf_activation(signature.activation)
        self._epochs: dict[tuple[int, int, bool], object] = {}
        self.forward = tf.function(self._forward_all, jit_compile=True, reduce_retracing=True)
        self.readout = tf.function(self._readout, jit_compile=True, reduce_retracing=True)

    # ------------------------------------------------------------------ model
    def _dense(self, h, params, layer: int):
        tf = self._tf
        kernel, bias = params[layer], params[self.n_layers + layer]
        if self.sig.widths[layer] * self.sig.widths[layer + 1] <= FUSED_LAYER_LIMIT:
            z = tf.reduce_sum(h[:, :, None, :] * kernel[None], axis=1)
        else:
            z = tf.einsum("bir,ior->bor", h, kernel)
        return z + bias

    def _normalise(self, z, params, moving, active, layer: int, training: bool):
        """Batch normalisation of hidden layer ``layer`` (Keras semantics).

        The batch statistics are per run. Unlike the rest of the network, a run's
        numbers here depend slightly on its group size (about 1e-5 after a few
        epochs): XLA vectorises the sums over the batch differently for different
        numbers of runs, whatever the layout (tried: batch leading, batch minor).
        Backends still agree bit for bit, since the config fixes the groups.
        """
        tf = self._tf
        hidden = self.n_layers - 1
        gamma, beta = params[2 * self.n_layers + layer], params[2 * self.n_layers + hidden + layer]
        moving_mean, moving_var = moving[2 * layer], moving[2 * layer + 1]
        if training:
            mean = tf.reduce_mean(z, axis=0)
            var = tf.reduce_mean(tf.square(z - mean), axis=0)
            scale = tf.cast(active, tf.float32)
            moving_mean.assign(moving_mean + scale * ((moving_mean * BN_MOMENTUM + mean * (1 - BN_MOMENTUM))
                                                      - moving_mean))
            moving_var.assign(moving_var + scale * ((moving_var * BN_MOMENTUM + var * (1 - BN_MOMENTUM))
                                                    - moving_var))
        else:
            mean, var = moving_mean, moving_var
        return gamma * (z - mean) / tf.sqrt(var + BN_EPSILON) + beta

    def _logits_and_hidden(self, params, moving, active, x, training: bool, noise=None):
        """Forward pass of a batch ``x`` (samples, features, R); ``noise``: the
        training noise of a step of a noisy network (samples, hidden neurons,
        R; :meth:`_runs_noise`), else None."""
        hidden = []
        h = x
        for layer in range(self.n_layers - 1):
            z = self._dense(h, params, layer)
            if self.sig.batchnorm:
                z = self._normalise(z, params, moving, active, layer, training)
            h = self._hidden(z)
            if noise is not None:  # this layer's columns of the step's draws
                start = sum(self.sig.widths[1 : layer + 1])
                h = h + noise[:, start : start + self.sig.widths[layer + 1]]
            hidden.append(h)
        return self._dense(h, params, self.n_layers - 1), hidden

    def _runs_noise(self, keys, n_runs, step, batch):
        """Every run's training noise of step ``step`` on every hidden layer,
        the layers side by side: (batch, hidden neurons, R).

        Drawn in one loop over the runs (a run-time trip count, one spare slot,
        as :meth:`RunLoopProgram._run_first` explains): drawn for all runs at
        once, XLA vectorises the normals' transcendental functions differently
        for different group sizes, and run r of a group would no longer be run
        r alone in the last bits."""
        tf = self._tf
        keys = tf.pad(keys, [[0, 1], [0, 0]])
        draws = tf.TensorArray(tf.float32, size=self.sig.n_runs + 1)

        shape = tf.stack([batch, sum(self.sig.widths[1:-1])])

        def body(r, draws):
            return r + 1, draws.write(r, _noise(tf, self.sig, keys[r], 0, step, shape))

        _, draws = tf.while_loop(lambda r, _: r < n_runs, body, [tf.constant(0), draws])
        return tf.transpose(draws.stack()[:-1], [1, 2, 0])

    def _shared_inputs(self, x):
        tf = self._tf
        return tf.broadcast_to(x[:, :, None], tf.concat([tf.shape(x), [self.sig.n_runs]], axis=0))

    def _forward_all(self, params, moving, x, n_runs=None):
        """All layers' activations for shared inputs ``x`` (samples, features),
        each as (R, samples, width); the read-out as softmax probabilities.
        (``n_runs``: the :class:`RunLoopProgram`'s argument, unused here.)"""
        tf = self._tf
        logits, hidden = self._logits_and_hidden(params, moving, None, self._shared_inputs(x), False)
        outputs = hidden + [tf.nn.softmax(logits, axis=1)]
        return [tf.transpose(o, [2, 0, 1]) for o in outputs]

    def _readout(self, params, moving, x, n_runs=None):
        """Softmax probabilities (R, samples, classes) for shared inputs ``x``."""
        tf = self._tf
        logits, _ = self._logits_and_hidden(params, moving, None, self._shared_inputs(x), False)
        return tf.transpose(tf.nn.softmax(logits, axis=1), [2, 0, 1])

    # --------------------------------------------------------------- training
    def _apply(self, params, slots, steps, active, grads) -> None:
        tf = self._tf
        sig = self.sig
        steps.assign_add(1)
        # Frozen runs keep their parameters through a 0/1 factor on the update.
        # (tf.where would do it too, but it changes XLA's fusion so that a run's
        # arithmetic then depends on the group size; 1.0 * u is exactly u.)
        scale = tf.cast(active, tf.float32)
        adam = sig.optimizer == "adam"
        alpha = _adam_alpha(tf, sig, steps) if adam else None
        for k, (param, grad) in enumerate(zip(params, grads)):
            m, v = (slots[2 * k], slots[2 * k + 1]) if adam else (None, None)
            new, m_new, v_new = _updated(tf, sig, param, grad, m, v, alpha, scale,
                                         0 if sig.max_norm and k < self.n_layers else None)
            if adam:
                m.assign(m_new)
                v.assign(v_new)
            param.assign(new)

    def _step(self, params, slots, moving, steps, active, stats, sums, x, y, idx, keys, n_runs) -> None:
        """One optimizer step on the batch ``idx`` (batch, R) of each run; adds
        the batch's summed loss and correct predictions per run to ``sums``
        (2, R); with ``stats`` (sums and sums of squares per kernel) also
        accumulates the kernels' gradients. ``keys``: the runs' keys (R, 4)
        (their noise keys draw a noisy network's noise), ``n_runs``: R as a
        run-time value."""
        tf = self._tf
        xb = tf.transpose(tf.gather(x, idx), [0, 2, 1])  # (batch, features, R)
        yb = tf.transpose(tf.gather(y, idx), [0, 2, 1])
        noise = self._runs_noise(keys, n_runs, steps + 1, tf.shape(xb)[0]) if self.sig.noise_std else None
        with tf.GradientTape() as tape:
            logits, _ = self._logits_and_hidden(params, moving, active, xb, True, noise)
            per_run = -tf.reduce_sum(yb * tf.nn.log_softmax(logits, axis=1), axis=[0, 1])
            # Summing the runs' mean losses keeps each run's gradient its own.
            loss = tf.reduce_sum(per_run) / tf.cast(tf.shape(xb)[0], tf.float32)
        grads = tape.gradient(loss, params)
        hits = tf.cast(tf.equal(tf.argmax(logits, axis=1), tf.argmax(yb, axis=1)), tf.float32)
        sums.assign_add(tf.stack([per_run, tf.reduce_sum(hits, axis=0)]))
        if stats:
            for layer in range(self.n_layers):
                g = tf.cast(grads[layer], tf.float64)
                stats[2 * layer].assign_add(g)
                stats[2 * layer + 1].assign_add(tf.square(g))
        self._apply(params, slots, steps, active, grads)

    def _metrics(self, params, moving, x, y):
        """Loss (Keras' clipped cross-entropy, nats) and accuracy of every run on
        the samples ``x`` (n, features) with one-hot ``y``: each (R,)."""
        tf = self._tf
        logits, _ = self._logits_and_hidden(params, moving, None, self._shared_inputs(x), False)  # (n, C, R)
        probabilities = tf.nn.softmax(logits, axis=1)
        picked = tf.reduce_sum(probabilities * y[:, :, None], axis=1)  # (n, R)
        loss = -tf.math.log(tf.clip_by_value(picked, PROBABILITY_EPSILON, 1.0))
        hit = tf.cast(tf.equal(tf.argmax(logits, axis=1), tf.argmax(y, axis=1)[:, None]), tf.float32)
        return tf.reduce_mean(loss, axis=0), tf.reduce_mean(hit, axis=0)

    def epoch(self, n_train: int, batch_size: int, with_stats: bool = False):
        """The compiled epoch for ``n_train`` samples in batches of ``batch_size``
        (``with_stats``: accumulating the kernels' gradients too). It returns,
        per run, the epoch's loss and accuracy as Keras reports them: means over
        the epoch's mini-batches on the training samples, and on the held-out
        samples ``xm``, ``ym`` after the epoch (:meth:`_metrics`)."""
        key = (n_train, batch_size, with_stats)
        if key not in self._epochs:
            tf = self._tf
            n_full, rest = divmod(n_train, batch_size)
            n_runs = self.sig.n_runs

            def epoch(params, slots, moving, steps, active, stats, sums, x, y, perm, xm, ym, keys, run_count):
                sums.assign(tf.zeros_like(sums))
                for s in tf.range(n_full):
                    self._step(params, slots, moving, steps, active, stats, sums, x, y,
                               tf.slice(perm, [s * batch_size, 0], [batch_size, n_runs]), keys, run_count)
                if rest:
                    self._step(params, slots, moving, steps, active, stats, sums, x, y, perm[n_full * batch_size :],
                               keys, run_count)
                held_loss, held_accuracy = self._metrics(params, moving, xm, ym)
                return sums / n_train, tf.stack([held_loss, held_accuracy])

            self._epochs[key] = tf.function(epoch, jit_compile=True)
        return self._epochs[key]


#: Longest sum one matrix product of a :class:`RunLoopProgram` computes in one
#: piece; longer ones are cut into pieces of this length, summed in a fixed order.
CONTRACTION_CHUNK = 64


def _contract(tf, a, b, transpose_a: bool = False, transpose_b: bool = False):
    """``a @ b`` (2-D; ``a`` or ``b`` transposed first when asked) with the sum
    over the shared dimension cut into pieces of :data:`CONTRACTION_CHUNK`: one
    batched product of the pieces, then XLA's reduction over them.

    Eigen, which runs XLA's products and convolutions on the CPU, splits long
    sums across threads and blocks them by the thread count, so the same
    product can differ in the last bits between a serial run and a worker with
    fewer threads. Short sums are computed in one piece whatever the thread
    count; XLA's reductions always are.
    """
    a = tf.transpose(a) if transpose_a else a
    b = tf.transpose(b) if transpose_b else b
    k = a.shape[1]
    if k <= CONTRACTION_CHUNK:
        return tf.matmul(a, b)
    pad = -k % CONTRACTION_CHUNK
    pieces = (k + pad) // CONTRACTION_CHUNK
    a = tf.transpose(tf.reshape(tf.pad(a, [[0, 0], [0, pad]]), [-1, pieces, CONTRACTION_CHUNK]), [1, 0, 2])
    b = tf.reshape(tf.pad(b, [[0, pad], [0, 0]]), [pieces, CONTRACTION_CHUNK, -1])
    return tf.reduce_sum(tf.matmul(a, b), axis=0)


def _dense(tf, h, kernel):
    """``h @ kernel`` of a dense layer, its gradients products of short sums too (:func:`_contract`)."""
    @tf.custom_gradient
    def product(h, kernel):
        def gradients(dz):
            return _contract(tf, dz, kernel, transpose_b=True), _contract(tf, h, dz, transpose_a=True)

        return _contract(tf, h, kernel), gradients

    return product(h, kernel)


def _patches(tf, x, rows: int, columns: int, strides: tuple[int, int]):
    """The windows of a "valid" ``rows`` x ``columns`` convolution of ``x``
    (B, H, W, C) at ``strides``, as rows (B*Ho*Wo, rows*columns*C) in the
    order of a kernel (kh, kw, C, O) flattened to (kh*kw*C, O)."""
    height, width = x.shape[1], x.shape[2]
    spanned = ((height - rows) // strides[0] * strides[0] + 1, (width - columns) // strides[1] * strides[1] + 1)
    windows = [x[:, i : i + spanned[0] : strides[0], j : j + spanned[1] : strides[1]]
               for i in range(rows) for j in range(columns)]
    return tf.reshape(tf.concat(windows, -1), [-1, rows * columns * x.shape[3]])


def _conv2d(tf, x, kernel, strides: tuple[int, int]):
    """A "valid" convolution (Keras' ``Conv2D``, channels last) of ``x``
    (B, H, W, C) with ``kernel`` (kh, kw, C, O) at ``strides``, as products of
    short sums (:func:`_contract`), whatever the thread count.

    Forward: the patches (B*Ho*Wo, kh*kw*C) times the kernel (kh*kw*C, O).
    Gradients: the kernel's is the patches' transpose times the output
    gradient (the sum over every sample and position, cut into pieces); the
    input's, per kernel position, the output gradient times that position's
    weights, moved to where the position read (faster and smaller than the
    patches of the padded output gradient).
    (TensorFlow's own convolutions are faster but not thread-count invariant,
    and their backprop ops compile to slow generic loops inside an XLA ``while``.)
    """
    rows, columns, channels, filters = kernel.shape
    height, width = x.shape[1], x.shape[2]
    out_rows, out_columns = (height - rows) // strides[0] + 1, (width - columns) // strides[1] + 1
    spanned = ((out_rows - 1) * strides[0] + 1, (out_columns - 1) * strides[1] + 1)

    @tf.custom_gradient
    def convolve(x, kernel):
        batch = tf.shape(x)[0]
        patches = _patches(tf, x, rows, columns, strides)

        def gradients(dz):
            flat = tf.reshape(dz, [-1, filters])
            dk = tf.reshape(_contract(tf, patches, flat, transpose_a=True), kernel.shape)
            dx = None
            for i in range(rows):
                for j in range(columns):
                    part = tf.reshape(_contract(tf, flat, kernel[i, j], transpose_b=True),
                                      [batch, out_rows, out_columns, channels])
                    if strides != (1, 1):  # zeros between the positions read
                        part = tf.pad(part[:, :, None, :, None], [[0, 0], [0, 0], [0, strides[0] - 1], [0, 0],
                                                                 [0, strides[1] - 1], [0, 0]])
                        part = tf.reshape(part, [batch, out_rows * strides[0], out_columns * strides[1], channels])
                        part = part[:, : spanned[0], : spanned[1]]
                    part = tf.pad(part, [[0, 0], [i, height - i - spanned[0]], [j, width - j - spanned[1]], [0, 0]])
                    dx = part if dx is None else dx + part
            return dx, dk

        z = _contract(tf, patches, tf.reshape(kernel, [-1, filters]))
        return tf.reshape(z, [batch, out_rows, out_columns, filters]), gradients

    return convolve(x, kernel)


class RunLoopProgram:
    """The XLA-compiled functions of a network with layer specs (conv, pooling,
    flatten, dropout), for one :class:`Signature`: the same interface as
    :class:`Program`, with a loop over the runs inside each compiled call.

    Parameters are ordered as in :class:`Program`: the kernels of the conv and
    dense layers and the read-out (dense ``(in, out, R)``, conv ``(kh, kw,
    C_in, C_out, R)``), then their biases. Inside the loop a run's tensors are
    sliced from the run-first copies made once per call.
    """

    def __init__(self, signature: Signature, tf) -> None:
        self.sig, self._tf = signature, tf
        self.io = layer_io(signature.architecture, signature.input_shape, signature.widths[-1])
        self.n_kernels = sum(layer.kind in ("dense", "conv2d") for layer, _, _ in self.io)
        self.spatial = len(signature.input_shape) == 3  # the net takes images (it has conv or pooling layers)
        self._hidden = tf_activation(signature.activation)
        self._epochs: dict[tuple[int, int, bool], object] = {}
        self.forward = tf.function(self._forward_all, jit_compile=True, reduce_retracing=True)
        self.readout = tf.function(self._readout, jit_compile=True, reduce_retracing=True)

    # ------------------------------------------------------------------ model
    def _pool(self, h, layer: Layer):
        """Max or average pooling as Keras': strided slices of the (padded) input,
        combined in window order (ties of the maximum go to the first)."""
        tf = self._tf
        height, width = h.shape[1], h.shape[2]
        (top, bottom), (left, right) = layer.padding_amounts(height, width)
        maximum = layer.kind == "maxpool2d"
        if top or bottom or left or right:
            h = tf.pad(h, [[0, 0], [top, bottom], [left, right], [0, 0]],
                       constant_values=-np.inf if maximum else 0.0)
        (rows, columns), (s_rows, s_columns) = layer.window, layer.strides
        out_rows = (height + top + bottom - rows) // s_rows + 1
        out_columns = (width + left + right - columns) // s_columns + 1
        spanned = ((out_rows - 1) * s_rows + 1, (out_columns - 1) * s_columns + 1)
        taps = [(i, j) for i in range(rows) for j in range(columns)]
        out = None
        for i, j in taps:
            tap = h[:, i : i + spanned[0] : s_rows, j : j + spanned[1] : s_columns]
            out = tap if out is None else (tf.maximum(out, tap) if maximum else out + tap)
        if maximum:
            return out
        # Keras averages over the window's positions inside the input only
        inside = np.zeros((height + top + bottom, width + left + right), np.float32)
        inside[top : top + height, left : left + width] = 1.0
        counts = sum(inside[i : i + spanned[0] : s_rows, j : j + spanned[1] : s_columns] for i, j in taps)
        return out / tf.constant(counts[None, :, :, None])

    def _record(self, h, layer: Layer):
        """What is recorded of a layer's output (samples, width)."""
        tf = self._tf
        if layer.spatial and self.sig.conv_recording != "full":
            return (tf.reduce_mean if self.sig.conv_recording == "channel_mean" else tf.reduce_max)(h, axis=[1, 2])
        return tf.reshape(h, [-1, int(np.prod(h.shape[1:]))])

    def _run(self, mine, x, training=None):
        """One run's logits and recorded hidden outputs on the samples ``x``
        (samples, features); ``mine`` are its kernels then biases (no run axis);
        ``training``: (key, step) of a training step with dropout or noise
        (the run's key (4,): dropout key, noise key), None when recording."""
        tf = self._tf
        h = tf.reshape(x, [-1, *self.sig.input_shape]) if self.spatial else x
        recorded, k, drops = [], 0, 0
        noisy = training is not None and self.sig.noise_std
        for layer, _, _ in self.io:
            if layer.kind == "dense":
                if len(h.shape) > 2:
                    h = tf.reshape(h, [-1, int(np.prod(h.shape[1:]))])
                z = _dense(tf, h, mine[k]) + mine[self.n_kernels + k]
                k += 1
                if k == self.n_kernels:
                    return z, recorded
                h = self._hidden(z)
                if noisy:
                    h = h + _noise(tf, self.sig, training[0], k - 1, training[1], tf.shape(h))
            elif layer.kind == "conv2d":
                (top, bottom), (left, right) = layer.padding_amounts(h.shape[1], h.shape[2])
                if top or bottom or left or right:
                    h = tf.pad(h, [[0, 0], [top, bottom], [left, right], [0, 0]])
                h = self._hidden(_conv2d(tf, h, mine[k], layer.strides) + mine[self.n_kernels + k])
                k += 1
                if noisy:
                    h = h + _noise(tf, self.sig, training[0], k - 1, training[1], tf.shape(h))
            elif layer.spatial:
                h = self._pool(h, layer)
            elif layer.kind == "flatten":
                h = tf.reshape(h, [-1, int(np.prod(h.shape[1:]))])
            elif training is not None:  # Keras' Dropout: scaled kept units, in training only
                key, step = training
                seed = tf.stack([key[0] + drops, key[1] + step])
                keep = tf.random.stateless_uniform(tf.shape(h), seed, dtype=tf.float32, alg="philox") >= layer["rate"]
                h = h * (1.0 / (1.0 - layer["rate"])) * tf.cast(keep, tf.float32)
                drops += 1
            if layer.recorded:
                recorded.append(self._record(h, layer))
        raise AssertionError("the read-out is the last layer")

    @staticmethod
    def _run_first(tf, tensor, axis: int = -1):
        """``tensor`` with its run axis (``axis``) first and one spare slot
        appended: the loop body then indexes an axis of at least 2, so XLA
        compiles the same body for one run as for many (with a single slot it
        turns the indexing into constants and fuses the body differently, which
        changes the numbers in the last bits)."""
        axis = axis % tensor.shape.rank
        order = [axis] + [d for d in range(tensor.shape.rank) if d != axis]
        return tf.pad(tf.transpose(tensor, order), [[0, 1]] + [[0, 0]] * (tensor.shape.rank - 1))

    @staticmethod
    def _run_last(tf, tensor):
        """The inverse of :meth:`_run_first` (run axis last, spare slot dropped)."""
        return tf.transpose(tensor[:-1], list(range(1, tensor.shape.rank)) + [0])

    def _over_runs(self, params, x, n_runs, outputs: int, readout_only: bool):
        """Each run's outputs on the shared samples ``x``, stacked: (R, samples, width)."""
        tf = self._tf
        runs = [self._run_first(tf, p) for p in params]
        arrays = [tf.TensorArray(tf.float32, size=params[0].shape[-1] + 1) for _ in range(outputs)]

        def body(r, arrays):
            logits, recorded = self._run([tf.gather(p, r) for p in runs], x)
            values = [tf.nn.softmax(logits, axis=-1)] if readout_only else recorded + [tf.nn.softmax(logits, axis=-1)]
            return r + 1, [a.write(r, v) for a, v in zip(arrays, values)]

        _, arrays = tf.while_loop(lambda r, _: r < n_runs, body, [tf.constant(0), arrays])
        return [a.stack()[:-1] for a in arrays]

    def _forward_all(self, params, moving, x, n_runs):
        """Every recorded layer's outputs for shared inputs ``x`` (samples,
        features), each (R, samples, width); the read-out as probabilities."""
        n_recorded = sum(layer.recorded for layer, _, _ in self.io)
        return self._over_runs(params, x, n_runs, n_recorded, False)

    def _readout(self, params, moving, x, n_runs):
        """Softmax probabilities (R, samples, classes) for shared inputs ``x``."""
        return self._over_runs(params, x, n_runs, 1, True)[0]

    # --------------------------------------------------------------- training
    def _step(self, mine, slots, stats, x, y, rows, kept, steps, key, scale):
        """One optimizer step of one run on the samples ``rows``, of which the
        first ``kept`` count (the epoch's last batch is shorter; the rest are
        padding with weight 0): the new parameters, slots and gradient sums,
        and the batch's summed loss and hits."""
        tf = self._tf
        sig = self.sig
        xb, yb = tf.gather(x, rows), tf.gather(y, rows)
        weight = tf.cast(tf.range(rows.shape[0]) < kept, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(mine)
            logits, _ = self._run(mine, xb, (key, steps) if self.sig.noise_std or any(
                layer.kind == "dropout" for layer, _, _ in self.io) else None)
            summed = -tf.reduce_sum(weight * tf.reduce_sum(yb * tf.nn.log_softmax(logits, axis=-1), axis=-1))
            loss = summed / tf.cast(kept, tf.float32)
        grads = tape.gradient(loss, mine)
        hits = tf.reduce_sum(weight * tf.cast(tf.equal(tf.argmax(logits, axis=-1), tf.argmax(yb, axis=-1)), tf.float32))
        if stats:  # per kernel: the sum and the sum of squares of its gradients
            stats = [total + (tf.square(g) if k % 2 else g)
                     for k, total in enumerate(stats) for g in [tf.cast(grads[k // 2], tf.float64)]]
        adam = sig.optimizer == "adam"
        alpha = _adam_alpha(tf, sig, steps) if adam else None
        new_params, new_slots = [], []
        for k, (param, grad) in enumerate(zip(mine, grads)):
            m, v = (slots[2 * k], slots[2 * k + 1]) if adam else (None, None)
            axes = list(range(param.shape.rank - 1)) if sig.max_norm and k < self.n_kernels else None
            new, m, v = _updated(tf, sig, param, grad, m, v, alpha, scale, axes)
            new_params.append(new)
            new_slots += [m, v] if adam else []
        return new_params, new_slots, stats, tf.stack([summed, hits])

    def _metrics(self, mine, x, y):
        """Loss (Keras' clipped cross-entropy, nats) and accuracy of one run on
        the samples ``x`` with one-hot ``y``."""
        tf = self._tf
        logits, _ = self._run(mine, x)
        picked = tf.reduce_sum(tf.nn.softmax(logits, axis=-1) * y, axis=-1)
        loss = -tf.math.log(tf.clip_by_value(picked, PROBABILITY_EPSILON, 1.0))
        hit = tf.cast(tf.equal(tf.argmax(logits, axis=-1), tf.argmax(y, axis=-1)), tf.float32)
        return tf.stack([tf.reduce_mean(loss), tf.reduce_mean(hit)])

    def epoch(self, n_train: int, batch_size: int, with_stats: bool = False):
        """The compiled epoch (see :meth:`Program.epoch`): a loop over the runs,
        each training its whole epoch in turn. The last, shorter batch is a
        full one whose extra samples weigh 0, so every step is the same loop
        body (a separate last step doubled the compile time and ran slowly)."""
        key = (n_train, batch_size, with_stats)
        if key not in self._epochs:
            tf = self._tf
            n_steps = -(-n_train // batch_size)
            padding = n_steps * batch_size - n_train
            first, last = self._run_first, self._run_last

            def epoch(params, slots, moving, steps, active, stats, sums, x, y, perm, xm, ym, keys, n_runs):
                start = steps.read_value()
                n_stats = len(stats) if with_stats else 0
                state = ([first(tf, p) for p in params], [first(tf, s) for s in slots],
                         [first(tf, g) for g in stats][:n_stats])
                perm, keys, active = first(tf, perm), first(tf, keys, 0), first(tf, active, 0)
                results = tf.zeros([params[0].shape[-1] + 1, 4])  # per run: summed loss, hits, held-out loss, accuracy

                def run(r, state, results):
                    every, every_slot, every_stat = state
                    carried = ([tf.gather(p, r) for p in every], [tf.gather(s, r) for s in every_slot],
                               [tf.gather(g, r) for g in every_stat], tf.zeros([2]))
                    order, key = perm[r], keys[r]
                    if padding:
                        order = tf.concat([order, order[:padding]], axis=0)
                    scale = tf.cast(active[r], tf.float32)

                    def step(s, carried):
                        mine, my_slots, my_stats, total = carried
                        rows = tf.slice(order, [s * batch_size], [batch_size])
                        kept = tf.minimum(batch_size, n_train - s * batch_size)
                        mine, my_slots, my_stats, sums = self._step(mine, my_slots, my_stats, x, y, rows, kept,
                                                                    start + tf.cast(s, tf.int64) + 1, key, scale)
                        return s + 1, (mine, my_slots, my_stats, total + sums)

                    _, carried = tf.while_loop(lambda s, _: s < n_steps, step, [tf.constant(0), carried])
                    mine, my_slots, my_stats, total = carried
                    held = self._metrics(mine, xm, ym)
                    put = lambda stacked, value: tf.tensor_scatter_nd_update(stacked, [[r]], value[None])  # noqa: E731
                    state = ([put(p, m) for p, m in zip(every, mine)],
                             [put(p, m) for p, m in zip(every_slot, my_slots)],
                             [put(p, m) for p, m in zip(every_stat, my_stats)])
                    return r + 1, state, put(results, tf.concat([total, held], axis=0))

                _, state, results = tf.while_loop(lambda r, *_: r < n_runs, run, [tf.constant(0), state, results])
                for variable, value in zip(list(params) + list(slots) + list(stats)[:n_stats],
                                           state[0] + state[1] + state[2]):
                    variable.assign(last(tf, value))
                steps.assign_add(n_steps)
                return tf.transpose(results[:-1, :2]) / n_train, tf.transpose(results[:-1, 2:])

            self._epochs[key] = tf.function(epoch, jit_compile=True)
        return self._epochs[key]


#: Compiled programs of this process, by signature.
_PROGRAMS: dict[Signature, Program | RunLoopProgram] = {}


class Ensemble:
    """The runs ``runs`` of ``network`` on data with ``input_dim`` features and
    ``n_classes`` classes.

    Args:
        network: Architecture and training settings.
        input_dim: Number of input features.
        n_classes: Number of classes (width of the softmax read-out).
        runs: Run indices of this group (they fix each run's random streams).
        seed: The experiment seed.
        threads: Threads TensorFlow may use in this process.
        image_shape: (H, W, C) of the images the input rows are (the dataset's
            ``image_shape``), or None; needed by conv and pooling layers, which
            see the (flat) inputs as images.
        conv_recording: How conv and pooling layers are recorded (the
            Recorder's key: "full", "channel_mean" or "channel_max").

    Raises:
        ConfigError: Conv or pooling layers without an image shape, or windows
            larger than their inputs.
    """

    def __init__(
        self, network: Network, input_dim: int, n_classes: int, runs: Sequence[int], seed: int, threads: int = 1,
        image_shape: tuple[int, int, int] | None = None, conv_recording: str = "full",
    ) -> None:
        self.network = network
        self.threads = threads
        self.runs = list(runs)
        self.n_runs = len(self.runs)
        architecture = list(network.architecture)
        shape = input_shape(architecture, input_dim, image_shape)
        recorded = recorded_layers(architecture, shape, n_classes, conv_recording)
        #: names of the recorded layers (conv2d_1, maxpool2d_1, dense_1, ..., readout)
        self.layer_names = [layer.name for layer in recorded]
        self.widths = [input_dim] + [layer.width for layer in recorded]
        self.n_layers = len(recorded)
        io = layer_io(architecture, shape, n_classes)
        weighted = [(layer, inputs) for layer, inputs, _ in io if layer.kind in ("dense", "conv2d")]
        #: the recorded layer (row of the gradient statistics and weight norms) of each kernel
        self._kernel_rows = [row for row, layer in enumerate(layer for layer, _, _ in io if layer.recorded)
                             if layer.kind in ("dense", "conv2d")]
        # floats per sample of the largest tensor of a forward pass (a layer's output, or a conv layer's patches)
        self._largest = input_dim + max(int(np.prod(out)) * (int(np.prod(layer.window)) * inputs[-1]
                                                             if layer.kind == "conv2d" else 1)
                                        for layer, inputs, out in io)
        batchnorm = network.model == "feedforward_batchnorm"
        loop = has_layer_specs(architecture)
        self._signature = Signature(tuple(self.widths), network.activation_fn, network.optimizer,
                                    float(network.learning_rate), float(network.max_norm_weights or 0.0), batchnorm,
                                    self.n_runs, tuple(architecture) if loop else (), shape if loop else (),
                                    conv_recording if loop else "full", float(network.noise_std))

        init_rngs = [run_rng(seed, r, "init") for r in self.runs]
        self._order_rngs = [run_rng(seed, r, "batches") for r in self.runs]
        #: each run's keys (R, 4): dropout (the stateless masks' seed, with the
        #: step count), then noise (a noisy network's draws, with layer and step)
        self._keys = np.stack([np.concatenate([run_rng(seed, r, purpose).integers(0, 2**62, 2)
                                               for purpose in ("dropout", "noise")]) for r in self.runs])
        self._held_out = None  # TensorFlow's (x, y) of the held-out samples; see set_held_out
        self._held_out_arrays: tuple[np.ndarray, np.ndarray] | None = None
        self._traced: dict[tuple, object] = {}  # the epoch's traced programs, by shapes (see train_epoch)
        self.last_metrics: np.ndarray | None = None
        self.epochs_metrics: np.ndarray | None = None  # (epochs, 2, 2, R) of the last train_epochs
        kernels, biases = [], []
        for layer, inputs in weighted:
            if layer.kind == "conv2d":
                rows, columns = layer.window
                kernel = (rows, columns, inputs[-1], layer["filters"])
                fans = (rows * columns * inputs[-1], rows * columns * layer["filters"])
            else:
                kernel = fans = (int(np.prod(inputs)), layer["units"])
            per_run = [_initial_kernel(g, network.kernel_initializer, *fans, shape=kernel) for g in init_rngs]
            kernels.append(np.stack(per_run, axis=-1).astype(np.float32))
            biases.append(np.full((kernel[-1], self.n_runs), network.initial_bias, dtype=np.float32))
        hidden = self.widths[1:-1]
        gammas = [np.ones((w, self.n_runs), np.float32) for w in hidden] if batchnorm else []
        betas = [np.zeros((w, self.n_runs), np.float32) for w in hidden] if batchnorm else []
        self._initial = kernels + biases + gammas + betas
        self._n_params = len(self._initial)
        self._n_slots = (2 if network.optimizer == "adam" else 0) * self._n_params
        self._active = np.ones(self.n_runs, dtype=bool)  # the mask as NumPy (read every compiled epoch)
        #: the C kernel that trains this ensemble (``trainer`` = compiled or auto), or None: XLA's epoch
        self.compiled = CompiledTrainer.from_signature(self._signature, network.batch_size) \
            if network.trainer != "xla" and supports(self._signature) else None
        # With the compiled trainer the parameters, slots, gradient sums and step
        # count live in NumPy arrays that it updates in place, and TensorFlow is
        # not even imported until something asks for its variables or programs
        # (the XLA epoch, a test); the variables then follow the arrays when read.
        self._array_steps = 0
        self._stale = False
        self._tensorflow_built = False
        if self.compiled is not None:
            self._arrays: list[np.ndarray] = (
                [p.copy() for p in self._initial] + [np.zeros_like(p) for p in self._initial
                                                     for _ in range(self._n_slots // self._n_params)]
                + [np.zeros(k.shape, np.float64) for k in kernels for _ in range(2)])
        else:
            self._arrays = []
            self._build_tensorflow()

    #: What :meth:`_build_tensorflow` makes (read through :meth:`__getattr__`
    #: before it ran: the first read builds them).
    _TENSORFLOW_ATTRIBUTES = frozenset({"_tf", "program", "_n_runs", "keys", "sums", "_params", "_slots", "moving",
                                        "_stats", "_steps", "active"})

    def __getattr__(self, name: str):
        if name in Ensemble._TENSORFLOW_ATTRIBUTES and not self.__dict__.get("_tensorflow_built", True):
            self._build_tensorflow()
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _build_tensorflow(self) -> None:
        """Import TensorFlow and make the ensemble's programs and variables
        (from the compiled trainer's arrays when it has trained already)."""
        tf = tensorflow_module(self.threads)
        self._tf = tf
        signature = self._signature
        if signature not in _PROGRAMS:
            _PROGRAMS[signature] = (RunLoopProgram if signature.architecture else Program)(signature, tf)
        self.program = _PROGRAMS[signature]
        self._n_runs = tf.constant(self.n_runs)  # the loop's trip count, a run-time value (see the module notes)
        self.keys = tf.constant(self._keys)
        self.sums = tf.Variable(np.zeros((2, self.n_runs), np.float32))  # an epoch's summed loss and hits
        compiled = self.compiled is not None
        n, n_slots = self._n_params, self._n_slots
        self._params = [tf.Variable(v) for v in (self._arrays[:n] if compiled else self._initial)]
        self._slots = [tf.Variable(v) for v in self._arrays[n : n + n_slots]] if compiled else \
            [tf.Variable(tf.zeros_like(p)) for p in self._params for _ in range(n_slots // max(1, n))]
        hidden = self.widths[1:-1]
        self.moving = [tf.Variable(np.full((w, self.n_runs), start, np.float32))
                       for w in (hidden if self._signature.batchnorm else []) for start in (0.0, 1.0)]
        kernels = [p for p in self._initial if p.ndim >= 3]
        self._stats = [tf.Variable(v) for v in self._arrays[n + n_slots:]] if compiled else \
            [tf.Variable(np.zeros(k.shape, np.float64)) for k in kernels for _ in range(2)]
        self._steps = tf.Variable(self._array_steps, dtype=tf.int64)
        self.active = tf.Variable(self._active.copy())
        self._stale = False
        self._tensorflow_built = True

    # ------------------------------------------------------------ variables
    def _synced(self) -> None:
        """Bring the TensorFlow variables up to the compiled trainer's arrays."""
        if self._stale:
            for variable, value in zip(self._params + self._slots + self._stats, self._arrays):
                variable.assign(value)
            self._steps.assign(self._array_steps)
            self.active.assign(self._active)
            self._stale = False

    @property
    def params(self) -> list:
        """The parameters (TensorFlow variables): kernels, biases, then batch-norm gammas and betas."""
        self._synced()
        return self._params

    @property
    def slots(self) -> list:
        """Adam's (m, v) of every parameter (empty for SGD)."""
        self._synced()
        return self._slots

    @property
    def stats(self) -> list:
        """Every kernel's gradient sum and sum of squares over the last recorded epoch's mini-batches."""
        self._synced()
        return self._stats

    @property
    def steps(self):
        """The optimizer's step count (a TensorFlow variable)."""
        self._synced()
        return self._steps

    def batch_orders(self, n_train: int) -> np.ndarray:
        """Next epoch's sample order of every run: (n_train, R) int32."""
        return batch_orders(self._order_rngs, n_train, 1, self.threads)[0]

    def set_held_out(self, x: np.ndarray, y: np.ndarray) -> None:
        """The held-out samples (inputs ``x``, one-hot ``y``) whose loss and
        accuracy every epoch reports in :attr:`last_metrics` (the test split)."""
        self._held_out_arrays = (np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.float32))
        self._held_out = None  # TensorFlow's copy, made by the XLA epoch when it needs it

    def as_inputs(self, a: np.ndarray):
        """``a`` as :meth:`train_epochs` takes it best: a float32 array for the
        compiled trainer, a TensorFlow constant for the XLA epoch."""
        return np.ascontiguousarray(a, np.float32) if self.compiled is not None else self._tf.constant(a)

    def train_epoch(self, x, y, with_stats: bool = False) -> GradientStats | None:
        """Train every active run for one epoch on ``x`` (n, features), one-hot ``y``.

        With ``with_stats``, returns the norms of the mean and standard deviation
        over the epoch's mini-batches of each weight matrix's gradient. The
        epoch's loss and accuracy are left in :attr:`last_metrics`: (2, 2, R),
        (loss, accuracy) × (training mini-batches, held-out samples of
        :meth:`set_held_out`; the first training samples until that is set).
        """
        if self.compiled is not None:
            return self._train_compiled(x, y, with_stats)
        n_train = int(x.shape[0])
        perm = self.batch_orders(n_train)
        batch_size = self.network.batch_size
        if with_stats:
            for variable in self.stats:
                variable.assign(np.zeros(variable.shape, np.float64))
        if self._held_out is None:
            held = self._held_out_arrays or (np.asarray(x[:1]), np.asarray(y[:1]))
            self._held_out = (self._tf.constant(held[0]), self._tf.constant(held[1]))
        args = (self.params, self.slots, self.moving, self.steps, self.active, self.stats if with_stats else [],
                self.sums, x, y, self._tf.constant(perm), *self._held_out, self.keys, self._n_runs)
        # The traced program of these shapes, called directly: the tf.function's
        # dispatch (matching some 30 arguments against its traces) cost 15-30 %
        # of a small net's epoch. The same program either way: the same numbers.
        key = (n_train, batch_size, with_stats, tuple(x.shape), tuple(self._held_out[0].shape))
        if key not in self._traced:
            self._traced[key] = self.program.epoch(n_train, batch_size, with_stats).get_concrete_function(*args)
        training, held_out = self._traced[key](*args)
        self.last_metrics = np.stack([training.numpy(), held_out.numpy()], axis=1)
        self.epochs_metrics = self.last_metrics[None]
        if not with_stats:
            return None
        return self._gradient_stats([v.numpy() for v in self._stats], -(-n_train // batch_size))

    def train_epochs(self, x, y, count: int, with_stats: bool = False) -> GradientStats | None:
        """Train every active run for ``count`` epochs: bit for bit ``count``
        calls of :meth:`train_epoch` (the same batch orders), but the compiled
        trainer does them in one call. :attr:`epochs_metrics` holds every
        epoch's metrics (count, 2, 2, R), :attr:`last_metrics` the last one's;
        ``with_stats`` gives the last epoch's gradient statistics.
        """
        if self.compiled is None:
            return epochs_one_at_a_time(self, x, y, count, with_stats)
        return self._train_compiled(x, y, with_stats, count)

    def _train_compiled(self, x, y, with_stats: bool, count: int = 1) -> GradientStats | None:
        """:meth:`train_epochs` by the compiled trainer, on its arrays."""
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
        n_train = int(x.shape[0])
        perms = batch_orders(self._order_rngs, n_train, count, self.threads)
        n_params, n_slots = self._n_params, self._n_slots
        params, slots = self._arrays[:n_params], self._arrays[n_params : n_params + n_slots]
        stats = self._arrays[n_params + n_slots:]
        if with_stats:
            for array in stats:
                array.fill(0.0)
        held = self._held_out_arrays or (x[:1], y[:1])
        result = self.compiled.train_epochs(params, slots, self._array_steps, self._active, x, y, perms, *held,
                                            stats=stats if with_stats else None, threads=self.threads)
        self._array_steps = result.steps
        self._stale = True
        self.epochs_metrics = result.metrics
        self.last_metrics = result.metrics[-1]
        if not with_stats:
            return None
        return self._gradient_stats(stats, -(-n_train // self.network.batch_size))

    def _gradient_stats(self, sums: list[np.ndarray], n_steps: int) -> GradientStats:
        """Norms of the mean and standard deviation of each kernel's gradient
        over an epoch's ``n_steps`` mini-batches, from its sums and sums of squares."""
        means, stds = np.full((2, self.n_layers, self.n_runs), np.nan)  # pooling layers have no weights
        for k, row in enumerate(self._kernel_rows):
            mean = sums[2 * k] / n_steps
            var = np.maximum(sums[2 * k + 1] / n_steps - mean**2, 0.0)
            axes = tuple(range(mean.ndim - 1))
            means[row], stds[row] = np.sqrt((mean**2).sum(axis=axes)), np.sqrt(var.sum(axis=axes))
        return GradientStats(means, stds)

    def weight_norms(self) -> np.ndarray:
        """Frobenius norm of every layer's weights (kernel), per run: (layers, R);
        NaN for pooling layers, which have none."""
        norms = np.full((self.n_layers, self.n_runs), np.nan)
        for k, row in enumerate(self._kernel_rows):
            kernel = (self._arrays[k] if self.compiled is not None else self.params[k].numpy()).astype(np.float64)
            norms[row] = np.sqrt((kernel**2).sum(axis=tuple(range(kernel.ndim - 1))))
        return norms

    # -------------------------------------------------------------- recording
    def record(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's activations on the samples ``x`` as float32 arrays
        (R, samples, width); the last is the softmax read-out. The compiled
        trainer's ensembles are recorded by its own forward pass (the XLA
        program's numbers to float32 rounding: mostly bit for bit, not always)."""
        if self.compiled is not None:
            return self.compiled.record(self._arrays[: self._n_params], np.asarray(x, np.float32), self.threads)
        n = len(x)
        chunk = self._chunk(n)
        parts: list[list[np.ndarray]] = []
        for start in range(0, n, chunk):
            outputs = self.program.forward(self.params, self.moving, self._tf.constant(x[start : start + chunk]),
                                           self._n_runs)
            parts.append([np.asarray(o) for o in outputs])  # a view: .numpy() would copy
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate([p[k] for p in parts], axis=1) for k in range(self.n_layers)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Softmax probabilities (R, samples, classes) on the samples ``x``."""
        if self.compiled is not None:
            return self.record(x)[-1]
        chunk = self._chunk(len(x))
        return np.concatenate([np.asarray(self.program.readout(self.params, self.moving,
                                                               self._tf.constant(x[start : start + chunk]),
                                                               self._n_runs))
                               for start in range(0, len(x), chunk)], axis=1)

    def _chunk(self, n: int) -> int:
        """Samples per compiled forward call: the largest tensor of the pass
        (a layer's outputs, a conv layer's patches) at most
        :data:`RECORD_CHUNK_FLOATS` floats; equal chunks (one compilation)."""
        chunk = max(1, min(n, RECORD_CHUNK_FLOATS // max(1, self._largest * self.n_runs)))
        return -(-n // -(-n // chunk))

    def deactivate(self, run_positions: Sequence[int]) -> None:
        """Freeze the runs at these positions of the group (they stop changing)."""
        self._active[list(run_positions)] = False
        if self._tensorflow_built:
            self.active.assign(self._active)

    # ------------------------------------------------------------- checkpoint
    def state(self) -> EnsembleState:
        """A copy of everything needed to continue training later."""
        if self.compiled is not None:
            n, n_slots = self._n_params, self._n_slots
            return EnsembleState(
                params=[a.copy() for a in self._arrays[:n]],
                slots=[a.copy() for a in self._arrays[n : n + n_slots]],
                moving=[],
                steps=int(self._array_steps),
                active=self._active.copy(),
                rng_states=[g.bit_generator.state for g in self._order_rngs],
            )
        return EnsembleState(
            params=[p.numpy() for p in self.params],
            slots=[s.numpy() for s in self.slots],
            moving=[m.numpy() for m in self.moving],
            steps=int(self.steps.numpy()),
            active=self.active.numpy().copy(),
            rng_states=[g.bit_generator.state for g in self._order_rngs],
        )

    def load_state(self, state: EnsembleState) -> None:
        """Continue from a state taken by :meth:`state` of an identical ensemble."""
        self._active = np.array(state.active, dtype=bool)
        if self.compiled is not None:  # the trainer's arrays take the state; the variables follow when read
            n, n_slots = self._n_params, self._n_slots
            values = list(state.params) + list(state.slots)
            if len(values) != n + n_slots or state.moving:
                raise ValueError("the state is not one of this ensemble's (other parameters)")
            for array, value in zip(self._arrays, values):
                array[...] = value
            self._array_steps, self._stale = int(state.steps), self._tensorflow_built
        else:
            for variable, value in zip(self._params + self._slots + self.moving,
                                       state.params + state.slots + state.moving):
                variable.assign(value)
            self._steps.assign(state.steps)
            self.active.assign(state.active)
        for g, s in zip(self._order_rngs, state.rng_states):
            g.bit_generator.state = s
