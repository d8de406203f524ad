"""Backends that map work units over cores (joblib) and nodes (MPI).

Every unit is a pure function of (config, unit), so the backend and the number
of workers never change a number in the output.
"""
from ibsim.errors import ConfigError
from ibsim.parallel.base import Backend, balanced_owners, run_unit
from ibsim.parallel.serial import SerialBackend

BACKENDS = ("auto", "serial", "joblib", "mpi")


def make_backend(name: str = "auto", jobs: int | None = None) -> Backend:
    """The backend called ``name``; "auto" is MPI when launched by an MPI launcher
    with several ranks, joblib when ``jobs`` > 1 is asked for, serial otherwise."""
    from ibsim.parallel.mpi_backend import launched_by_mpi

    if name == "auto":
        name = "mpi" if launched_by_mpi() else ("joblib" if jobs and jobs > 1 else "serial")
    if name == "serial":
        return SerialBackend()
    if name == "joblib":
        from ibsim.parallel.joblib_backend import JoblibBackend

        return JoblibBackend(jobs)
    if name == "mpi":
        from ibsim.parallel.mpi_backend import MPIBackend

        return MPIBackend()
    raise ConfigError(f"unknown backend '{name}'; valid: {', '.join(BACKENDS)}")


__all__ = ["Backend", "SerialBackend", "make_backend", "BACKENDS", "balanced_owners", "run_unit"]
