"""Recording: which epochs, which split (:class:`Recorder`), and the schedules."""
from ibsim.recording.recorder import Recorder
from ibsim.recording.schedules import record_epochs

__all__ = ["Recorder", "record_epochs"]
