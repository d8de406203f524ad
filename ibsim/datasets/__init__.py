"""Datasets, registered by the seed's names.

Adding a dataset is one file with a :class:`~ibsim.datasets.base.Dataset`
subclass decorated with ``@DATASETS.register("name")`` and one import line here.
"""
from ibsim.datasets.base import DATASETS, Dataset, DataSplits, RawData, Split
from ibsim.datasets import digits, harmonics, harmonics_generator, mnist, mushroom, own  # noqa: F401  (registers)
from ibsim.datasets.harmonics import Harmonics, share_by_ones
from ibsim.datasets.harmonics_generator import HarmonicsGenerated, generate_harmonics
from ibsim.datasets.digits import Digits
from ibsim.datasets.mnist import MNIST, FashionMNIST
from ibsim.datasets.mushroom import Mushroom
from ibsim.datasets.own import ArraysDataset, FileDataset, arrays_sha256, check_arrays

__all__ = [
    "DATASETS",
    "ArraysDataset",
    "FileDataset",
    "arrays_sha256",
    "check_arrays",
    "Dataset",
    "DataSplits",
    "RawData",
    "Split",
    "Digits",
    "FashionMNIST",
    "Harmonics",
    "MNIST",
    "Mushroom",
    "HarmonicsGenerated",
    "generate_harmonics",
    "share_by_ones",
]
