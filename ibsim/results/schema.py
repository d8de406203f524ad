"""Names, units and descriptions of what a results file holds.

docs/results-format.md documents the same; analysis code depends on it, so
change both together and bump :data:`FORMAT_VERSION` when a change breaks
readers.
"""
from __future__ import annotations

FORMAT_NAME = "ibsim-results"
FORMAT_VERSION = "1.0"

#: Variables other than the activation cubes: name → attributes.
VARIABLE_ATTRS: dict[str, dict[str, str]] = {
    "I_XT": {"long_name": "I(X;T)", "description": "mutual information of the input X and the layer T",
             "units": "bits"},
    "I_TY": {"long_name": "I(T;Y)", "description": "mutual information of the layer T and the label Y",
             "units": "bits"},
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
}

COORD_ATTRS: dict[str, dict[str, str]] = {
    "run": {"long_name": "run index"},
    "epoch": {"long_name": "epoch (completed training epochs)", "units": "epochs"},
    "layer": {"long_name": "layer (1 = first hidden layer, last = softmax read-out)"},
    "sample": {"long_name": "index of the sample in the full dataset"},
    "split": {"long_name": "data split"},
    "estimator": {"long_name": "estimator and its parameters"},
}


def activation_attrs(layer: int, readout: bool) -> dict[str, str]:
    """Attributes of the activation cube of ``layer`` (1-based)."""
    kind = "softmax read-out" if readout else "hidden layer"
    return {"long_name": f"activations of layer {layer} ({kind})", "units": "1", "layer": layer}
