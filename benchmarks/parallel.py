"""Parallel benchmark: 2 workers against 1, for estimation and for a sweep.

Every case is a fresh ``python -m ibsim`` process (MPI needs one), timed from
outside, so start-up costs count alike on every side. "1 worker" is the serial
backend held to one thread (``IBSIM_THREADS=1``), the baseline a second worker
should halve; the serial backend with both cores is shown too.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def _timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    return time.perf_counter() - start


def _ibsim(*args: str) -> list[str]:
    return [sys.executable, "-m", "ibsim", *args]


def _cases(args: list[str]) -> dict[str, tuple[list[str], dict]]:
    cases = {
        "1 worker (serial, 1 thread)": (_ibsim(*args, "--backend", "serial"), {"IBSIM_THREADS": "1"}),
        "serial, 2 threads": (_ibsim(*args, "--backend", "serial"), {"IBSIM_THREADS": "2"}),
        "joblib, 2 workers": (_ibsim(*args, "--backend", "joblib", "--jobs", "2"), {}),
    }
    if MPIEXEC.exists():
        cases["MPI, 2 ranks"] = ([str(MPIEXEC), "-n", "2"] + _ibsim(*args), {})
    return cases


def estimation_rows(epochs: int = 400, runs: int = 6) -> list[tuple]:
    """``ibsim estimate`` with the KDE upper bound on a stored run."""
    with tempfile.TemporaryDirectory() as folder:
        stored = Path(folder) / "stored.nc"
        _timed(_ibsim("run", "configs/smoke.toml", "-o", str(stored), "-q", "--no-plots",
                      f"--set=epochs={epochs}", f"--set=n_runs={runs}"))
        rows, base = [], None
        for name, (command, env) in _cases(["estimate", str(stored), "-e", "kde_upper", "-q",
                                            "-o", str(Path(folder) / "out.nc")]).items():
            seconds = _timed(command, env)
            base = base or seconds
            rows.append((f"estimate kde_upper, {runs} runs x {epochs} epochs", name, f"{seconds:.1f}",
                         f"{base / seconds:.2f}x"))
    return rows


def sweep_rows(points: int = 8, epochs: int = 8000) -> list[tuple]:
    """A sweep of ``points`` small experiments: one run each of the Tishby net for
    ``epochs`` epochs (8000: the standard length), and the same sweep at 1 epoch,
    which measures the fixed cost of a command (start-up, TensorFlow's import
    and the first compilation, per process)."""
    with tempfile.TemporaryDirectory() as folder:
        sweep = Path(folder) / "sweep.toml"
        seeds = ", ".join(str(s) for s in range(points))
        sweep.write_text(
            f'dataset = "harmonics"\nepochs = {epochs}\nn_runs = 1\nsave_activations = false\n'
            f'plots = []\n\n[sweep]\nseed = [{seeds}]\n'
        )
        rows = []
        for length in (epochs, 1):
            base = None
            for name, (command, env) in _cases(["run", str(sweep), "-o", str(Path(folder) / "out"), "-q",
                                                f"--set=epochs={length}"]).items():
                if length == 1 and name == "serial, 2 threads":
                    continue
                seconds = _timed(command, env)
                base = base or seconds
                rows.append((f"sweep of {points} experiments x {length} epochs", name, f"{seconds:.1f}",
                             f"{base / seconds:.2f}x"))
    return rows
