"""Example Keras factories for ibsim's ``keras(factory="module:function")`` model.

Put this folder on the Python path (``PYTHONPATH=docs/examples``), then::

    model = "keras(factory=\"keras_models:tishby\")"

A factory takes ``(input_shape, n_classes)`` and returns an uncompiled
``keras.Model`` whose output is the softmax read-out. ibsim trains it
(optimizer, learning_rate, batch_size and epochs come from the config) and
records the layers with weights, or those named in ``layers``.
"""
from __future__ import annotations

import keras


def tishby(input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """The Tishby net (12-10-7-5-4-3-2, tanh): the ensemble's default network as a Keras model.

    Args:
        input_shape: Shape of one input sample, e.g. ``(12,)``.
        n_classes: Number of classes (width of the softmax read-out).

    Returns:
        An uncompiled functional model.
    """
    inputs = keras.Input(input_shape)
    h = inputs
    for k, width in enumerate([10, 7, 5, 4, 3], start=1):
        h = keras.layers.Dense(width, activation="tanh", name=f"hidden_{k}")(h)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="readout")(h)
    return keras.Model(inputs, outputs)


def small(input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """A 6-4 tanh net, the same as ``Network(architecture=[6, 4])``."""
    inputs = keras.Input(input_shape)
    h = keras.layers.Dense(6, activation="tanh", name="hidden_1")(inputs)
    h = keras.layers.Dense(4, activation="tanh", name="hidden_2")(h)
    return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax", name="readout")(h))


def batchnorm_dropout(input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """A Sequential model with layers the ensemble does not have: batch norm,
    dropout (seeded, so runs repeat) and an L2 regularizer."""
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Dense(8, name="dense_in", kernel_regularizer=keras.regularizers.L2(1e-4)),
        keras.layers.BatchNormalization(name="norm"),
        keras.layers.Activation("relu", name="relu"),
        keras.layers.Dropout(0.1, seed=7, name="drop"),
        keras.layers.Dense(n_classes, activation="softmax", name="readout"),
    ])


def conv1d(input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """A 1-D convolution over the input features (a non-dense recorded output, flattened)."""
    inputs = keras.Input(input_shape)
    h = keras.layers.Reshape((input_shape[0], 1))(inputs)
    h = keras.layers.Conv1D(3, 3, activation="tanh", name="conv")(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax", name="readout")(h))


# --- factories that break the contract (for the error tests) ---

def not_a_model(input_shape: tuple[int, ...], n_classes: int) -> str:
    """Returns something other than a model."""
    return "a model"


def wrong_width(input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """An output one unit too wide."""
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Dense(n_classes + 1, activation="softmax")(inputs))


def no_softmax(input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """A linear read-out."""
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Dense(n_classes)(inputs))
