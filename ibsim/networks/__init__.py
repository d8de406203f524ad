"""Networks: settings (:class:`Network`), activations, and the TensorFlow ensemble."""
from ibsim.networks.activations import ACTIVATIONS, SATURATION, numpy_activation
from ibsim.networks.network import KerasNetwork, Network

__all__ = ["ACTIVATIONS", "SATURATION", "KerasNetwork", "Network", "numpy_activation"]
