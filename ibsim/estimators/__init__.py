"""Mutual-information estimators, registered by config name.

Adding an estimator is one file with an :class:`~ibsim.estimators.base.Estimator`
subclass decorated with ``@ESTIMATORS.register("name")`` and one import line here.
"""
from ibsim.estimators.base import (ESTIMATORS, Estimator, LayerBlocks, ParsedEstimator, input_groups, make_estimator,
                                   parse_estimator, resolve_spec)
from ibsim.estimators import binning, binning_adaptive, binning_range, binning_weighted, kde, knn  # noqa: F401
from ibsim.estimators import edge  # noqa: F401
from ibsim.estimators import renyi  # noqa: F401
from ibsim.estimators import sp  # noqa: F401
from ibsim.estimators import binning_entropy, kde_adaptive  # noqa: F401
from ibsim.estimators.binning import Binning
from ibsim.estimators.binning_adaptive import BinningAdaptive
from ibsim.estimators.binning_entropy import BinningEntropy
from ibsim.estimators.binning_range import BinningRange
from ibsim.estimators.binning_weighted import BinningWeighted
from ibsim.estimators.kde import KDELower, KDEUpper
from ibsim.estimators.kde_adaptive import KDELowerAdaptive, KDEUpperAdaptive
from ibsim.estimators.knn import KNN

__all__ = [
    "ESTIMATORS",
    "Estimator",
    "LayerBlocks",
    "ParsedEstimator",
    "Binning",
    "BinningAdaptive",
    "BinningEntropy",
    "BinningRange",
    "BinningWeighted",
    "KDELower",
    "KDELowerAdaptive",
    "KDEUpper",
    "KDEUpperAdaptive",
    "KNN",
    "input_groups",
    "make_estimator",
    "parse_estimator",
    "resolve_spec",
]
