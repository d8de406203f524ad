"""How a run is carried out (as opposed to what it computes, which is the config)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ibsim.errors import ConfigError
from ibsim.parallel import backend_name


@dataclass(frozen=True)
class RunOptions:
    """The options of a run that never change a number in its results: shared by
    :meth:`ibsim.Experiment.run`, :func:`ibsim.pipeline.runner.run_experiments`
    and ``ibsim run``.

    Attributes:
        data_dir: Folder of downloaded datasets (default: ``IBSIM_DATA_DIR`` or
            the user cache).
        backend: "auto" (MPI under an MPI launcher, joblib with ``jobs`` > 1,
            else serial), "serial", "joblib" or "mpi" (any registered backend).
        jobs: Workers of the joblib backend (default: all cores).
        quiet: Hide progress bars.
        resume: Continue interrupted runs of the same configs and outputs:
            finished groups and estimation units are kept, unfinished groups
            continue from their last checkpoint.
    """

    data_dir: str | Path | None = None
    backend: str = "auto"
    jobs: int | None = None
    quiet: bool = True
    resume: bool = False

    def __post_init__(self) -> None:
        backend_name(self.backend, self.jobs)  # an unknown backend is refused here
        if self.jobs is not None and (isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1):
            raise ConfigError(f"jobs must be a whole number >= 1, got {self.jobs!r}")

    @classmethod
    def from_kwargs(cls, options: "RunOptions | None" = None, **changes: Any) -> "RunOptions":
        """``options`` (default: the defaults) with ``changes`` applied; an
        unknown option is refused by name.

        Raises:
            ConfigError: A name that is not a run option, or a bad value.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ConfigError(f"unknown run option(s) {unknown}; valid: {', '.join(sorted(names))}")
        return dataclasses.replace(options or cls(), **changes)
