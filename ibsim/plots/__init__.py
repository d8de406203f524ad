"""Plots of results files, registered by name (``ibsim plot --kind NAME``).

Adding a plot is one file with a :class:`~ibsim.plots.base.Plot` subclass
decorated with ``@PLOTS.register("name")`` and one import line here.
"""
from ibsim.plots.base import PLOTS, Plot, make_plot
from ibsim.plots import infoplane  # noqa: F401  (registers)
from ibsim.plots import movie  # noqa: F401  (registers)
from ibsim.plots import activations  # noqa: F401  (registers)
from ibsim.plots import single_neuron  # noqa: F401  (registers)
from ibsim.plots import snr  # noqa: F401  (registers)
from ibsim.plots import accuracy  # noqa: F401  (registers)

__all__ = ["PLOTS", "Plot", "make_plot"]
