"""Analyses beyond training runs: numeric studies reproducing the seed's notebooks."""
from ibsim.analysis.minimal_model import minimal_model, plot_minimal_model
from ibsim.analysis.weighted_binning import plot_weighted_binning, seed_notebook, seed_spread, weighted_edges

__all__ = [
    "minimal_model",
    "plot_minimal_model",
    "plot_weighted_binning",
    "seed_notebook",
    "seed_spread",
    "weighted_edges",
]
