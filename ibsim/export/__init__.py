"""Exports of results files to other tools (TensorBoard's embedding projector)."""
from ibsim.export.tensorboard import export_projector

__all__ = ["export_projector"]
