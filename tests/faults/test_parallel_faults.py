"""A worker or rank that dies stops the run; --resume finishes it."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ibsim import RunFailedError
from ibsim.config import load_configs
from ibsim.pipeline.runner import run_experiments
from tests.conftest import CONFIGS, REPO

SETTINGS = ["epochs=40", "n_runs=4", "group_size=1", "architecture=[5,3]"]
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def test_a_killed_joblib_worker_stops_the_run_and_resume_finishes(tmp_path, monkeypatch):
    config = load_configs(CONFIGS / "smoke.toml", SETTINGS)[0]
    out = tmp_path / "r.nc"
    monkeypatch.setenv("IBSIM_FAIL_UNIT", "kill:training group 2")
    with pytest.raises(RunFailedError, match="worker died"):
        run_experiments([config], [out], backend="joblib", jobs=2)
    assert not out.exists()
    monkeypatch.delenv("IBSIM_FAIL_UNIT")
    run_experiments([config], [out], backend="joblib", jobs=2, resume=True)
    whole = tmp_path / "whole.nc"
    run_experiments([config], [whole], backend="serial")
    for name in ("I_XT", "activations_1", "loss"):
        assert np.array_equal(xr.open_dataset(out)[name].values, xr.open_dataset(whole)[name].values)


@pytest.mark.mpi
def test_a_killed_rank_stops_every_rank_and_resume_finishes(tmp_path):
    if not MPIEXEC.exists():
        pytest.skip("mpiexec is not installed in this environment")
    out = tmp_path / "r.nc"
    command = [str(MPIEXEC), "-n", "2", sys.executable, "-m", "ibsim", "run", str(CONFIGS / "smoke.toml"),
               "-o", str(out), "-q", "--no-plots"] + [f"--set={s}" for s in SETTINGS]
    start = time.perf_counter()
    killed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=240,
                            env={**os.environ, "IBSIM_FAIL_UNIT": "kill:training group 1"})
    assert killed.returncode != 0 and time.perf_counter() - start < 120
    assert not out.exists()
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, cwd=REPO, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert xr.open_dataset(out).attrs["status"] == "completed"
