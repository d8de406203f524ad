"""The exceptions ibsim raises on purpose.

Every error a user can cause derives from :class:`IbsimError`, so the CLI can
print one clear line for it (and the traceback only with ``--debug`` or
``IBSIM_FULL_ERROR=1``), while a bug in ibsim still shows its traceback.
"""
from __future__ import annotations


class IbsimError(Exception):
    """Base class of the errors that a user's input or environment can cause."""


class ConfigError(IbsimError, ValueError):
    """A configuration key is unknown, has the wrong type or is out of range."""


class DataError(IbsimError):
    """A data file is missing, corrupt or unreadable."""


class EstimatorError(IbsimError, ValueError):
    """An estimator was given inputs it cannot estimate from (NaN, bad shapes)."""


class ResultsFileError(IbsimError):
    """A results file is not an ibsim NetCDF file, or is truncated or incomplete."""


class OutputError(IbsimError):
    """The output cannot be written (folder not writable, held by another run)."""


class DiskFullError(OutputError):
    """The disk filled up while ibsim was writing; says where and what to do."""


class PartFolderError(OutputError):
    """A part folder (``<output>.parts``) or a file in it is not what ibsim wrote
    there: foreign, damaged, or of another config. Nothing in it is removed."""


class RunFailedError(IbsimError):
    """A training or estimation unit failed; names the unit and the cause."""


class NoFiniteRunError(IbsimError):
    """A plot has nothing to draw: every run diverged, or every value it would show is NaN."""


class ElsewhereError(IbsimError):
    """Another process (MPI rank 0) failed and reports it; this one stops quietly."""
