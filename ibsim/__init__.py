"""ibsim: information-plane studies of deep networks.

Train ensembles of networks, record every layer over training and estimate
I(X;T) and I(T;Y) with compiled estimators::

    from ibsim import Experiment
    results = Experiment.from_toml("configs/smoke.toml").run()
    results.plot_infoplane("infoplane.png")

Results files open with plain xarray too; ``import ibsim`` adds the ``ds.ibsim``
accessor (``ds.ibsim.infoplane()``, ``ds.ibsim.compression()``,
``ds.ibsim.mean_over_runs("I_XT")``, ``ds.ibsim.config``).

TensorFlow is imported only when training starts.
"""
from ibsim.catalog import Catalog
from ibsim.config import Config
from ibsim.datasets import Dataset
from ibsim.errors import (
    ConfigError,
    DataError,
    EstimatorError,
    IbsimError,
    OutputError,
    ResultsFileError,
    RunFailedError,
)
from ibsim.experiment import Experiment
from ibsim.networks.network import KerasNetwork, Network
from ibsim.recording.recorder import Recorder
from ibsim.results import Results
from ibsim import accessor as _accessor  # noqa: F401  (registers ds.ibsim on xarray Datasets)


def open_results(path: str) -> Results:
    """Open a results file (lazily); see :class:`Results`."""
    return Results.open(path)


__all__ = [
    "Catalog",
    "Config",
    "ConfigError",
    "DataError",
    "Dataset",
    "EstimatorError",
    "Experiment",
    "IbsimError",
    "KerasNetwork",
    "OutputError",
    "Network",
    "Recorder",
    "Results",
    "ResultsFileError",
    "RunFailedError",
    "open_results",
]
