"""A compiled trainer for dense ensembles: one C call trains a group for one or more epochs.

The twin of the XLA epoch of :class:`ibsim.networks.ensemble.Program` for dense
feed-forward nets (no batch norm, no noise, no layer specs): the same
parameters and Adam slots in the ensemble's layout (kernels ``(in, out, R)``,
biases ``(out, R)``, the run axis last), the same batch orders
(:meth:`Ensemble.batch_orders`), Keras' Adam / SGD / MaxNorm, the same epoch
metrics. The kernel (``ibsim_ext/dense_train_core.h``) trains each run in its
own workspace, vectorised over the batch, the runs in parallel (OpenMP), so run
``r`` of a group is bit for bit run ``r`` trained alone, with any number of
threads. Its numbers are not XLA's bit for bit (other summation orders, other
exp/log): the parameters agree to float32 rounding that training amplifies
slowly (tests/test_compiled_trainer.py states the tolerance).

One difference from the XLA program by design: frozen runs (``active`` False)
are skipped entirely: their parameters *and* Adam slots stay unchanged
(the XLA program still moves their slots, though never their parameters), their
gradients add nothing to ``stats`` and their metrics are NaN (the pipeline
discards a stopped run's metrics anyway).

:class:`~ibsim.networks.ensemble.Ensemble` trains with it wherever
:func:`supports` says it can (network key ``trainer``); see docs/performance.md,
"Compiled trainer".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ibsim_ext import _dense_train

if TYPE_CHECKING:
    from ibsim.networks.ensemble import Signature

#: Hidden activations the kernel implements (the cheap ones: no expm1/log1p).
ACTIVATIONS: tuple[str, ...] = tuple(_dense_train.ACTIVATIONS)
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
STATUS_NO_MEMORY = _dense_train.STATUS_NO_MEMORY


def unsupported(activation: str, optimizer: str, batchnorm: bool, noise_std: float, layer_specs: bool,
                n_weighted: int) -> str | None:
    """Why the compiled trainer cannot train such a network, or None when it can.

    Args:
        activation: The hidden layers' activation.
        optimizer: The optimizer's name.
        batchnorm: Whether the net has batch normalisation.
        noise_std: The training noise (0: none).
        layer_specs: Whether the architecture has conv, pooling, flatten or dropout layers.
        n_weighted: Dense layers with weights, the read-out included.
    """
    if layer_specs:
        return "it trains dense layers only (no conv, pooling, flatten or dropout layers)"
    if batchnorm:
        return "it has no batch normalisation (model = feedforward_batchnorm)"
    if noise_std:
        return "it adds no training noise (noise_std)"
    if activation not in ACTIVATIONS:
        return f"activation_fn = {activation!r} is not compiled (compiled: {', '.join(ACTIVATIONS)})"
    if optimizer not in OPTIMIZERS:
        return f"optimizer = {optimizer!r} is not compiled"
    if not 1 <= n_weighted <= _dense_train.MAX_LAYERS:
        return f"it trains 1 to {_dense_train.MAX_LAYERS} dense layers, not {n_weighted}"
    return None


def supports(signature: Signature) -> bool:
    """Whether the compiled trainer can train ensembles of ``signature`` (see :func:`unsupported`).

    Args:
        signature: The :class:`~ibsim.networks.ensemble.Signature` of an ensemble.
    """
    return unsupported(signature.activation, signature.optimizer, signature.batchnorm, signature.noise_std,
                       bool(signature.architecture), len(signature.widths) - 1) is None


@dataclass(frozen=True)
class EpochResult:
    """What a compiled call returns.

    Attributes:
        metrics: (2, 2, R) float32 after one epoch (:meth:`CompiledTrainer.train_epoch`),
            or (E, 2, 2, R) after each of E epochs (:meth:`CompiledTrainer.train_epochs`),
            as :attr:`Ensemble.last_metrics`: (loss, accuracy) x (training
            mini-batches, held-out samples); NaN for frozen runs (and for the
            held-out column without held-out samples).
        steps: The optimizer's step count after the call.
    """

    metrics: np.ndarray
    steps: int


@dataclass(frozen=True)
class CompiledTrainer:
    """Trains every run of a dense ensemble for one or more epochs per call.

    Attributes:
        widths: Layer widths: inputs, hidden layers, classes.
        activation: The hidden layers' activation (one of :data:`ACTIVATIONS`).
        optimizer: "adam" or "sgd".
        learning_rate: The optimizer's learning rate.
        max_norm: Keras' MaxNorm bound on each neuron's incoming weights (0: off).
        batch_size: Mini-batch size (the epoch's last batch may be shorter).
    """

    widths: tuple[int, ...]
    activation: str
    optimizer: str
    learning_rate: float
    max_norm: float
    batch_size: int

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not compiled; one of {ACTIVATIONS}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not compiled; one of {OPTIMIZERS}")
        if not 2 <= len(self.widths) <= _dense_train.MAX_LAYERS + 1 or min(self.widths) < 1:
            raise ValueError(f"widths {self.widths} must be 2 to {_dense_train.MAX_LAYERS + 1} positive numbers")
        if self.batch_size < 1 or self.learning_rate <= 0 or self.max_norm < 0:
            raise ValueError("batch_size and learning_rate must be positive, max_norm at least 0")

    @classmethod
    def from_signature(cls, signature: Signature, batch_size: int) -> CompiledTrainer:
        """The trainer of ensembles of ``signature`` (see :func:`supports`)."""
        if not supports(signature):
            raise ValueError(f"the compiled trainer does not support {signature}")
        return cls(tuple(int(w) for w in signature.widths), signature.activation, signature.optimizer,
                   float(signature.learning_rate), float(signature.max_norm), int(batch_size))

    @property
    def n_layers(self) -> int:
        """Weighted layers (hidden layers and the read-out)."""
        return len(self.widths) - 1

    def train_epoch(
        self,
        params: Sequence[np.ndarray],
        slots: Sequence[np.ndarray],
        steps: int,
        active: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        perm: np.ndarray,
        xm: np.ndarray | None = None,
        ym: np.ndarray | None = None,
        stats: Sequence[np.ndarray] | None = None,
        threads: int = 1,
    ) -> EpochResult:
        """Train the active runs for one epoch: :meth:`train_epochs` with one
        sample order ``perm`` (n, R); the metrics are (2, 2, R)."""
        perm = np.asarray(perm)
        if perm.ndim != 2:
            raise ValueError(f"perm must be (n, R) int32, not {perm.dtype} {perm.shape}")
        result = self.train_epochs(params, slots, steps, active, x, y, perm[None], xm, ym, stats, threads)
        return EpochResult(result.metrics[0], result.steps)

    def train_epochs(
        self,
        params: Sequence[np.ndarray],
        slots: Sequence[np.ndarray],
        steps: int,
        active: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        perms: np.ndarray,
        xm: np.ndarray | None = None,
        ym: np.ndarray | None = None,
        stats: Sequence[np.ndarray] | None = None,
        threads: int = 1,
    ) -> EpochResult:
        """Train the active runs for E epochs in one call (a run's epochs one
        after the other, on one thread or handed from one thread to another so
        that the threads train as many epochs each: bit for bit E calls of one
        epoch on one thread);
        ``params``, ``slots`` and ``stats`` are updated in place.

        Args:
            params: Kernels (in, out, R), then biases (out, R): float32,
                C-contiguous, writable (the ensemble's parameter order).
            slots: Adam's (m, v) of every parameter in that order (2 per
                parameter, same shapes); empty for SGD.
            steps: The optimizer's step count before the first epoch.
            active: (R,) bool: False freezes a run (see the module notes).
            x: (n, features) float32 training inputs.
            y: (n, classes) float32 one-hot targets.
            perms: (E, n, R) int32 every run's sample order in each epoch
                (:meth:`Ensemble.batch_orders`).
            xm: (nm, features) float32 held-out inputs, or None.
            ym: (nm, classes) float32 held-out one-hot targets, or None.
            stats: Sum and sum of squares (float64, the kernel's shape) of
                every kernel's gradient over the *last* epoch's mini-batches,
                accumulated into (2 per kernel, kernels in order), or None.
            threads: OpenMP threads (over the runs' epochs).

        Returns:
            The metrics after each epoch (E, 2, 2, R) and the new step count.

        Raises:
            ValueError: An input of the wrong shape, type or layout.
            MemoryError: A run's workspace could not be allocated.
        """
        checked = self._checked(params, slots, active, x, y, perms, xm, ym, stats, threads)
        params, slots, stats, x, y, perms, xm, ym, runs = checked
        n_epochs, _, n_runs = perms.shape
        n_steps = -(-x.shape[0] // self.batch_size)
        alphas = np.zeros((n_epochs, n_steps), np.float32)
        if self.optimizer == "adam":
            _dense_train.adam_alphas(self.learning_rate, int(steps), n_epochs * n_steps, alphas.reshape(-1))
        out = np.full((n_epochs, n_runs, 4), np.nan)
        status = np.zeros(n_runs, np.int32)
        _dense_train.train_epochs(
            params, slots, stats, x, y, _labels(y), perms, xm, ym, _labels(ym), runs,
            np.asarray(self.widths, np.int64), _dense_train.ACTIVATIONS[self.activation], self.optimizer == "adam",
            self.learning_rate, self.max_norm, self.batch_size, alphas, out, status, max(1, min(int(threads), len(runs))),
        )
        if (status == STATUS_NO_MEMORY).any():
            raise MemoryError("the compiled trainer could not allocate a run's workspace")
        if not xm.shape[0]:
            out[:, :, 2:] = np.nan
        # (E, R, 4) -> (E, 2 kinds, 2 splits, R): (loss, accuracy) x (training, held-out)
        metrics = out.transpose(0, 2, 1).reshape(n_epochs, 2, 2, n_runs).transpose(0, 2, 1, 3)
        return EpochResult(np.ascontiguousarray(metrics, dtype=np.float32), int(steps) + n_epochs * n_steps)

    def record(self, params: Sequence[np.ndarray], x: np.ndarray, threads: int = 1) -> list[np.ndarray]:
        """Every layer's outputs of every run on the samples ``x``: the forward
        pass of the training epochs (the read-out's softmax probabilities as
        their held-out metrics compute them).

        Args:
            params: Kernels (in, out, R), then biases (out, R): float32, C-contiguous.
            x: (n, features) float32 inputs.
            threads: OpenMP threads (over runs).

        Returns:
            One float32 array (R, n, width) per weighted layer, the read-out last.

        Raises:
            ValueError: An input of the wrong shape, type or layout.
            MemoryError: A run's workspace could not be allocated.
        """
        widths, n_layers = self.widths, self.n_layers
        params = list(params)
        if len(params) < n_layers or params[0].ndim != 3:
            raise ValueError(f"params must start with {n_layers} kernels (in, out, R)")
        n_runs = params[0].shape[2]
        shapes = self._param_shapes(n_runs)
        params = _tensors(params, shapes, np.float32, "params")
        x = _input(x, "x", (None, widths[0]))
        if int(threads) < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        outs = [np.empty((n_runs, x.shape[0], w), np.float32) for w in widths[1:]]
        if not x.shape[0]:
            return outs
        status = np.zeros(n_runs, np.int32)
        _dense_train.record(params, x, np.asarray(widths, np.int64), _dense_train.ACTIVATIONS[self.activation],
                            outs, status, max(1, min(int(threads), n_runs)))
        if (status == STATUS_NO_MEMORY).any():
            raise MemoryError("the compiled recording could not allocate a run's workspace")
        return outs

    # ---------------------------------------------------------------- checks
    def _param_shapes(self, n_runs: int) -> list[tuple[int, ...]]:
        """The shapes of the kernels (in, out, R), then of the biases (out, R)."""
        widths, n_layers = self.widths, self.n_layers
        return [(widths[k], widths[k + 1], n_runs) for k in range(n_layers)] + \
            [(widths[k + 1], n_runs) for k in range(n_layers)]

    def _checked(self, params, slots, active, x, y, perm, xm, ym, stats, threads):
        """Every input checked (shapes, dtypes, layout) in one place; returns
        (params, slots, stats, x, y, perm, xm, ym, runs) as the kernel takes them."""
        widths, n_layers = self.widths, self.n_layers
        perm = np.asarray(perm)
        if perm.ndim != 3 or perm.dtype != np.int32 or perm.shape[0] < 1:
            raise ValueError(f"perm must be (epochs >= 1, n, R) int32, not {perm.dtype} {perm.shape}")
        _, n, n_runs = perm.shape
        x = _input(x, "x", (n, widths[0]))
        y = _input(y, "y", (n, widths[-1]))
        if n < 1:
            raise ValueError("no training samples")
        if perm.min() < 0 or perm.max() >= n:
            raise ValueError(f"perm holds sample indices outside [0, {n})")
        perm = np.ascontiguousarray(perm)
        if (xm is None) != (ym is None):
            raise ValueError("give both xm and ym, or neither")
        if xm is None:
            xm, ym = np.zeros((0, widths[0]), np.float32), np.zeros((0, widths[-1]), np.float32)
        xm = _input(xm, "xm", (None, widths[0]))
        ym = _input(ym, "ym", (xm.shape[0], widths[-1]))
        shapes = self._param_shapes(n_runs)
        params = _tensors(params, shapes, np.float32, "params")
        n_slots = 2 if self.optimizer == "adam" else 0
        slots = _tensors(slots, [s for s in shapes for _ in range(n_slots)], np.float32, "slots")
        stats = [] if stats is None else _tensors(stats, [s for s in shapes[:n_layers] for _ in range(2)],
                                                  np.float64, "stats")
        active = np.asarray(active)
        if active.shape != (n_runs,) or active.dtype != bool:
            raise ValueError(f"active must be ({n_runs},) bool, not {active.dtype} {active.shape}")
        if int(threads) < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        return params, slots, stats, x, y, perm, xm, ym, np.flatnonzero(active).astype(np.int64)


def _labels(y: np.ndarray) -> np.ndarray:
    """The class of each one-hot row (the first largest, as argmax)."""
    return np.argmax(y, axis=1).astype(np.int32) if y.shape[0] else np.zeros(0, np.int32)


def _input(a: np.ndarray, name: str, shape: tuple[int | None, int]) -> np.ndarray:
    """``a`` as a C-contiguous float32 array of ``shape`` (None: any length)."""
    a = np.asarray(a)
    if a.ndim != 2 or any(want is not None and got != want for got, want in zip(a.shape, shape)):
        raise ValueError(f"{name} must have shape {shape}, not {a.shape}")
    if a.dtype != np.float32:
        raise ValueError(f"{name} must be float32, not {a.dtype}")
    return np.ascontiguousarray(a)


def _tensors(arrays: Sequence[np.ndarray], shapes: list[tuple[int, ...]], dtype, name: str) -> list[np.ndarray]:
    """``arrays`` checked to be writable C-contiguous ``dtype`` arrays of ``shapes``
    (they are updated in place, so nothing is converted)."""
    arrays = list(arrays)
    if len(arrays) != len(shapes):
        raise ValueError(f"{name}: {len(shapes)} arrays expected, {len(arrays)} given")
    for k, (a, shape) in enumerate(zip(arrays, shapes)):
        if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype:
            raise ValueError(f"{name}[{k}] must be a {np.dtype(dtype).name} array of shape {shape}")
        if not a.flags.c_contiguous or not a.flags.writeable:
            raise ValueError(f"{name}[{k}] must be C-contiguous and writable (it is updated in place)")
    return arrays
