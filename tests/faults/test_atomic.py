"""No half-written file: a results file appears complete or not at all."""
from __future__ import annotations

import json

import netCDF4
import numpy as np
import pytest
import xarray as xr

from ibsim.config.sweep import load_configs
from ibsim.errors import DiskFullError, RunFailedError
from ibsim.pipeline import assemble
from ibsim.pipeline.runner import run_experiments
from tests.conftest import CONFIGS

SETTINGS = ["epochs=30", "n_runs=2", "group_size=1", "architecture=[5,3]", "save_activations=true"]


def _config(*extra: str):
    return load_configs(CONFIGS / "smoke.toml", [*SETTINGS, *extra])[0]


def _disk_full_half_way(monkeypatch):
    """Make writing the activation cubes fail after some slabs, as a full disk would."""
    real = assemble._cube_filler

    def filler(*args):
        fill = real(*args)

        def failing(variable):
            variable[0, 0, :, :] = 0.0  # something written to the temporary file
            raise OSError(28, "No space left on device")

        return failing if args[2] == 1 else fill

    monkeypatch.setattr(assemble, "_cube_filler", filler)


def test_a_write_that_fails_half_way_leaves_no_file(tmp_path, monkeypatch):
    out = tmp_path / "r.nc"
    _disk_full_half_way(monkeypatch)
    with pytest.raises(DiskFullError, match=f"^disk full while writing {out}; to finish, this run needs about"):
        run_experiments([_config()], [out], backend="serial")
    assert not out.exists()
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["r.nc.parts"]  # no hidden temporary file either
    record = json.loads((tmp_path / "r.nc.parts" / "run.json").read_text())
    assert record["status"] == "failed" and "disk full while writing" in record["error"]


def test_resume_after_a_failed_write_trains_nothing_again(tmp_path, monkeypatch):
    out = tmp_path / "r.nc"
    _disk_full_half_way(monkeypatch)
    with pytest.raises(DiskFullError):
        run_experiments([_config()], [out], backend="serial")
    parts = tmp_path / "r.nc.parts"
    monkeypatch.undo()
    from ibsim.pipeline import training

    def no_training(*args, **kwargs):
        raise AssertionError("a completed group was trained again")

    monkeypatch.setattr(training.GroupTraining, "__init__", no_training)
    run_experiments([_config()], [out], backend="serial", resume=True)
    monkeypatch.undo()
    with netCDF4.Dataset(out) as nc:
        assert nc.getncattr("status") == "completed"
    whole = tmp_path / "whole.nc"
    run_experiments([_config()], [whole], backend="serial")
    a, b = xr.open_dataset(out), xr.open_dataset(whole)
    for name in a.data_vars:
        assert np.array_equal(a[name].values, b[name].values, equal_nan=True), name
    assert not parts.exists()


def test_a_failed_run_keeps_the_previous_file(tmp_path, monkeypatch):
    out = tmp_path / "r.nc"
    run_experiments([_config()], [out], backend="serial")
    before = out.read_bytes()
    monkeypatch.setenv("IBSIM_FAIL_UNIT", "training group 1")
    with pytest.raises(RunFailedError, match="training group 1"):
        run_experiments([_config("learning_rate=0.01")], [out], backend="serial")
    assert out.read_bytes() == before


def test_a_completed_file_says_so(tmp_path):
    out = tmp_path / "r.nc"
    run_experiments([_config()], [out], backend="serial")
    assert xr.open_dataset(out).attrs["status"] == "completed"
