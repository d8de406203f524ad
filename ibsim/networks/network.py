"""The network of an experiment: architecture, activation and training settings.

This class only holds and validates the settings (it imports no TensorFlow);
:mod:`ibsim.networks.ensemble` builds and trains the TensorFlow ensemble from it.
"""
from __future__ import annotations

from ibsim.component import Component
from ibsim.networks.activations import ACTIVATIONS
from ibsim.params import AnyOf, Constant, Interval, ListOf, Options, Param

MODELS = ["feedforward", "feedforward_batchnorm"]
OPTIMIZERS = ["sgd", "adam"]
INITIALIZERS = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"]


class Network(Component):
    """A feed-forward network with a softmax read-out, and how it is trained.

    The read-out layer (one unit per class) is added automatically, as in the
    seed: ``architecture = [10, 7, 5, 4, 3]`` on the harmonics data gives the
    12-10-7-5-4-3-2 network.
    """

    PARAMS = {
        "architecture": Param(
            ListOf(Interval(int, 1, None), min_len=1), [10, 7, 5, 4, 3],
            "hidden layer widths; the softmax read-out is added",
        ),
        "activation_fn": Param(Options(ACTIVATIONS), "tanh", "activation of the hidden layers"),
        "model": Param(
            Options(MODELS, aliases={f"models.{m}": m for m in MODELS}), "feedforward",
            "feedforward, or feedforward_batchnorm (batch norm before each hidden activation)",
        ),
        "optimizer": Param(Options(OPTIMIZERS), "adam", "sgd or adam (Keras defaults)"),
        "learning_rate": Param(Interval(float, 0, None, "neither"), 0.0004, "optimizer step size"),
        "batch_size": Param(Interval(int, 1, None), 256, "mini-batch size"),
        "epochs": Param(Interval(int, 1, None), 8000, "training epochs"),
        "kernel_initializer": Param(
            Options(INITIALIZERS), "glorot_uniform", "weight initialisation (Keras names)"
        ),
        "initial_bias": Param(Interval(float, None, None), 0.0, "initial value of every bias"),
        "max_norm_weights": Param(
            AnyOf(Constant(False), Interval(float, 0, None, "neither")), False,
            "false, or the largest norm of a neuron's incoming weight vector (applied after each step)",
        ),
    }
