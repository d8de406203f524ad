"""Compiled kernels of ibsim (private: call them through ibsim.estimators.kernels).

OpenMP threads here wait passively (they sleep as soon as a parallel region
ends) unless the user set ``OMP_WAIT_POLICY``: spinning threads took the cores
from the work around them, and on a shared, busy 2-core machine a 2-thread
recording of the main job's group took 25 ms against 4.2 ms passive
(December 2026). libgomp reads the variable once, when the first kernel loads,
which is after this package's ``__init__``.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
