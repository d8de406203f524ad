"""Shared fixtures: the read-only datasets folder, small configs, temp outputs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def shared_datasets() -> Path | None:
    """The read-only shared datasets folder (``../shared/datasets`` beside the
    repository, or ``$IBSIM_SHARED_DATASETS``), or None when absent."""
    candidates = [os.environ.get("IBSIM_SHARED_DATASETS"), REPO.parent / "shared" / "datasets"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def shared_data() -> Path:
    path = shared_datasets()
    if path is None:
        pytest.skip("the shared datasets folder (../shared/datasets) is not available")
    return path


@pytest.fixture(autouse=True)
def _quiet_tensorflow(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
