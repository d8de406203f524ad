"""Networks: settings (:class:`Network`), activations, and the TensorFlow ensemble."""
from ibsim.networks.activations import ACTIVATIONS, SATURATION, numpy_activation
from ibsim.networks.network import Network

__all__ = ["ACTIVATIONS", "SATURATION", "Network", "numpy_activation"]
