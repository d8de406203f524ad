"""Datasets, registered by the seed's names.

Adding a dataset is one file with a :class:`~ibsim.datasets.base.Dataset`
subclass decorated with ``@DATASETS.register("name")`` and one import line here.
"""
from ibsim.datasets.base import DATASETS, Dataset, DataSplits, RawData, Split
from ibsim.datasets import harmonics, harmonics_generator  # noqa: F401  (registers)
from ibsim.datasets.harmonics import Harmonics, share_by_ones
from ibsim.datasets.harmonics_generator import HarmonicsGenerated, generate_harmonics

__all__ = [
    "DATASETS",
    "Dataset",
    "DataSplits",
    "RawData",
    "Split",
    "Harmonics",
    "HarmonicsGenerated",
    "generate_harmonics",
    "share_by_ones",
]
