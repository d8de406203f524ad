"""Runs that survive kill -9: resume from checkpoints, bitwise identical files."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ibsim import OutputError
from ibsim.cli import main
from tests.conftest import CONFIGS, REPO

# 2 groups of 2 runs; group 1 checkpoints every 100 epochs while group 0 is long done (6000
# epochs: the compiled trainer does 1500 of this net in well under a second, too fast to be killed)
EPOCHS = 6000
SETTINGS = [f"epochs={EPOCHS}", "n_runs=4", "group_size=2", "checkpoint_every=100", "architecture=[6,4]",
            'estimator=["binning", "binning_adaptive(scope=\\"layer\\")"]']
ARGS = [f"--set={s}" for s in SETTINGS]


def _command(output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ibsim", "run", str(CONFIGS / "smoke.toml"), "-o", str(output), "-q",
            "--no-plots", *ARGS, *extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    path = tmp_path_factory.mktemp("whole") / "whole.nc"
    assert subprocess.run(_command(path), cwd=REPO, capture_output=True).returncode == 0
    return path


def _kill_during_group_1(output: Path) -> Path:
    parts = output.with_name(output.name + ".parts")
    process = subprocess.Popen(_command(output), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    checkpoint = parts / "group_00001" / "checkpoint.npz"
    while time.time() < deadline and process.poll() is None:
        if checkpoint.exists() and (parts / "group_00000" / "summary.npz").exists():
            time.sleep(0.3)  # a few more checkpoints
            break
        time.sleep(0.1)
    assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read()}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return parts


def test_killed_run_resumes_bitwise_identical(uninterrupted, tmp_path):
    output = tmp_path / "killed.nc"
    parts = _kill_during_group_1(output)
    assert not output.exists()  # nothing that looks complete
    assert (parts / "run.json").exists()
    done_before = (parts / "group_00000" / "summary.npz").stat().st_mtime_ns
    with np.load(parts / "group_00001" / "checkpoint.npz", allow_pickle=False) as checkpoint:
        assert 0 < json.loads(str(checkpoint["meta"]))["epoch"] < EPOCHS

    resumed = subprocess.run(_command(output, "--resume"), cwd=REPO, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    a, b = xr.open_dataset(uninterrupted), xr.open_dataset(output)
    for name in a.data_vars:
        assert np.array_equal(a[name].values, b[name].values, equal_nan=True), name
    assert not parts.exists()
    # group 0 was complete at the kill and was not trained again
    assert "group_00000" not in os.listdir(tmp_path)  # the part folder is gone after success
    assert done_before > 0


def test_resume_keeps_completed_groups(tmp_path):
    output = tmp_path / "killed.nc"
    parts = _kill_during_group_1(output)
    summary = parts / "group_00000" / "summary.npz"
    stamp = summary.stat().st_mtime_ns
    os.environ["IBSIM_FAIL_UNIT"] = "training group 1"  # stop right after group 0 would be redone
    try:
        status = main(["run", str(CONFIGS / "smoke.toml"), "-o", str(output), "-q", "--no-plots", "--resume", *ARGS,
                       "--backend", "serial"])
    finally:
        del os.environ["IBSIM_FAIL_UNIT"]
    assert status == 2
    assert summary.stat().st_mtime_ns == stamp  # group 0 was kept, not recomputed
    record = (parts / "run.json").read_text()
    assert '"status": "failed"' in record and "injected failure" in record


def test_resume_with_another_config_is_refused(tmp_path):
    output = tmp_path / "killed.nc"
    _kill_during_group_1(output)
    with pytest.raises(OutputError, match="different config"):
        from ibsim.config import load_configs
        from ibsim.pipeline.runner import run_experiments

        config = load_configs(CONFIGS / "smoke.toml", SETTINGS + ["seed=5"])[0]
        run_experiments([config], [output], resume=True, backend="serial")


def test_a_fresh_run_clears_an_interrupted_one(tmp_path, capsys):
    output = tmp_path / "killed.nc"
    parts = _kill_during_group_1(output)
    assert main(["run", str(CONFIGS / "smoke.toml"), "-o", str(output), "--no-plots", *ARGS,
                 "--set=epochs=3", "--backend", "serial", "-q"]) == 0
    assert "removing" not in capsys.readouterr().err  # quiet
    assert output.exists() and not parts.exists()


def test_a_live_run_is_not_disturbed(tmp_path):
    output = tmp_path / "busy.nc"
    parts = output.with_name(output.name + ".parts")
    process = subprocess.Popen(_command(output), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (parts / "run.json").exists() and time.time() < deadline:
            time.sleep(0.1)
        with pytest.raises(OutputError, match="another ibsim run"):
            from ibsim.config import load_configs
            from ibsim.pipeline.runner import run_experiments

            run_experiments(load_configs(CONFIGS / "smoke.toml", SETTINGS), [output], backend="serial")
    finally:
        process.kill()
        process.wait()
