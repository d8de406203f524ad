"""Backends: the same numbers whatever runs the units; failures stop everything."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ibsim import Experiment, RunFailedError
from ibsim.parallel import balanced_owners, make_backend
from tests.conftest import CONFIGS

SMALL = ["epochs=12", "n_runs=5", "group_size=2", "architecture=[6,4]",
         'estimator=["binning", "kde_upper(variance=0.07)", "binning_adaptive(scope=\\"layer\\")"]']
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def _same_data(a: Path, b: Path) -> None:
    one, two = xr.open_dataset(a), xr.open_dataset(b)
    assert set(one.data_vars) == set(two.data_vars)
    for name in one.data_vars:
        assert np.array_equal(one[name].values, two[name].values, equal_nan=True), name


@pytest.fixture(scope="module")
def serial_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("serial") / "serial.nc"
    Experiment.from_toml(CONFIGS / "smoke.toml", SMALL).run(path, backend="serial").close()
    return path


def test_joblib_writes_the_same_numbers(serial_file, tmp_path):
    path = tmp_path / "joblib.nc"
    results = Experiment.from_toml(CONFIGS / "smoke.toml", SMALL).run(path, backend="joblib", jobs=2)
    assert results.dataset.attrs["backend"].startswith("joblib (2 workers")
    results.close()
    _same_data(serial_file, path)


def _mpi(ranks: int, args: list[str], cwd: Path, env: dict | None = None, timeout: int = 240):
    if not MPIEXEC.exists():
        pytest.skip("mpiexec is not installed in this environment")
    return subprocess.run(
        [str(MPIEXEC), "-n", str(ranks), sys.executable, "-m", "ibsim", *args],
        capture_output=True, text=True, cwd=cwd, timeout=timeout, env={**os.environ, **(env or {})},
    )


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_mpi_writes_the_same_numbers(serial_file, tmp_path, ranks):
    out = tmp_path / f"mpi{ranks}.nc"
    done = _mpi(ranks, ["run", str(CONFIGS / "smoke.toml"), "-o", str(out), "-q", "--no-plots"]
                + [f"--set={s}" for s in SMALL], tmp_path)
    assert done.returncode == 0, done.stderr
    assert xr.open_dataset(out).attrs["backend"] == f"mpi ({ranks} ranks x 1 threads)"
    _same_data(serial_file, out)


@pytest.mark.mpi
def test_mpi_estimate_matches_serial(serial_file, tmp_path):
    copy = tmp_path / "copy.nc"
    shutil.copy(serial_file, copy)
    serial_out, mpi_out = tmp_path / "serial_est.nc", tmp_path / "mpi_est.nc"
    from ibsim.pipeline.reestimate import estimate_file

    estimate_file(copy, "kde_lower", serial_out, backend="serial")
    done = _mpi(2, ["estimate", str(copy), "-e", "kde_lower", "-o", str(mpi_out), "-q"], tmp_path)
    assert done.returncode == 0, done.stderr
    _same_data(serial_out, mpi_out)


def test_a_failing_unit_is_named_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("IBSIM_FAIL_UNIT", "training group 1")
    out = tmp_path / "never.nc"
    with pytest.raises(RunFailedError, match=r"failed on training group 1 \(runs 2-3\) of experiment 'smoke'"):
        Experiment.from_toml(CONFIGS / "smoke.toml", SMALL).run(out, backend="joblib", jobs=2)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".nc"]


@pytest.mark.mpi
def test_a_failing_rank_stops_every_rank(tmp_path):
    out = tmp_path / "never.nc"
    start = time.perf_counter()
    done = _mpi(2, ["run", str(CONFIGS / "smoke.toml"), "-o", str(out), "-q", "--set=epochs=300",
                    "--set=n_runs=4", "--set=group_size=1"], tmp_path, env={"IBSIM_FAIL_UNIT": "training group 1"})
    elapsed = time.perf_counter() - start
    assert done.returncode != 0
    assert "MPI rank 1 failed on training group 1 (run 1) of experiment 'smoke'" in done.stderr
    assert "injected failure" in done.stderr
    assert not out.exists()
    assert elapsed < 60  # rank 0 was still busy with 300 epochs of its own: it was stopped, not awaited


def test_balanced_owners_is_deterministic_and_balanced():
    costs = [5, 1, 1, 1, 1, 1, 4, 2, 2]
    owners = balanced_owners(costs, 3)
    assert owners == balanced_owners(costs, 3)
    loads = [sum(c for c, o in zip(costs, owners) if o == w) for w in range(3)]
    assert max(loads) - min(loads) <= 1
    assert balanced_owners([1, 1], 5) == [0, 1]  # extra workers stay idle


def test_auto_backend_is_serial_outside_mpi(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(name, raising=False)
    assert make_backend("auto").name == "serial"
    assert make_backend("auto", jobs=2).name == "joblib"
