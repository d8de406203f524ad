"""Names, units and descriptions of what a results file holds.

docs/results-format.md documents the same; analysis code depends on it, so
change both together and bump :data:`FORMAT_VERSION` when a change breaks
readers.
"""
from __future__ import annotations

import numpy as np

FORMAT_NAME = "ibsim-results"
#: The dimension of I_XT and I_TY in files that estimate several splits
#: (``calculate_mi_for = ["training", "test"]``); absent with one split.
MI_SPLIT_DIM = "mi_split"
FORMAT_VERSION = "1.2"  # 1.1: sample_split; I_XT/I_TY over mi_split when several splits are estimated
# 1.2: I_XT_se/I_TY_se, the standard errors of estimators that report one
#: Files whose ``format_version`` has this major number are readable; a minor
#: version only adds variables or attributes, so any ``1.x`` file reads.
FORMAT_MAJOR = int(FORMAT_VERSION.split(".")[0])

#: Variables other than the activation cubes: name → attributes.
VARIABLE_ATTRS: dict[str, dict[str, str]] = {
    "I_XT": {"long_name": "I(X;T)", "description": "mutual information of the input X and the layer T",
             "units": "bits"},
    "I_TY": {"long_name": "I(T;Y)", "description": "mutual information of the layer T and the label Y",
             "units": "bits"},
    "I_XT_se": {"long_name": "standard error of I(X;T)",
                "description": "standard error of I_XT as the estimator reports it (Monte Carlo estimators); "
                               "NaN for estimators that report none", "units": "bits"},
    "I_TY_se": {"long_name": "standard error of I(T;Y)",
                "description": "standard error of I_TY as the estimator reports it (Monte Carlo estimators); "
                               "NaN for estimators that report none", "units": "bits"},
    "loss": {"long_name": "categorical cross-entropy", "units": "nats"},
    "accuracy": {"long_name": "classification accuracy", "units": "1"},
    "activation_min": {"long_name": "smallest activation of the layer", "units": "1"},
    "activation_max": {"long_name": "largest activation of the layer", "units": "1"},
    "grad_mean": {"long_name": "norm of the mean gradient",
                  "description": "Frobenius norm of the mean over the epoch's mini-batches of dLoss/dW of the "
                                 "layer's weight matrix (the epoch ending at this one)", "units": "1"},
    "grad_std": {"long_name": "norm of the gradient's standard deviation",
                 "description": "Frobenius norm of the standard deviation over the epoch's mini-batches of "
                                "dLoss/dW of the layer's weight matrix", "units": "1"},
    "grad_snr": {"long_name": "gradient signal-to-noise ratio", "description": "grad_mean / grad_std",
                 "units": "1"},
    "weight_norm": {"long_name": "norm of the weights", "description": "Frobenius norm of the layer's weight "
                    "matrix at the recorded epoch", "units": "1"},
    "run_status": {"long_name": "how the run ended"},
    "stop_epoch": {"long_name": "last epoch the run was trained and recorded", "units": "epochs"},
    "y": {"long_name": "class label of the sample"},
    "input_group": {"long_name": "index of the sample's group of identical inputs"},
    "layer_width": {"long_name": "number of neurons of the layer"},
    "sample_split": {"long_name": "split the sample belongs to (0 training, 1 test)"},
    "epoch_loss": {"long_name": "categorical cross-entropy after every epoch", "units": "nats"},
    "epoch_accuracy": {"long_name": "classification accuracy after every epoch", "units": "1"},
}

#: The dimension of the metrics kept after every training epoch (0 .. epochs).
EVERY_EPOCH = "every_epoch"
RUN = "run"

#: ``run_status`` of each run (the file's flag values): the one list of run
#: status codes, used in training, the part folder, the file and every reader.
COMPLETED, EARLY_STOPPED, DIVERGED = 0, 1, 2
RUN_STATUS_MEANINGS = "completed early_stopped diverged"

#: Codes of ``sample_split``: which split each recorded sample belongs to.
SAMPLE_SPLIT_CODES = {"training": 0, "test": 1}

#: The standard error of each estimate: ``I_XT_se`` beside ``I_XT``, ``I_TY_se``
#: beside ``I_TY``, of the same dimensions. Optional (since 1.2): written when
#: an estimator of the file reports one (``Estimator.reports_error``), NaN
#: for the file's other estimators.
STANDARD_ERRORS: dict[str, str] = {"I_XT": "I_XT_se", "I_TY": "I_TY_se"}

#: Variables that gain the :data:`MI_SPLIT_DIM` dimension (last) when several splits are estimated.
SPLIT_VARIABLES = ("I_XT", "I_TY", *STANDARD_ERRORS.values())

#: Variables every results file of format 1.x has: ibsim wrote them from its
#: first version (``grad_*``, ``weight_norm`` and the activation cubes are optional).
REQUIRED_VARIABLES: tuple[str, ...] = (
    "I_XT", "I_TY", "loss", "accuracy", "activation_min", "activation_max", "run_status", "stop_epoch", "y",
    "input_group", "layer_width",
)

#: Dimensions of each variable in :data:`VARIABLE_ATTRS` (the activation cubes: :func:`activation_dims`).
VARIABLE_DIMS: dict[str, tuple[str, ...]] = {
    "I_XT": ("estimator", "run", "epoch", "layer"),
    "I_TY": ("estimator", "run", "epoch", "layer"),
    "I_XT_se": ("estimator", "run", "epoch", "layer"),
    "I_TY_se": ("estimator", "run", "epoch", "layer"),
    "loss": ("run", "epoch", "split"),
    "accuracy": ("run", "epoch", "split"),
    "activation_min": ("run", "epoch", "layer"),
    "activation_max": ("run", "epoch", "layer"),
    "grad_mean": ("run", "epoch", "layer"),
    "grad_std": ("run", "epoch", "layer"),
    "grad_snr": ("run", "epoch", "layer"),
    "weight_norm": ("run", "epoch", "layer"),
    "run_status": ("run",),
    "stop_epoch": ("run",),
    "y": ("sample",),
    "input_group": ("sample",),
    "layer_width": ("layer",),
    "sample_split": ("sample",),
    "epoch_loss": (RUN, EVERY_EPOCH, "split"),
    "epoch_accuracy": (RUN, EVERY_EPOCH, "split"),
}

#: Prefix of the activation cubes' names: ``activations_<k>`` for layer ``k`` (1-based).
ACTIVATIONS_PREFIX = "activations_"

COORD_ATTRS: dict[str, dict[str, str]] = {
    "run": {"long_name": "run index"},
    "epoch": {"long_name": "epoch (completed training epochs)", "units": "epochs"},
    "layer": {"long_name": "layer (1 = first hidden layer, last = softmax read-out)"},
    "sample": {"long_name": "index of the sample in the full dataset"},
    "split": {"long_name": "data split"},
    "estimator": {"long_name": "estimator and its parameters"},
    MI_SPLIT_DIM: {"long_name": "split the mutual information is estimated on"},
    EVERY_EPOCH: {"long_name": "epoch (every completed training epoch)", "units": "epochs"},
}


def activation_attrs(layer: int, readout: bool) -> dict[str, str]:
    """Attributes of the activation cube of ``layer`` (1-based)."""
    kind = "softmax read-out" if readout else "hidden layer"
    return {"long_name": f"activations of layer {layer} ({kind})", "units": "1", "layer": layer}


def stored_dtype_attrs(dtype: str) -> dict[str, str]:
    """The attributes that mark a cube stored as ``dtype`` (none for float32)."""
    if dtype == "float32":
        return {}
    return {STORED_DTYPE_ATTR: dtype,
            "comment": f"IEEE 754 {dtype} bit patterns stored as unsigned 16-bit integers (NetCDF has no {dtype} "
                       f"type): ibsim (Results.open) reads them as float32; with plain xarray or netCDF4 use "
                       f"values.view('{dtype}')"}


#: Attribute of an activation cube stored in another dtype than float32: its
#: value is the dtype (``"float16"``). NetCDF has no half-precision type, so a
#: float16 cube is stored as its IEEE 754 half-precision bit patterns in an
#: unsigned 16-bit variable (:func:`encode_activations`);
#: :func:`~ibsim.resultsfile.reader.open_dataset` decodes it to float32
#: (:func:`decode_activations`) and keeps the attribute. Absent: float32 (every
#: file before the attribute).
STORED_DTYPE_ATTR = "stored_dtype"
#: The NetCDF type of each stored dtype of the activation cubes.
STORED_TYPES = {"float32": "f4", "float16": "u2"}


def encode_activations(values: np.ndarray, dtype: str) -> np.ndarray:
    """Activations as stored in a cube of ``dtype`` (a key of :data:`STORED_TYPES`).

    float32: the values as float32; float16: ``np.float16(values)`` (round to
    nearest even; beyond 65504 in magnitude: inf) as its uint16 bit patterns.

    Raises:
        ValueError: ``dtype`` is not one of :data:`STORED_TYPES`.
    """
    if dtype == "float32":
        return np.asarray(values, dtype=np.float32)
    if dtype == "float16":
        return np.asarray(values, dtype=np.float32).astype(np.float16).view(np.uint16)
    raise ValueError(f"activation cubes are stored as {' or '.join(STORED_TYPES)}, not {dtype!r}")


def decode_activations(codes: np.ndarray) -> np.ndarray:
    """The float32 activations of the uint16 bit patterns of a float16 cube
    (the inverse of :func:`encode_activations` with ``"float16"``; exact)."""
    return np.asarray(codes, dtype=np.uint16).view(np.float16).astype(np.float32)


def stored_values(values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` as a cube of ``dtype`` gives them back (float32 for both dtypes).

    Rounding to float16 is monotone, so the extremes of a layer's stored
    activations are the stored extremes of its float32 ones.
    """
    encoded = encode_activations(values, dtype)
    return encoded if dtype == "float32" else decode_activations(encoded)


def activation_name(layer: int) -> str:
    """Name of the activation cube of ``layer`` (1-based): ``activations_<layer>``."""
    return f"{ACTIVATIONS_PREFIX}{layer}"


def activation_dims(layer: int) -> tuple[str, str, str, str]:
    """Dimensions of the activation cube of ``layer`` (1-based)."""
    return ("run", "epoch", "sample", f"neuron_{layer}")


def format_major(version: object) -> int | None:
    """The major number of a ``format_version`` attribute ("1.0" → 1), or None if it is not MAJOR.MINOR."""
    major, dot, minor = str(version).strip().partition(".")
    if not (major.isdigit() and dot and minor.isdigit()):
        return None
    return int(major)
