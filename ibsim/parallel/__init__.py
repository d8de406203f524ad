"""Backends that map work units over cores (joblib) and nodes (MPI).

Every unit is a pure function of (config, unit), so the backend and the number
of workers never change a number in the output. Adding a backend is one file
with a :class:`~ibsim.parallel.base.Backend` subclass decorated with
``@BACKENDS.register("name")`` and one import line here.
"""
from ibsim.parallel.base import (BACKENDS, Backend, backend_name, balanced_owners, launched_by_mpi, make_backend,
                                 run_unit)
from ibsim.parallel import joblib_backend, mpi_backend, serial  # noqa: F401  (registers)
from ibsim.parallel.serial import SerialBackend

__all__ = ["BACKENDS", "Backend", "SerialBackend", "backend_name", "balanced_owners", "launched_by_mpi",
           "make_backend", "run_unit"]
