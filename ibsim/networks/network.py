"""The network of an experiment: architecture, activation and training settings.

This class only holds and validates the settings (it imports no TensorFlow);
:mod:`ibsim.networks.ensemble` builds and trains the TensorFlow ensemble from it,
and :mod:`ibsim.networks.keras_group` any Keras model a factory builds
(``model = "keras(factory=\"mypkg.models:build\")"``, or :class:`KerasNetwork`).
This module is the one owner of that spec: :func:`keras_model_spec` parses it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ibsim.component import Component
from ibsim.errors import ConfigError
from ibsim.networks.activations import ACTIVATIONS
from ibsim.networks.compiled_trainer import unsupported
from ibsim.networks.layers import ARCHITECTURE, has_layer_specs
from ibsim.params import AnyOf, Constant, Interval, Options, Param, Predicate
from ibsim.spec import format_spec, parse_spec

MODELS = ["feedforward", "feedforward_batchnorm"]
MODEL_ALIASES = {f"models.{m}": m for m in MODELS}
#: The spec name of a model built by a Keras factory.
KERAS_MODEL = "keras"
#: ``module.path:function`` (the function may be ``Class.method``).
_FACTORY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
#: Network keys a Keras factory decides: they must keep their defaults with a Keras model.
KERAS_FIXED_KEYS = ("architecture", "activation_fn", "kernel_initializer", "initial_bias", "max_norm_weights",
                    "noise_std", "trainer")


@dataclass(frozen=True)
class KerasModelSpec:
    """A model built by a Keras factory: ``keras(factory="module:function", layers=[...])``.

    Attributes:
        factory: ``"module:function"``, importable in every worker.
        layers: Names of the layers to record (the output layer is always
            recorded, last); None: every layer with weights.
    """

    factory: str
    layers: tuple[str, ...] | None = None

    @property
    def spec(self) -> str:
        """The canonical text of the ``model`` key."""
        params: dict[str, Any] = {"factory": self.factory}
        if self.layers is not None:
            params["layers"] = list(self.layers)
        return format_spec(KERAS_MODEL, params)


def keras_model_spec(model: str) -> KerasModelSpec | None:
    """The Keras model a ``model`` value names, or None for the built-in models.

    Raises:
        ConfigError: A ``keras(...)`` spec with a bad or missing factory or layer list.
    """
    if model in MODELS:
        return None
    name, params = parse_spec(model)
    if name != KERAS_MODEL:
        raise ConfigError(f"unknown model {name!r}; valid: {', '.join(MODELS)} or keras(factory=\"module:function\")")
    unknown = sorted(set(params) - {"factory", "layers"})
    if unknown:
        raise ConfigError(f"keras(...) has no parameter {unknown[0]!r}; valid: factory, layers")
    factory = params.get("factory")
    if not isinstance(factory, str) or not _FACTORY.fullmatch(factory):
        raise ConfigError(f"keras(factory=...) must be a string \"module.path:function\", got {factory!r}")
    layers = params.get("layers")
    if layers is not None and (not isinstance(layers, list) or not layers
                               or not all(isinstance(n, str) and n for n in layers) or len(set(layers)) != len(layers)):
        raise ConfigError(f"keras(layers=...) must be a non-empty list of distinct layer names, got {layers!r}")
    return KerasModelSpec(factory, None if layers is None else tuple(layers))


def factory_reference(factory: Callable[..., Any] | str) -> str:
    """The ``"module:function"`` text of a factory, which workers import.

    Raises:
        ConfigError: The factory cannot be imported by name (a lambda, a nested
            function, a function defined in ``__main__``).
    """
    if isinstance(factory, str):
        return factory
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", None)
    if not callable(factory) or not module or not qualname or "<" in qualname or module == "__main__":
        raise ConfigError(
            f"KerasNetwork's 'factory' must be importable as \"module:function\" (workers import it), got {factory!r}; "
            "define it at the top level of a module on the Python path (not a lambda, a nested function or "
            "__main__), or pass its \"module:function\" text"
        )
    return f"{module}:{qualname}"


def _model(value: Any) -> str:
    """``model``: a built-in model name (or its ``models.`` alias), or a keras(...) spec, canonical."""
    if isinstance(value, str):
        value = MODEL_ALIASES.get(value, value)
    if not isinstance(value, str):
        raise ValueError
    try:
        spec = keras_model_spec(value)
    except ConfigError as error:
        raise ValueError(f" {error}.") from None
    return value if spec is None else spec.spec

OPTIMIZERS = ["sgd", "adam"]
#: How dense ensembles train (see the ``trainer`` key).
TRAINERS = ["auto", "compiled", "xla"]
INITIALIZERS = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"]


class Network(Component):
    """A feed-forward network with a softmax read-out, and how it is trained.

    The read-out layer (one unit per class) is added automatically, as in the
    seed: ``architecture = [10, 7, 5, 4, 3]`` on the harmonics data gives the
    12-10-7-5-4-3-2 network. Besides widths, ``architecture`` may list conv,
    pooling, flatten and dropout layers (:mod:`ibsim.networks.layers`), e.g.
    ``["conv2d(filters=6, kernel_size=5)", "maxpool2d(pool_size=2)", "flatten", 84]``.
    """

    PARAMS = {
        "architecture": Param(
            ARCHITECTURE, [10, 7, 5, 4, 3],
            "hidden layers: widths of dense layers, and (on image datasets) conv2d(filters, kernel_size, "
            "strides=1, padding=\"valid\"), maxpool2d/avgpool2d(pool_size=2, strides=pool_size, "
            "padding=\"valid\"), flatten (required between conv/pooling and dense layers, as in Keras) and "
            "dropout(rate) layers, in Keras' order; the softmax read-out is added. Stored canonically (every "
            "parameter spelled out); see docs/design.md (Convolutional layers)",
        ),
        "activation_fn": Param(Options(ACTIVATIONS), "tanh", "activation of the hidden layers"),
        "model": Param(
            Predicate(_model, "one of 'feedforward', 'feedforward_batchnorm' or a spec "
                              "'keras(factory=\"module:function\", layers=[...])'"), "feedforward",
            "feedforward, feedforward_batchnorm (batch norm before each hidden activation), or any Keras model: "
            "keras(factory=\"module:function\", layers=[...]) (see docs/extending.md; architecture, "
            "activation_fn, kernel_initializer, initial_bias and max_norm_weights then keep their defaults)",
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
        "trainer": Param(
            Options(TRAINERS), "auto",
            "how dense ensembles train: compiled (a C kernel, one run per thread, vectorised over the batch; "
            "dense nets without batch norm or noise, activations linear, tanh, sigmoid, relu, relu6, leaky_relu, "
            "softsign, hard_sigmoid), xla (TensorFlow's compiled epoch, every network), or auto (compiled "
            "where it applies, else xla). The two agree to float32 rounding, not bit for bit",
        ),
        "noise_std": Param(
            Interval(float, 0, None), 0.0,
            "beta: a noisy network (Goldfeld et al. 2019) adds Gaussian noise N(0, beta^2) to every hidden layer's "
            "output (after the activation) in training; the recorded activations are the noise-free outputs S, "
            "and the sp estimator takes beta from here (T = S + Z). 0: no noise",
        ),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self._params["model"] == "feedforward_batchnorm" and has_layer_specs(self._params["architecture"]):
            raise ConfigError("config key 'model' = feedforward_batchnorm takes dense widths only; an architecture "
                              "with conv, pooling, flatten or dropout layers needs model = \"feedforward\"")
        if self._params["trainer"] == "compiled":
            weighted = sum(isinstance(layer, int) for layer in self._params["architecture"]) + 1
            reason = unsupported(self._params["activation_fn"], self._params["optimizer"],
                                 self._params["model"] == "feedforward_batchnorm", self._params["noise_std"],
                                 has_layer_specs(self._params["architecture"]), weighted)
            if reason is not None:
                raise ConfigError(f"config key 'trainer' = compiled cannot train this network: {reason}; "
                                  "use trainer = \"auto\" or \"xla\"")
        keras = self.keras
        if keras is not None:
            for key in KERAS_FIXED_KEYS:
                if self._params[key] != self.PARAMS[key].default:
                    hint = {"max_norm_weights": " (give the layer a kernel_constraint=keras.constraints.MaxNorm(...) "
                                                "in the factory)",
                            "noise_std": " (add keras.layers.GaussianNoise layers in the factory and give the "
                                         "sp estimator its noise_std)"}.get(key, "")
                    raise ConfigError(
                        f"config key '{key}' = {self._params[key]!r} does not apply to model {self.model}: the "
                        f"factory builds the network; leave '{key}' out{hint}"
                    )

    @property
    def keras(self) -> KerasModelSpec | None:
        """The Keras model this network is, or None for the built-in feed-forward nets."""
        return keras_model_spec(self.model)


class KerasNetwork(Network):
    """Any Keras model, built by a factory, with the usual training settings.

    The factory is called once per run as ``factory(input_shape, n_classes)``
    and returns an uncompiled ``keras.Model`` (functional or Sequential) whose
    output is the softmax read-out; see docs/extending.md ("Any Keras model")::

        KerasNetwork(factory=build_model, layers=["hidden_1", "hidden_2"], epochs=300)

    It is a :class:`Network` whose ``model`` is ``keras(factory="module:function", ...)``.

    Args:
        factory: The factory, or its ``"module:function"`` text; it must be
            importable by that name (workers import it).
        layers: Names of the layers to record (default: every layer with
            weights); the output layer is always recorded, last.
        **params: The other Network keys (optimizer, learning_rate,
            batch_size, epochs).

    Raises:
        ConfigError: The factory is not importable by name, or a key the
            factory decides (architecture, activation_fn, ...) is given.
    """

    def __init__(self, factory: Callable[..., Any] | str, layers: list[str] | None = None, **params: Any) -> None:
        if "model" in params:
            raise ConfigError("KerasNetwork has no parameter 'model'; its factory and layers make the model")
        spec = KerasModelSpec(factory_reference(factory), None if layers is None else tuple(layers))
        super().__init__(model=spec.spec, **params)
