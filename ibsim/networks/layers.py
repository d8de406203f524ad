"""The layers of a built-in network: what ``architecture`` may list, and the shapes that follow.

This module is the one owner of a built-in network's layer arithmetic: the
entries ``architecture`` accepts (and their canonical text), the rules of their
order, each layer's output shape on an input shape, and so "the recorded layer
widths of a config on a dataset" (:func:`recorded_widths`), its parameter
count and its multiply-adds. It imports no TensorFlow.

Entries (the syntax of the other component specs, :mod:`ibsim.spec`):

- ``120`` (or ``"dense(units=120)"``): a dense layer of 120 units with the
  network's ``activation_fn``;
- ``"conv2d(filters=8, kernel_size=5, strides=1, padding=\\"valid\\")"``: a 2-D
  convolution (Keras' ``Conv2D``, channels last) with ``activation_fn``;
  ``kernel_size`` and ``strides`` are an int or ``[rows, columns]``; padding
  ``"valid"`` or ``"same"``;
- ``"maxpool2d(pool_size=2)"``, ``"avgpool2d(pool_size=2)"``: pooling
  (``strides`` defaults to ``pool_size``, padding to ``"valid"``);
- ``"flatten"``: conv/pool outputs (H, W, C) to a vector of H*W*C, row-major
  with the channel last (Keras' ``Flatten``);
- ``"dropout(rate=0.2)"``: Keras' ``Dropout`` (training only).

The rules are Keras': conv and pooling layers come first and take the dataset's
images (H, W, C); ``"flatten"`` must follow them before any dense layer (it is
never inserted implicitly) and before the read-out, and nothing spatial comes
after it. Recorded layers are the conv, pooling and dense layers and the
softmax read-out; ``flatten`` (a copy of its input) and ``dropout`` (the
identity when recording) are not recorded.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

from ibsim.errors import ConfigError
from ibsim.params import AnyOf, Constant, Interval, Options, Param, Predicate, validate_params
from ibsim.registry import did_you_mean
from ibsim.spec import format_spec, parse_spec

PADDINGS = ["valid", "same"]
_REQUIRED = None  # default of a layer parameter that must be given


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _pair(value: Any) -> int | list[int]:
    """An int >= 1 or two of them ([rows, columns]); canonical: an int when both are equal."""
    if _is_int(value) and value >= 1:
        return int(value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_int(v) and v >= 1 for v in value):
        rows, columns = (int(v) for v in value)
        return rows if rows == columns else [rows, columns]
    raise ValueError


_SIZE = Predicate(_pair, "an int >= 1 or a list [rows, columns] of them")
_POOL = {
    "pool_size": Param(_SIZE, 2, "window size"),
    "strides": Param(AnyOf(Constant(None), _SIZE), None, "step (default: pool_size)"),
    "padding": Param(Options(PADDINGS), "valid", "valid or same"),
}
#: Each layer kind and its parameters (a parameter whose default is None must be given).
LAYER_PARAMS: dict[str, dict[str, Param]] = {
    "dense": {"units": Param(Interval(int, 1, None), _REQUIRED, "units")},
    "conv2d": {
        "filters": Param(Interval(int, 1, None), _REQUIRED, "output channels"),
        "kernel_size": Param(_SIZE, _REQUIRED, "window size"),
        "strides": Param(_SIZE, 1, "step"),
        "padding": Param(Options(PADDINGS), "valid", "valid or same"),
    },
    "maxpool2d": _POOL,
    "avgpool2d": _POOL,
    "flatten": {},
    "dropout": {"rate": Param(Interval(float, 0, 1, "left"), _REQUIRED, "share of units dropped in training")},
}
SPATIAL = ("conv2d", "maxpool2d", "avgpool2d")
RECORDED = ("dense", "conv2d", "maxpool2d", "avgpool2d")


def _as_pair(value: int | list[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


@dataclass(frozen=True)
class Layer:
    """One parsed ``architecture`` entry (the read-out is not one).

    Attributes:
        kind: dense, conv2d, maxpool2d, avgpool2d, flatten or dropout.
        params: Its complete parameters (canonical values; a pool's strides resolved).
    """

    kind: str
    params: tuple[tuple[str, Any], ...]

    def __getitem__(self, key: str) -> Any:
        return dict(self.params)[key]

    @property
    def entry(self) -> int | str:
        """The canonical ``architecture`` entry: an int for a dense layer, else the spec text."""
        return self["units"] if self.kind == "dense" else format_spec(self.kind, dict(self.params))

    @property
    def spatial(self) -> bool:
        """A conv or pooling layer (images in, images out)."""
        return self.kind in SPATIAL

    @property
    def recorded(self) -> bool:
        """Whether the layer's output is recorded (conv, pooling and dense layers)."""
        return self.kind in RECORDED

    @property
    def window(self) -> tuple[int, int]:
        """The kernel or pool window (rows, columns) of a spatial layer."""
        return _as_pair(self["kernel_size"] if self.kind == "conv2d" else self["pool_size"])

    @property
    def strides(self) -> tuple[int, int]:
        """The strides (rows, columns) of a spatial layer."""
        return _as_pair(self["strides"])

    def padding_amounts(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Zeros (before, after) added to the rows and the columns of an
        ``height`` x ``width`` input, as Keras pads (none for "valid"; for
        "same", ``max((out - 1) * stride + window - in, 0)`` split with the
        smaller half before)."""
        if self["padding"] == "valid":
            return (0, 0), (0, 0)
        amounts = []
        for size, window, stride in zip((height, width), self.window, self.strides):
            total = max((-(-size // stride) - 1) * stride + window - size, 0)
            amounts.append((total // 2, total - total // 2))
        return amounts[0], amounts[1]

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape on inputs of ``shape`` ((H, W, C) for spatial layers).

        Raises:
            ConfigError: The input is too small for the window.
        """
        if self.kind == "dense":
            return (self["units"],)
        if self.kind == "flatten":
            return (math.prod(shape),)
        if self.kind == "dropout":
            return shape
        height, width, channels = shape
        (top, bottom), (left, right) = self.padding_amounts(height, width)
        (rows, columns), (s_rows, s_columns) = self.window, self.strides
        if height + top + bottom < rows or width + left + right < columns:
            raise ConfigError(f"{self.entry} gets {height}x{width}x{channels} inputs, smaller than its "
                              f"{rows}x{columns} window")
        out_height = (height + top + bottom - rows) // s_rows + 1
        out_width = (width + left + right - columns) // s_columns + 1
        return (out_height, out_width, self["filters"] if self.kind == "conv2d" else channels)

    def weights(self, shape: tuple[int, ...]) -> int:
        """Weights and biases of the layer on inputs of ``shape``."""
        if self.kind == "dense":
            return math.prod(shape) * self["units"] + self["units"]
        if self.kind == "conv2d":
            rows, columns = self.window
            return rows * columns * shape[-1] * self["filters"] + self["filters"]
        return 0


def parse_layer(entry: Any) -> Layer:
    """One ``architecture`` entry as a :class:`Layer` (any accepted spelling).

    Raises:
        ConfigError: An unknown layer, parameter or value, or a missing parameter.
    """
    if _is_int(entry):
        entry = f"dense(units={int(entry)})"
    if not isinstance(entry, str):
        raise ConfigError(f"{entry!r} is neither a width nor a layer spec")
    kind, given = parse_spec(entry)
    if kind not in LAYER_PARAMS:
        raise ConfigError(f"unknown layer {kind!r}; valid: {', '.join(LAYER_PARAMS)}."
                          + did_you_mean(kind, list(LAYER_PARAMS)))
    params = validate_params(f"layer '{kind}'", LAYER_PARAMS[kind], given)
    missing = [name for name, value in params.items() if value is None and name != "strides"]
    if missing:
        example = {"dense": "dense(units=120)", "conv2d": "conv2d(filters=8, kernel_size=5)",
                   "dropout": "dropout(rate=0.2)"}[kind]
        raise ConfigError(f"layer '{kind}' needs '{missing[0]}', e.g. {example}")
    if kind in ("maxpool2d", "avgpool2d") and params["strides"] is None:
        params["strides"] = params["pool_size"]
    return Layer(kind, tuple(params.items()))


def parse_architecture(architecture: Sequence[Any]) -> list[Layer]:
    """The layers of an ``architecture`` list, checked for Keras' order rules.

    Raises:
        ConfigError: Naming the entry (1-based) and what is wrong with it.
    """
    if isinstance(architecture, (str, bytes)) or not isinstance(architecture, (list, tuple)) or not architecture:
        raise ConfigError("expected a non-empty list of widths and layer specs")
    layers = []
    spatial = flat = False  # seen a conv/pool layer; seen flatten or a dense layer after them or alone
    for number, entry in enumerate(architecture, start=1):
        try:
            layer = parse_layer(entry)
        except ConfigError as error:
            raise ConfigError(f"entry {number} ({entry!r}): {error}") from None
        where = f"entry {number} ({layer.entry!r})"
        if layer.spatial and flat:
            raise ConfigError(f"{where}: conv and pooling layers must come before 'flatten' and the dense layers")
        if layer.kind == "flatten" and (not spatial or flat):
            raise ConfigError(f"{where}: 'flatten' must follow a conv or pooling layer (dense layers take the "
                              "flat inputs as they are), once")
        if layer.kind == "dense" and spatial and not flat:
            raise ConfigError(f"{where}: a dense layer after conv or pooling layers needs \"flatten\" before it "
                              "(as in Keras; ibsim does not insert it)")
        spatial = spatial or layer.spatial
        flat = flat or layer.kind in ("flatten", "dense")
        layers.append(layer)
    if spatial and not flat:
        raise ConfigError("the softmax read-out is a dense layer: end the conv and pooling layers with \"flatten\"")
    if not any(layer.recorded for layer in layers):
        raise ConfigError("the network needs a hidden layer (a width, conv2d or pooling layer), not only "
                          "flatten and dropout")
    return layers


def canonical_architecture(value: Any) -> list[int | str]:
    """The ``architecture`` constraint: the canonical entries (ints for dense
    layers, complete spec texts for the others), or ValueError with the entry
    and the reason (appended to the config error)."""
    try:
        return [layer.entry for layer in parse_architecture(value)]
    except ConfigError as error:
        text = str(error)
        raise ValueError(f" {text[:1].upper()}{text[1:]}{'' if text.endswith('.') else '.'}") from None


ARCHITECTURE = Predicate(
    canonical_architecture,
    "a non-empty list of layers: widths (ints, dense layers) or layer specs such as "
    "\"conv2d(filters=8, kernel_size=5)\", \"maxpool2d(pool_size=2)\", \"avgpool2d(pool_size=2)\", "
    "\"flatten\", \"dropout(rate=0.2)\"",
)


def uses_images(architecture: Sequence[Any]) -> bool:
    """Whether the network takes images (it has conv or pooling layers)."""
    return any(parse_layer(entry).spatial for entry in architecture)


def has_layer_specs(architecture: Sequence[Any]) -> bool:
    """Whether the architecture lists anything but dense widths (conv,
    pooling, flatten or dropout layers): such networks train with a loop over
    the runs inside the compiled epoch (:mod:`ibsim.networks.ensemble`)."""
    return any(not _is_int(entry) for entry in architecture)


def input_shape(architecture: Sequence[Any], n_features: int, image_shape: tuple[int, int, int] | None,
                dataset: str = "the dataset") -> tuple[int, ...]:
    """The shape of one network input: the dataset's image shape (H, W, C) for
    a network with conv or pooling layers, else ``(n_features,)``.

    Raises:
        ConfigError: A conv net on a dataset that declares no image shape, or
            layers whose windows do not fit the images.
    """
    if not uses_images(architecture):
        return (int(n_features),)
    if image_shape is None:
        raise ConfigError(
            f"conv2d and pooling layers need images, but {dataset} declares no image shape (its samples are "
            "vectors); use an image dataset (digits: 8x8x1, mnist, fashion_mnist: 28x28x1; your own data as "
            "images (n, H, W[, C]) or with image_shape=[H, W, C]) or dense widths only"
        )
    layer_shapes(parse_architecture(architecture), tuple(image_shape))
    return tuple(int(d) for d in image_shape)


def layer_shapes(layers: Sequence[Layer], shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The output shape of every layer on inputs of ``shape``.

    Raises:
        ConfigError: A window does not fit its input (naming the entry).
    """
    shapes = []
    for number, layer in enumerate(layers, start=1):
        if layer.kind == "dense" and len(shape) > 1:
            shape = (math.prod(shape),)  # a dense net on images: the flat pixels
        try:
            shape = layer.output_shape(shape)
        except ConfigError as error:
            raise ConfigError(f"entry {number}: {error}") from None
        shapes.append(shape)
    return shapes


@dataclass(frozen=True)
class RecordedLayer:
    """One recorded layer: its name (``conv2d_1``, ``maxpool2d_1``,
    ``dense_1``, ..., ``readout``), its output shape and its recorded width."""

    name: str
    shape: tuple[int, ...]
    width: int


def recorded_layers(architecture: Sequence[Any], shape: tuple[int, ...], n_classes: int,
                    conv_recording: str = "full") -> list[RecordedLayer]:
    """The recorded layers of a network on inputs of ``shape``, the read-out last.

    A conv or pooling layer of output (H, W, C) records H*W*C neurons (Keras'
    flattening order: row, column, channel) with ``conv_recording = "full"``,
    C (one summary per channel) otherwise.
    """
    layers = parse_architecture(architecture)
    counts: dict[str, int] = {}
    found = []
    for layer, out in zip(layers, layer_shapes(layers, shape)):
        if not layer.recorded:
            continue
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
        width = out[-1] if layer.spatial and conv_recording != "full" else math.prod(out)
        found.append(RecordedLayer(f"{layer.kind}_{counts[layer.kind]}", out, width))
    return found + [RecordedLayer("readout", (n_classes,), n_classes)]


def recorded_widths(architecture: Sequence[Any], shape: tuple[int, ...], n_classes: int,
                    conv_recording: str = "full") -> list[int]:
    """The width of every recorded layer (neurons per sample), the read-out last.

    Args:
        architecture: The config's ``architecture``.
        shape: The network's input shape (:func:`input_shape`).
        n_classes: Classes (the read-out's width).
        conv_recording: The Recorder's ``conv_recording``.
    """
    return [layer.width for layer in recorded_layers(architecture, shape, n_classes, conv_recording)]


def layer_io(architecture: Sequence[Any], shape: tuple[int, ...],
             n_classes: int) -> list[tuple[Layer, tuple[int, ...], tuple[int, ...]]]:
    """(layer, its input shape, its output shape) of every layer, the dense
    read-out of ``n_classes`` units last, on network inputs of ``shape``."""
    layers = parse_architecture(architecture) + [parse_layer(n_classes)]
    outputs = layer_shapes(layers, shape)
    return list(zip(layers, [tuple(shape)] + outputs[:-1], outputs))


def parameter_count(architecture: Sequence[Any], shape: tuple[int, ...], n_classes: int) -> int:
    """Weights and biases of one run on inputs of ``shape``, read-out included."""
    return sum(layer.weights(inputs) for layer, inputs, _ in layer_io(architecture, shape, n_classes))


def multiply_adds(architecture: Sequence[Any], shape: tuple[int, ...], n_classes: int) -> int:
    """Multiply-adds of one forward pass of one sample (the cost of training)."""
    total = 0
    for layer, inputs, out in layer_io(architecture, shape, n_classes):
        if layer.kind == "dense":
            total += math.prod(inputs) * layer["units"]
        elif layer.spatial:
            total += math.prod(out) * math.prod(layer.window) * (inputs[-1] if layer.kind == "conv2d" else 1)
    return total
