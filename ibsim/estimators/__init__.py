"""Mutual-information estimators, registered by config name.

Adding an estimator is one file with an :class:`~ibsim.estimators.base.Estimator`
subclass decorated with ``@ESTIMATORS.register("name")`` and one import line here.
"""
from ibsim.estimators.base import ESTIMATORS, Estimator, LayerBlocks, input_groups, make_estimator, resolve_spec
from ibsim.estimators import binning  # noqa: F401  (registers)
from ibsim.estimators.binning import Binning

__all__ = [
    "ESTIMATORS",
    "Estimator",
    "LayerBlocks",
    "Binning",
    "input_groups",
    "make_estimator",
    "resolve_spec",
]
