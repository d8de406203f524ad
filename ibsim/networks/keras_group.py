"""Any Keras model: the runs of a group trained one model at a time.

A :class:`KerasGroup` has the interface of :class:`~ibsim.networks.ensemble.Ensemble`
(train_epoch, record, predict, set_held_out, last_metrics, weight_norms,
deactivate, state, load_state, batch_orders), so the pipeline (groups, part
files, inline estimation, assembly, resume, every backend) does not know which
it drives. It holds one ``keras.Model`` per run, each built by the config's
factory (``model = "keras(factory=\"module:function\", layers=[...])"``):

- **The factory contract.** ``factory(input_shape: tuple[int, ...], n_classes: int)
  -> keras.Model``: an uncompiled functional or Sequential model on inputs of
  ``input_shape`` whose single output is the softmax read-out, ``(None, n_classes)``.
  The factory is imported by its ``"module:function"`` name in every worker.
- **Seeding.** Run ``r`` draws its initial weights from ``run_rng(seed, r, "init")``
  and its batch orders from ``run_rng(seed, r, "batches")``, so run ``r`` is the
  same whatever its group. Every weight a layer creates from a ``<name>_initializer``
  attribute (``kernel_initializer`` -> ``kernel``, ...) is drawn again from that
  stream, layer by layer: Glorot/He kernels of 2-D weights exactly as the
  ensemble draws them (a Keras copy of a dense ensemble net starts from the
  ensemble's weights), other random initializers re-seeded from the stream;
  constant initializers keep their values.
- **Training.** One compiled epoch (``tf.function``, a loop over the run's own
  batch order) per run: Keras' cross-entropy on the softmax output plus the
  model's own losses (regularizers), the optimizer Keras' SGD or Adam with the
  config's learning rate. Loss and accuracy as the ensemble reports them.
- **Recording.** The outputs of the recorded layers (default: every top-level
  layer with weights) and of the output layer, last; outputs of more than one
  dimension are flattened, so a layer's width is the size of its output.
- **Checkpoints.** Every model variable (weights, batch-norm statistics, seed
  generator states) and every optimizer variable, as plain arrays in the
  ensemble's :class:`~ibsim.networks.ensemble.EnsembleState` (``params``: each
  run's model variables in turn; ``slots``: each run's optimizer variables).

This module also answers "the recorded layer widths of a network on a dataset"
(:func:`recorded_widths`, :func:`parameter_count`) for both kinds of network.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Sequence

import numpy as np

from ibsim.errors import ConfigError
from ibsim.networks import layers
from ibsim.networks.batch_orders import batch_orders
from ibsim.networks.ensemble import (RECORD_CHUNK_FLOATS, EnsembleState, GradientStats, _initial_kernel,
                                    epochs_one_at_a_time)
from ibsim.networks.network import KerasModelSpec, Network
from ibsim.networks.tf_setup import tensorflow_module
from ibsim.seeding import run_rng
from ibsim.threads import worker_threads

#: Keras initializer classes drawn exactly as the ensemble draws its kernels.
ENSEMBLE_INITIALIZERS = {"GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal",
                         "HeUniform": "he_uniform", "HeNormal": "he_normal"}


def _refuse(spec: KerasModelSpec, why: str) -> ConfigError:
    return ConfigError(f"config key 'model' = {spec.spec}: {why}")


def load_factory(spec: KerasModelSpec) -> Callable[..., Any]:
    """Import the factory ``"module:function"`` of a Keras model spec.

    Raises:
        ConfigError: The module cannot be imported or has no such callable.
    """
    module_name, _, attribute = spec.factory.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - ImportError, or whatever the module raised: named
        raise _refuse(spec, f"cannot import module {module_name!r} ({type(error).__name__}: {error}); put it on "
                            "the Python path (PYTHONPATH) of every worker") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise _refuse(spec, f"module {module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise _refuse(spec, f"{spec.factory} is not callable")
    return target


def build_model(spec: KerasModelSpec, input_shape: tuple[int, ...], n_classes: int, keras: Any) -> Any:
    """Call the factory and check what it returned (a model on ``input_shape``
    whose single output is a softmax over ``n_classes``).

    Raises:
        ConfigError: The factory fails or breaks its contract (the message says how).
    """
    factory = load_factory(spec)
    try:
        model = factory(tuple(input_shape), int(n_classes))
    except Exception as error:  # noqa: BLE001 - the user's code: named, one line
        raise _refuse(spec, f"the factory failed with {type(error).__name__}: {error}") from None
    if not isinstance(model, keras.Model):
        raise _refuse(spec, f"the factory returned {type(model).__name__}, not a keras.Model")
    try:
        if not model.built:
            model.build((None, *input_shape))
        outputs = model.outputs
    except Exception as error:  # noqa: BLE001 - Keras' own message, named
        raise _refuse(spec, "the model must be a functional or Sequential model on inputs of shape "
                            f"{tuple(input_shape)} ({type(error).__name__}: {error})") from None
    if not outputs or len(outputs) != 1 or len(model.inputs) != 1:
        raise _refuse(spec, f"the model must have one input and one output, it has {len(model.inputs)} and "
                            f"{len(outputs or [])}")
    if tuple(outputs[0].shape[1:]) != (n_classes,):
        raise _refuse(spec, f"the model's output has shape {tuple(outputs[0].shape)}, expected (None, {n_classes}) "
                            f"(the softmax read-out over the dataset's {n_classes} classes)")
    if tuple(model.inputs[0].shape[1:]) != tuple(input_shape):
        raise _refuse(spec, f"the model's input has shape {tuple(model.inputs[0].shape)}, expected "
                            f"(None, {', '.join(map(str, input_shape))})")
    probe = np.asarray(model(np.linspace(-1, 1, 3 * int(np.prod(input_shape)), dtype=np.float32)
                             .reshape((3, *input_shape)), training=False))
    if not (np.all(probe >= 0) and np.allclose(probe.sum(axis=1), 1.0, atol=1e-4)):
        raise _refuse(spec, "the model's output is not a softmax (rows must be probabilities that sum to 1); "
                            "end it with a Dense(n_classes, activation=\"softmax\") layer")
    return model


def recorded_layer_indices(model: Any, spec: KerasModelSpec) -> list[int]:
    """Positions in ``model.layers`` of the layers to record, the output layer last.

    Raises:
        ConfigError: A name in ``layers`` is not a top-level layer of the model.
    """
    layers = list(model.layers)
    output_layer = model.outputs[0]._keras_history[0]
    if output_layer not in layers:
        raise _refuse(spec, "the model's output must come from one of its top-level layers")
    last = layers.index(output_layer)
    if spec.layers is None:
        chosen = [k for k, layer in enumerate(layers) if layer.weights and k != last]
    else:
        names = [layer.name for layer in layers]
        unknown = [n for n in spec.layers if n not in names]
        if unknown:
            raise _refuse(spec, f"the model has no layer {unknown[0]!r}; its layers: {', '.join(names)}")
        chosen = sorted(names.index(n) for n in spec.layers if names.index(n) != last)
    return chosen + [last]


def _walk(layers: Sequence[Any]):
    """Every layer, nested models' layers after their model."""
    for layer in layers:
        yield layer
        yield from _walk(getattr(layer, "layers", ()))


def seed_weights(model: Any, rng: np.random.Generator, keras: Any) -> None:
    """Draw the model's initial weights from one run's stream (see the module notes)."""
    for layer in _walk(model.layers):
        for attribute, initializer in list(vars(layer).items()):
            if not attribute.endswith("_initializer") or not isinstance(initializer, keras.initializers.Initializer):
                continue
            variable = getattr(layer, attribute[: -len("_initializer")], None)
            if not isinstance(variable, keras.Variable):
                continue
            shape = tuple(variable.shape)
            kind = ENSEMBLE_INITIALIZERS.get(type(initializer).__name__)
            if kind is not None and len(shape) == 2:
                variable.assign(_initial_kernel(rng, kind, *shape).astype(variable.dtype))
            elif "seed" in initializer.get_config():
                seeded = type(initializer).from_config({**initializer.get_config(),
                                                        "seed": int(rng.integers(2**31 - 1))})
                variable.assign(seeded(shape, variable.dtype))


def _kernel(layer: Any) -> Any | None:
    """A layer's weight matrix (``kernel``, else its first weight of 2+ dimensions), or None."""
    kernel = getattr(layer, "kernel", None)
    if kernel is not None:
        return kernel
    return next((w for w in layer.trainable_weights if len(w.shape) >= 2), None)


class _Run:
    """One run's model, the sub-model of its recorded outputs, optimizer and compiled epochs."""

    def __init__(self, model: Any, indices: list[int], optimizer: Any, keras: Any, tf: Any) -> None:
        self.model, self.optimizer, self._tf, self._keras = model, optimizer, tf, keras
        layers = [model.layers[k] for k in indices]
        self.layers = layers
        outputs = [layer.output for layer in layers[:-1]] + [model.outputs[0]]
        probe = keras.Model(model.inputs, outputs)
        self.forward = tf.function(lambda x: probe(x, training=False), reduce_retracing=True)
        self.readout = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        trainable = list(model.trainable_variables)
        kernels = [_kernel(layer) for layer in layers]
        # position of each recorded layer's kernel among the trainable variables (None: no kernel)
        self.kernel_index = [next((i for i, v in enumerate(trainable) if v is k), None) if k is not None else None
                             for k in kernels]
        self.kernels = kernels
        self.sums = tf.Variable(np.zeros(2, np.float32))
        self.stats = [tf.Variable(np.zeros(tuple(trainable[i].shape), np.float64))
                      for i in self.kernel_index if i is not None for _ in range(2)]
        self._epochs: dict[tuple[int, int, bool], Any] = {}

    def _step(self, x, y, idx, with_stats: bool) -> None:
        tf, model = self._tf, self.model
        xb, yb = tf.gather(x, idx), tf.gather(y, idx)
        with tf.GradientTape() as tape:
            probabilities = model(xb, training=True)
            per_sample = self._keras.losses.categorical_crossentropy(yb, probabilities)
            loss = tf.reduce_mean(per_sample)
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        hits = tf.cast(tf.equal(tf.argmax(probabilities, axis=1), tf.argmax(yb, axis=1)), tf.float32)
        self.sums.assign_add(tf.stack([tf.reduce_sum(per_sample), tf.reduce_sum(hits)]))
        if with_stats:
            k = 0
            for index in self.kernel_index:
                if index is not None:
                    g = tf.cast(grads[index], tf.float64)
                    self.stats[2 * k].assign_add(g)
                    self.stats[2 * k + 1].assign_add(tf.square(g))
                    k += 1
        self.optimizer.apply_gradients(zip(grads, variables))

    def epoch(self, n_train: int, batch_size: int, with_stats: bool) -> Any:
        """The compiled epoch: (training loss, accuracy) over the mini-batches and
        (loss, accuracy) on the held-out samples after it."""
        key = (n_train, batch_size, with_stats)
        if key not in self._epochs:
            tf, keras = self._tf, self._keras
            n_full, rest = divmod(n_train, batch_size)

            def epoch(x, y, perm, xm, ym):
                self.sums.assign(tf.zeros_like(self.sums))
                for s in tf.range(n_full):
                    self._step(x, y, tf.slice(perm, [s * batch_size], [batch_size]), with_stats)
                if rest:
                    self._step(x, y, perm[n_full * batch_size:], with_stats)
                held = self.model(xm, training=False)
                held_loss = tf.reduce_mean(keras.losses.categorical_crossentropy(ym, held))
                held_hits = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(held, axis=1), tf.argmax(ym, axis=1)),
                                                   tf.float32))
                return self.sums / n_train, tf.stack([held_loss, held_hits])

            self._epochs[key] = tf.function(epoch)
        return self._epochs[key]


class KerasGroup:
    """The runs ``runs`` of a network whose model a Keras factory builds.

    Args:
        network: The network settings (``network.keras`` names the factory).
        input_dim: Number of input features (the factory gets ``(input_dim,)``).
        n_classes: Number of classes (width of the softmax read-out).
        runs: Run indices of this group (they fix each run's random streams).
        seed: The experiment seed.
        threads: Threads TensorFlow may use in this process.

    Raises:
        ConfigError: The factory breaks its contract, or ``layers`` names a
            layer the model does not have.
    """

    def __init__(self, network: Network, input_dim: int, n_classes: int, runs: Sequence[int], seed: int,
                 threads: int = 1) -> None:
        tf = tensorflow_module(threads)
        keras = tf.keras
        self._tf = tf
        self.network = network
        self.runs = list(runs)
        self.n_runs = len(self.runs)
        spec = network.keras
        if spec is None:
            raise ConfigError(f"config key 'model' = {network.model} is not a Keras model")
        self._runs: list[_Run] = []
        indices: list[int] | None = None
        for r in self.runs:
            model = build_model(spec, (input_dim,), n_classes, keras)
            if indices is None:
                indices = recorded_layer_indices(model, spec)
            seed_weights(model, run_rng(seed, r, "init"), keras)
            if network.optimizer == "adam":
                optimizer = keras.optimizers.Adam(learning_rate=network.learning_rate)
            else:
                optimizer = keras.optimizers.SGD(learning_rate=network.learning_rate)
            optimizer.build(model.trainable_variables)
            self._runs.append(_Run(model, indices, optimizer, keras, tf))
        self.widths = [input_dim] + output_widths(self._runs[0].model, indices)
        self.n_layers = len(self.widths) - 1
        self._order_rngs = [run_rng(seed, r, "batches") for r in self.runs]
        self._held_out: tuple[Any, Any] | None = None
        self.last_metrics: np.ndarray | None = None
        self.epochs_metrics: np.ndarray | None = None  # (epochs, 2, 2, R) of the last train_epochs
        self.active = np.ones(self.n_runs, dtype=bool)
        self.steps = 0

    def batch_orders(self, n_train: int) -> np.ndarray:
        """Next epoch's sample order of every run: (n_train, R) int32."""
        return batch_orders(self._order_rngs, n_train)[0]

    def set_held_out(self, x: np.ndarray, y: np.ndarray) -> None:
        """The held-out samples (inputs ``x``, one-hot ``y``) whose loss and
        accuracy every epoch reports in :attr:`last_metrics` (the test split)."""
        self._held_out = (self._tf.constant(x), self._tf.constant(y))

    def as_inputs(self, a: np.ndarray):
        """``a`` as :meth:`train_epochs` takes it: a TensorFlow constant."""
        return self._tf.constant(a)

    def train_epoch(self, x, y, with_stats: bool = False) -> GradientStats | None:
        """Train every active run for one epoch on ``x`` (n, features), one-hot ``y``.

        Same contract as :meth:`Ensemble.train_epoch
        <ibsim.networks.ensemble.Ensemble.train_epoch>`: :attr:`last_metrics` is
        (2, 2, R), (loss, accuracy) × (training mini-batches, held-out samples);
        NaN for frozen runs. With ``with_stats``, the norms of the mean and
        standard deviation over the mini-batches of each recorded layer's weight
        matrix's gradient (NaN for layers without one).
        """
        n_train = int(x.shape[0])
        perm = self.batch_orders(n_train)
        batch_size = self.network.batch_size
        if self._held_out is None:
            self._held_out = (x[:1], y[:1])
        metrics = np.full((2, 2, self.n_runs), np.nan)
        n_steps = -(-n_train // batch_size)
        means = np.full((self.n_layers, self.n_runs), np.nan)
        stds = np.full((self.n_layers, self.n_runs), np.nan)
        for i, run in enumerate(self._runs):
            if not self.active[i]:
                continue
            if with_stats:
                for variable in run.stats:
                    variable.assign(np.zeros(variable.shape, np.float64))
            training, held_out = run.epoch(n_train, batch_size, with_stats)(x, y, self._tf.constant(perm[:, i]),
                                                                              *self._held_out)
            metrics[:, 0, i], metrics[:, 1, i] = training.numpy(), held_out.numpy()
            if with_stats:
                k = 0
                for layer, index in enumerate(run.kernel_index):
                    if index is None:
                        continue
                    mean = run.stats[2 * k].numpy() / n_steps
                    var = np.maximum(run.stats[2 * k + 1].numpy() / n_steps - mean**2, 0.0)
                    means[layer, i], stds[layer, i] = np.sqrt((mean**2).sum()), np.sqrt(var.sum())
                    k += 1
        self.steps += n_steps
        self.last_metrics = metrics
        return GradientStats(means, stds) if with_stats else None

    def train_epochs(self, x, y, count: int, with_stats: bool = False) -> GradientStats | None:
        """``count`` epochs of :meth:`train_epoch`, as :meth:`Ensemble.train_epochs
        <ibsim.networks.ensemble.Ensemble.train_epochs>` (every epoch's metrics in
        :attr:`epochs_metrics`, the last epoch's gradient statistics)."""
        return epochs_one_at_a_time(self, x, y, count, with_stats)

    def weight_norms(self) -> np.ndarray:
        """Frobenius norm of every recorded layer's weight matrix, per run:
        (layers, R); NaN for a layer without one."""
        return np.array([[np.sqrt((np.asarray(k, np.float64) ** 2).sum()) if k is not None else np.nan
                          for k in run.kernels] for run in self._runs]).T

    def record(self, x: np.ndarray) -> list[np.ndarray]:
        """Every recorded layer's activations on the samples ``x`` as float32
        arrays (R, samples, width), outputs flattened; the last is the softmax read-out."""
        n = len(x)
        chunk = max(1, min(n, RECORD_CHUNK_FLOATS // max(1, sum(self.widths))))
        per_run = []
        for run in self._runs:
            parts = [[np.asarray(o, np.float32).reshape(len(o), -1) for o in run.forward(x[start : start + chunk])]
                     for start in range(0, n, chunk)]
            per_run.append([np.concatenate([p[k] for p in parts]) if len(parts) > 1 else parts[0][k]
                            for k in range(self.n_layers)])
        return [np.stack([outputs[k] for outputs in per_run]) for k in range(self.n_layers)]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Softmax probabilities (R, samples, classes) on the samples ``x``."""
        return np.stack([np.asarray(run.readout(x), np.float32) for run in self._runs])

    def deactivate(self, run_positions: Sequence[int]) -> None:
        """Freeze the runs at these positions of the group (they are not trained any more)."""
        self.active[list(run_positions)] = False

    def state(self) -> EnsembleState:
        """A copy of everything needed to continue training later."""
        return EnsembleState(
            params=[np.array(v.numpy()) for run in self._runs for v in run.model.variables],
            slots=[np.array(v.numpy()) for run in self._runs for v in run.optimizer.variables],
            moving=[],
            steps=int(self.steps),
            active=self.active.copy(),
            rng_states=[g.bit_generator.state for g in self._order_rngs],
        )

    def load_state(self, state: EnsembleState) -> None:
        """Continue from a state taken by :meth:`state` of an identical group."""
        variables = [v for run in self._runs for v in run.model.variables]
        slots = [v for run in self._runs for v in run.optimizer.variables]
        for variable, value in zip(variables + slots, list(state.params) + list(state.slots)):
            variable.assign(value)
        self.steps = int(state.steps)
        self.active = np.asarray(state.active, dtype=bool).copy()
        for g, s in zip(self._order_rngs, state.rng_states):
            g.bit_generator.state = s


def output_widths(model: Any, indices: list[int]) -> list[int]:
    """The flattened output sizes of the layers at ``indices`` (the last: the read-out)."""
    widths = []
    for k in indices:
        tensor = model.outputs[0] if k == indices[-1] else model.layers[k].output
        shape = tuple(tensor.shape[1:])
        if any(d is None for d in shape):
            raise ConfigError(f"layer {model.layers[k].name!r} of the Keras model has an output of unknown size "
                              f"{tuple(tensor.shape)}; record layers of fixed shape (config key 'model')")
        widths.append(int(np.prod(shape, dtype=np.int64)))
    return widths


#: Widths and parameter counts of Keras models already built in this process.
_SHAPES: dict[tuple[str, int, int], tuple[list[int], int]] = {}


def _keras_shape(spec: KerasModelSpec, input_dim: int, n_classes: int) -> tuple[list[int], int]:
    key = (spec.spec, input_dim, n_classes)
    if key not in _SHAPES:
        keras = tensorflow_module(worker_threads()).keras
        model = build_model(spec, (input_dim,), n_classes, keras)
        _SHAPES[key] = (output_widths(model, recorded_layer_indices(model, spec)), int(model.count_params()))
    return _SHAPES[key]


def recorded_widths(network: Network, input_dim: int, n_classes: int,
                    image_shape: tuple[int, int, int] | None = None, conv_recording: str = "full") -> list[int]:
    """The width of every recorded layer of ``network`` on data with ``input_dim``
    features and ``n_classes`` classes, the read-out last. A Keras model is
    built once (per process) to read its layers' output sizes, so this also
    checks its factory; a built-in network's widths are
    :func:`ibsim.networks.layers.recorded_widths` (``image_shape``: the
    dataset's, for conv and pooling layers; ``conv_recording``: the Recorder's).

    Raises:
        ConfigError: A Keras factory breaks its contract, or conv layers do not fit the data.
    """
    spec = network.keras
    if spec is None:
        shape = layers.input_shape(network.architecture, input_dim, image_shape)
        return layers.recorded_widths(network.architecture, shape, n_classes, conv_recording)
    return list(_keras_shape(spec, input_dim, n_classes)[0])


def parameter_count(network: Network, input_dim: int, n_classes: int,
                    image_shape: tuple[int, int, int] | None = None) -> int:
    """Trainable and other parameters of one run of ``network`` (weights and biases)."""
    spec = network.keras
    if spec is None:
        shape = layers.input_shape(network.architecture, input_dim, image_shape)
        return layers.parameter_count(network.architecture, shape, n_classes)
    return _keras_shape(spec, input_dim, n_classes)[1]
