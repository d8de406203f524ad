"""Results files: writing, reading and the :class:`Results` wrapper."""
from ibsim.resultsfile.reader import open_dataset
from ibsim.results.results import Results

__all__ = ["Results", "open_dataset"]
