"""The recorder of an experiment: which epochs, which split, what to keep."""
from __future__ import annotations

import numpy as np

from ibsim.component import Component
from ibsim.params import AnyOf, Boolean, Interval, ListOf, Options, Param, Predicate
from ibsim.recording.schedules import record_epochs

SPLITS = ["training", "test", "full_dataset"]
#: How conv and pooling layers are recorded: every position and channel, or one
#: summary value per channel (the mean or the maximum over the positions).
CONV_RECORDINGS = ["full", "channel_mean", "channel_max"]
#: The dtypes the activation cubes of a results file can be stored in
#: (``activation_dtype``). The estimates of a run are always made from its
#: float32 activations; float16 only changes what the file keeps.
ACTIVATION_DTYPES = ["float32", "float16"]
#: The lossless compressors of the activation cubes (``activation_compressor``):
#: zstd (fast, the default) or zlib (readable by every netCDF-4 tool).
ACTIVATION_COMPRESSORS = ["zstd", "zlib"]
_SPLIT = Options(SPLITS, aliases={"train": "training", "full": "full_dataset", "full_data": "full_dataset"})


def _splits_value(value: object) -> str | list[str]:
    """One split name, or a list of distinct ones (a list of one is that name)."""
    chosen = AnyOf(_SPLIT, ListOf(_SPLIT, min_len=1, unique=True)).coerce(value)
    return chosen[0] if isinstance(chosen, list) and len(chosen) == 1 else chosen


def mi_splits(calculate_mi_for: str | list[str]) -> tuple[str, ...]:
    """The splits estimated, in the config's order."""
    return (calculate_mi_for,) if isinstance(calculate_mi_for, str) else tuple(calculate_mi_for)


def recorded_split(calculate_mi_for: str | list[str]) -> str:
    """The split whose activations are recorded: the one estimated, or the full
    dataset (the union) when several are."""
    splits = mi_splits(calculate_mi_for)
    return splits[0] if len(splits) == 1 else "full_dataset"


class Recorder(Component):
    """Decides which epochs are recorded and on which split.

    At every recorded epoch the ensemble records each layer's activations on the
    ``calculate_mi_for`` split, loss and accuracy on the training and test
    splits, and (``record_gradients``) each layer's gradient statistics over the
    epoch's mini-batches and its weight norm.
    """

    PARAMS = {
        "calculate_mi_for": Param(
            Predicate(_splits_value, "one of 'training', 'test', 'full_dataset' or a list of them"),
            "full_dataset",
            "split(s) whose activations are estimated: training, test or full_dataset, or a list of them, e.g. "
            "[\"training\", \"test\"] (the networks are trained once; the activations are recorded on the "
            "union and every estimate gets a split dimension)",
        ),
        "record_schedule": Param(
            AnyOf(Options(["every", "seed", "log"]), ListOf(Interval(int, 0, None), min_len=1, unique=True)),
            "seed",
            "every, seed (every epoch < 20, every 5th < 100, every 20th < 2000, every 100th after), "
            "log, or a list of epochs",
        ),
        "record_points": Param(Interval(int, 2, None), 100, "number of points of the log schedule"),
        "save_activations": Param(
            Boolean(), True, "keep the activation cubes in the results file (for re-estimation and plots)"
        ),
        "activation_dtype": Param(
            Options(ACTIVATION_DTYPES), "float32",
            "dtype of the activation cubes in the results file: float32, or float16 (half the size; rounded "
            "with numpy's float16; the run's own estimates still come from its float32 activations, bit for "
            "bit, but ibsim estimate on the file estimates from the rounded values and says so)",
        ),
        "activation_compressor": Param(
            Options(ACTIVATION_COMPRESSORS), "zstd",
            "lossless compressor of the activation cubes in the results file: zstd (about 7x faster to "
            "write than zlib, files about 8 % larger; read by netCDF4-python's wheels and by netCDF-C >= 4.9 "
            "with its zstd plugin) or zlib after HDF5's byte shuffle (every netCDF-4 reader) "
            "(docs/performance.md, File size)",
        ),
        "activation_compression_level": Param(
            Interval(int, 0, 9), 1,
            "level of activation_compressor for the activation cubes, 0 for none (uncompressed); zlib level "
            "1 takes float32 tanh activations to about 0.85 of their size, higher levels gain ~1 %",
        ),
        "record_gradients": Param(
            Boolean(), True,
            "record each layer's gradient mean, std and SNR over the mini-batches of the epochs that end "
            "in a recorded epoch, and the weight norms (the seed's SNR plot)",
        ),
        "conv_recording": Param(
            Options(CONV_RECORDINGS), "full",
            "how conv and pooling layers are recorded: full (every position and channel, H*W*C neurons in "
            "Keras' flattening order), channel_mean or channel_max (one neuron per channel: the mean or the "
            "maximum over the positions; C neurons, far less to store and estimate); dense layers and the "
            "read-out are always recorded in full",
        ),
    }

    def epochs(self, total_epochs: int) -> np.ndarray:
        """The epoch numbers recorded in a run of ``total_epochs`` epochs."""
        return record_epochs(self.record_schedule, total_epochs, self.record_points)
