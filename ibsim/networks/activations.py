"""The eleven activation functions of the seed, in NumPy and TensorFlow.

Definitions follow Keras (the seed's framework). Two choices need stating:
``hard_sigmoid`` is Keras 2's ``clip(0.2 x + 0.5, 0, 1)`` (the seed's and its
minimal-model notebook's definition; Keras 3 changed it to ``relu6(x + 3) / 6``),
and ``leaky_relu`` has negative slope 0.2 (``tf.nn.leaky_relu`` and Keras 3).

The NumPy versions serve analysis code (minimal model, weighted binning) and
the tests, which check that both versions agree. TensorFlow is imported only
when a TensorFlow activation is asked for, so configs validate without it.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
LEAKY_SLOPE = 0.2

#: How each activation saturates: "double" (bounded both sides), "single"
#: (bounded on one side) or "none" — the distinction of Saxe et al. (2018).
SATURATION = {
    "tanh": "double",
    "sigmoid": "double",
    "softsign": "double",
    "hard_sigmoid": "double",
    "relu6": "double",
    "relu": "single",
    "softplus": "single",
    "elu": "single",
    "selu": "single",
    "leaky_relu": "none",
    "linear": "none",
}

ACTIVATIONS = list(SATURATION)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "relu": lambda x: np.maximum(x, 0.0),
    "softplus": _softplus,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "leaky_relu": lambda x: np.where(x > 0, x, LEAKY_SLOPE * x),
    "linear": lambda x: x,
}


def numpy_activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The NumPy version of activation ``name``."""
    return NUMPY_ACTIVATIONS[name]


def tf_activation(name: str) -> Callable:
    """The TensorFlow version of activation ``name`` (imports TensorFlow)."""
    import tensorflow as tf

    table = {
        "tanh": tf.tanh,
        "sigmoid": tf.sigmoid,
        "softsign": tf.nn.softsign,
        "hard_sigmoid": lambda x: tf.clip_by_value(0.2 * x + 0.5, 0.0, 1.0),
        "relu6": tf.nn.relu6,
        "relu": tf.nn.relu,
        "softplus": tf.nn.softplus,
        "elu": tf.nn.elu,
        "selu": tf.nn.selu,
        "leaky_relu": lambda x: tf.nn.leaky_relu(x, alpha=LEAKY_SLOPE),
        "linear": tf.identity,
    }
    return table[name]
