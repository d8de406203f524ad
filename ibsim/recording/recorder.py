"""The recorder of an experiment: which epochs, which split, what to keep."""
from __future__ import annotations

import numpy as np

from ibsim.component import Component
from ibsim.params import AnyOf, Boolean, Interval, ListOf, Options, Param
from ibsim.recording.schedules import record_epochs

SPLITS = ["training", "test", "full_dataset"]


class Recorder(Component):
    """Decides which epochs are recorded and on which split.

    At every recorded epoch the ensemble records each layer's activations on the
    ``calculate_mi_for`` split, loss and accuracy on the training and test
    splits, and (``record_gradients``) each layer's gradient statistics over the
    epoch's mini-batches and its weight norm.
    """

    PARAMS = {
        "calculate_mi_for": Param(
            Options(SPLITS, aliases={"train": "training", "full": "full_dataset", "full_data": "full_dataset"}),
            "full_dataset",
            "split whose activations are recorded and estimated: training, test or full_dataset",
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
        "record_gradients": Param(
            Boolean(), True,
            "record each layer's gradient mean, std and SNR over the mini-batches of the epochs that end "
            "in a recorded epoch, and the weight norms (the seed's SNR plot)",
        ),
    }

    def epochs(self, total_epochs: int) -> np.ndarray:
        """The epoch numbers recorded in a run of ``total_epochs`` epochs."""
        return record_epochs(self.record_schedule, total_epochs, self.record_points)
