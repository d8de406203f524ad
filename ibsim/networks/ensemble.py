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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ibsim.networks.activations import tf_activation
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


def _initial_kernel(rng: np.random.Generator, name: str, fan_in: int, fan_out: int) -> np.ndarray:
    """One run's kernel (fan_in, fan_out) with a Keras initializer."""
    if name == "glorot_uniform":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out))
    if name == "he_uniform":
        limit = np.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, (fan_in, fan_out))
    scale = np.sqrt(2.0 / (fan_in + fan_out)) if name == "glorot_normal" else np.sqrt(2.0 / fan_in)
    # Keras draws truncated normals (cut at 2 sd) with stddev = scale / 0.87962566
    stddev = scale / 0.87962566103423978
    values = rng.normal(0.0, stddev, (fan_in, fan_out))
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

    def _logits_and_hidden(self, params, moving, active, x, training: bool):
        """Forward pass of a batch ``x`` (samples, features, R)."""
        hidden = []
        h = x
        for layer in range(self.n_layers - 1):
            z = self._dense(h, params, layer)
            if self.sig.batchnorm:
                z = self._normalise(z, params, moving, active, layer, training)
            h = self._hidden(z)
            hidden.append(h)
        return self._dense(h, params, self.n_layers - 1), hidden

    def _shared_inputs(self, x):
        tf = self._tf
        return tf.broadcast_to(x[:, :, None], tf.concat([tf.shape(x), [self.sig.n_runs]], axis=0))

    def _forward_all(self, params, moving, x):
        """All layers' activations for shared inputs ``x`` (samples, features),
        each as (R, samples, width); the read-out as softmax probabilities."""
        tf = self._tf
        logits, hidden = self._logits_and_hidden(params, moving, None, self._shared_inputs(x), False)
        outputs = hidden + [tf.nn.softmax(logits, axis=1)]
        return [tf.transpose(o, [2, 0, 1]) for o in outputs]

    def _readout(self, params, moving, x):
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
        if sig.optimizer == "adam":
            t = tf.cast(steps, tf.float32)
            alpha = sig.learning_rate * tf.sqrt(1.0 - ADAM_BETA_2**t) / (1.0 - ADAM_BETA_1**t)
        for k, (param, grad) in enumerate(zip(params, grads)):
            if sig.optimizer == "adam":
                m, v = slots[2 * k], slots[2 * k + 1]
                m.assign_add((grad - m) * (1.0 - ADAM_BETA_1))
                v.assign_add((tf.square(grad) - v) * (1.0 - ADAM_BETA_2))
                update = m * alpha / (tf.sqrt(v) + ADAM_EPSILON)
            else:
                update = sig.learning_rate * grad
            new = param - scale * update
            if sig.max_norm and k < self.n_layers:
                norms = tf.sqrt(tf.reduce_sum(tf.square(new), axis=0, keepdims=True))
                desired = tf.clip_by_value(norms, 0.0, float(sig.max_norm))
                # blend so that frozen runs skip the renormalisation too
                new = new * (desired / (MAX_NORM_EPSILON + norms)) * scale + param * (1.0 - scale)
            param.assign(new)

    def _step(self, params, slots, moving, steps, active, stats, sums, x, y, idx) -> None:
        """One optimizer step on the batch ``idx`` (batch, R) of each run; adds
        the batch's summed loss and correct predictions per run to ``sums``
        (2, R); with ``stats`` (sums and sums of squares per kernel) also
        accumulates the kernels' gradients."""
        tf = self._tf
        xb = tf.transpose(tf.gather(x, idx), [0, 2, 1])  # (batch, features, R)
        yb = tf.transpose(tf.gather(y, idx), [0, 2, 1])
        with tf.GradientTape() as tape:
            logits, _ = self._logits_and_hidden(params, moving, active, xb, True)
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

            def epoch(params, slots, moving, steps, active, stats, sums, x, y, perm, xm, ym):
                sums.assign(tf.zeros_like(sums))
                for s in tf.range(n_full):
                    self._step(params, slots, moving, steps, active, stats, sums, x, y,
                               tf.slice(perm, [s * batch_size, 0], [batch_size, n_runs]))
                if rest:
                    self._step(params, slots, moving, steps, active, stats, sums, x, y, perm[n_full * batch_size :])
                held_loss, held_accuracy = self._metrics(params, moving, xm, ym)
                return sums / n_train, tf.stack([held_loss, held_accuracy])

            self._epochs[key] = tf.function(epoch, jit_compile=True)
        return self._epochs[key]


#: Compiled programs of this process, by signature.
_PROGRAMS: dict[Signature, Program] = {}


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
    """

    def __init__(
        self, network: Network, input_dim: int, n_classes: int, runs: Sequence[int], seed: int, threads: int = 1
    ) -> None:
        tf = tensorflow_module(threads)
        self._tf = tf
        self.network = network
        self.runs = list(runs)
        self.n_runs = len(self.runs)
        self.widths = [input_dim] + list(network.architecture) + [n_classes]
        self.n_layers = len(self.widths) - 1
        batchnorm = network.model == "feedforward_batchnorm"
        signature = Signature(tuple(self.widths), network.activation_fn, network.optimizer,
                              float(network.learning_rate), float(network.max_norm_weights or 0.0), batchnorm,
                              self.n_runs)
        if signature not in _PROGRAMS:
            _PROGRAMS[signature] = Program(signature, tf)
        self.program = _PROGRAMS[signature]

        init_rngs = [run_rng(seed, r, "init") for r in self.runs]
        self._order_rngs = [run_rng(seed, r, "batches") for r in self.runs]
        self._held_out = None  # (x, y) of the held-out samples; see set_held_out
        self.last_metrics: np.ndarray | None = None
        self.sums = tf.Variable(np.zeros((2, self.n_runs), np.float32))  # an epoch's summed loss and hits
        kernels, biases = [], []
        for fan_in, fan_out in zip(self.widths[:-1], self.widths[1:]):
            per_run = [_initial_kernel(g, network.kernel_initializer, fan_in, fan_out) for g in init_rngs]
            kernels.append(np.stack(per_run, axis=-1).astype(np.float32))
            biases.append(np.full((fan_out, self.n_runs), network.initial_bias, dtype=np.float32))
        hidden = self.widths[1:-1]
        gammas = [np.ones((w, self.n_runs), np.float32) for w in hidden] if batchnorm else []
        betas = [np.zeros((w, self.n_runs), np.float32) for w in hidden] if batchnorm else []
        self.params = [tf.Variable(v) for v in kernels + biases + gammas + betas]
        n_slots = 2 if network.optimizer == "adam" else 0
        self.slots = [tf.Variable(tf.zeros_like(p)) for p in self.params for _ in range(n_slots)]
        self.moving = [tf.Variable(np.full((w, self.n_runs), start, np.float32))
                       for w in (hidden if batchnorm else []) for start in (0.0, 1.0)]
        self.stats = [tf.Variable(np.zeros(k.shape, np.float64)) for k in kernels for _ in range(2)]
        self.steps = tf.Variable(0, dtype=tf.int64)
        self.active = tf.Variable(np.ones(self.n_runs, dtype=bool))

    def batch_orders(self, n_train: int) -> np.ndarray:
        """Next epoch's sample order of every run: (n_train, R) int32."""
        return np.stack([g.permutation(n_train) for g in self._order_rngs], axis=1).astype(np.int32)

    def set_held_out(self, x: np.ndarray, y: np.ndarray) -> None:
        """The held-out samples (inputs ``x``, one-hot ``y``) whose loss and
        accuracy every epoch reports in :attr:`last_metrics` (the test split)."""
        self._held_out = (self._tf.constant(x), self._tf.constant(y))

    def train_epoch(self, x, y, with_stats: bool = False) -> GradientStats | None:
        """Train every active run for one epoch on ``x`` (n, features), one-hot ``y``.

        With ``with_stats``, returns the norms of the mean and standard deviation
        over the epoch's mini-batches of each weight matrix's gradient. The
        epoch's loss and accuracy are left in :attr:`last_metrics`: (2, 2, R),
        (loss, accuracy) × (training mini-batches, held-out samples of
        :meth:`set_held_out`; the first training samples until that is set).
        """
        n_train = int(x.shape[0])
        perm = self.batch_orders(n_train)
        batch_size = self.network.batch_size
        epoch = self.program.epoch(n_train, batch_size, with_stats)
        if with_stats:
            for variable in self.stats:
                variable.assign(np.zeros(variable.shape, np.float64))
        if self._held_out is None:
            self._held_out = (x[:1], y[:1])
        training, held_out = epoch(self.params, self.slots, self.moving, self.steps, self.active,
                                   self.stats if with_stats else [], self.sums, x, y, self._tf.constant(perm),
                                   *self._held_out)
        self.last_metrics = np.stack([training.numpy(), held_out.numpy()], axis=1)
        if not with_stats:
            return None
        n_steps = -(-n_train // batch_size)
        means, stds = [], []
        for layer in range(self.n_layers):
            mean = self.stats[2 * layer].numpy() / n_steps
            var = np.maximum(self.stats[2 * layer + 1].numpy() / n_steps - mean**2, 0.0)
            means.append(np.sqrt((mean**2).sum(axis=(0, 1))))
            stds.append(np.sqrt(var.sum(axis=(0, 1))))
        return GradientStats(np.array(means), np.array(stds))

    def weight_norms(self) -> np.ndarray:
        """Frobenius norm of every layer's weight matrix, per run: (layers, R)."""
        return np.array([np.sqrt((p.numpy().astype(np.float64) ** 2).sum(axis=(0, 1)))
                         for p in self.params[: self.n_layers]])

    # -------------------------------------------------------------- recording
    def record(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's activations on the samples ``x`` as float32 arrays
        (R, samples, width); the last is the softmax read-out."""
        n = len(x)
        widest = max(self.widths[1:]) + self.widths[0]
        chunk = max(1, min(n, RECORD_CHUNK_FLOATS // max(1, widest * self.n_runs)))
        parts: list[list[np.ndarray]] = []
        for start in range(0, n, chunk):
            outputs = self.program.forward(self.params, self.moving, self._tf.constant(x[start : start + chunk]))
            parts.append([np.asarray(o) for o in outputs])  # a view: .numpy() would copy
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate([p[k] for p in parts], axis=1) for k in range(self.n_layers)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Softmax probabilities (R, samples, classes) on the samples ``x``."""
        return np.asarray(self.program.readout(self.params, self.moving, self._tf.constant(x)))

    def deactivate(self, run_positions: Sequence[int]) -> None:
        """Freeze the runs at these positions of the group (they stop changing)."""
        mask = self.active.numpy()
        mask[list(run_positions)] = False
        self.active.assign(mask)

    # ------------------------------------------------------------- checkpoint
    def state(self) -> EnsembleState:
        """A copy of everything needed to continue training later."""
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
        for variable, value in zip(self.params + self.slots + self.moving,
                                   state.params + state.slots + state.moving):
            variable.assign(value)
        self.steps.assign(state.steps)
        self.active.assign(state.active)
        for g, s in zip(self._order_rngs, state.rng_states):
            g.bit_generator.state = s
