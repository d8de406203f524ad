"""Sizes are checked by arithmetic before anything is allocated: a config of a
billion runs or a trillion epochs is refused in well under a second with the
numbers, with or without --dry-run, and values that validate but cannot train
are refused before anything is written."""
from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from ibsim.cli import main
from ibsim.config import Config
from ibsim.pipeline.plan import make_plan, plan_shape
from ibsim.recording.schedules import count_recorded, record_epochs
from tests.conftest import CONFIGS, REPO

HOSTILE = {
    "a billion runs": ["n_runs=1000000000"],
    "a billion runs, no cubes": ["n_runs=1000000000", "save_activations=false"],
    "a trillion epochs": ["epochs=1000000000000"],
    "every one of a billion epochs": ["epochs=1000000000", 'record_schedule="every"'],
    "a trillion log points": ["epochs=1000000000000", 'record_schedule="log"', "record_points=1000000000000"],
    "one group of a million runs": ["n_runs=1000000", "group_size=1000000", "save_activations=false"],
    "a million deferred units": ["n_runs=100000", "group_size=1", 'estimator="binning_adaptive(scope=\\"layer\\")"',
                                 "save_activations=false"],
}


@pytest.mark.parametrize("dry", [False, True])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_huge_configs_are_refused_at_once_with_the_numbers(case, dry, tmp_path, capsys):
    args = ["run", str(CONFIGS / "smoke.toml"), "-o", str(tmp_path / "x.nc"), "-q", "--no-plots"]
    args += [f"--set={s}" for s in HOSTILE[case]] + (["--dry-run"] if dry else [])
    main(args[:2] + ["--dry-run", "--set=epochs=2"])  # load the data and warm the imports first
    capsys.readouterr()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        status = main(args)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert "this run needs about" in err[0] and "GB" in err[0]
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert peak < 100 * 2**20, f"allocated {peak / 2**20:.0f} MB"
    assert list(tmp_path.iterdir()) == []


def test_under_a_memory_limit_the_refusal_is_clean():
    """In a process that cannot map more than 3 GB, the hostile configs are
    refused with the message (an attempt to build them would die of MemoryError)."""
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))\n"
        "from ibsim.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for case, settings in HOSTILE.items():
        result = subprocess.run(
            [sys.executable, "-c", script, "run", str(CONFIGS / "smoke.toml"), "-q", "--dry-run",
             *[f"--set={s}" for s in settings]], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, (case, result.stderr[-2000:])
        assert "this run needs about" in result.stderr and "Traceback" not in result.stderr, case


@pytest.mark.parametrize("settings, message", [
    (["batch_size=5000"], "config key 'batch_size' = 5000 is larger than the training split"),
    (["train_fraction=0.99999"], "train_fraction"),
    (["calculate_mi_for=\"test\"", "train_fraction=0.9999"], "train_fraction"),
])
@pytest.mark.parametrize("dry", [False, True])
def test_values_that_cannot_train_are_refused_before_anything_is_written(settings, message, dry, tmp_path, capsys):
    args = ["run", str(CONFIGS / "smoke.toml"), "-o", str(tmp_path / "x.nc"), "-q", "--no-plots"]
    assert main(args + [f"--set={s}" for s in settings] + (["--dry-run"] if dry else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("schedule", ["every", "seed", "log", [0, 3, 3, 17, 10**6]])
def test_recorded_epochs_are_counted_without_building_the_schedule(schedule):
    for epochs in [1, 2, 5, 19, 20, 21, 99, 100, 101, 1999, 2000, 2001, 2099, 2100, 8000, 12345]:
        for points in ([2, 7, 100, 5000] if schedule == "log" else [100]):
            exact = len(record_epochs(schedule, epochs, points))
            counted = count_recorded(schedule, epochs, points)
            if schedule == "log":
                assert exact <= counted <= points + 2
            else:
                assert counted == exact, (schedule, epochs)


def test_the_log_schedule_of_more_points_than_epochs_is_every_epoch():
    assert np.array_equal(record_epochs("log", 50, 10**12), np.arange(51))


@pytest.mark.parametrize("settings", [
    {"n_runs": 7, "group_size": 3}, {"n_runs": 4, "runs": [1, 3]},
    {"n_runs": 5, "group_size": 2, "estimator": ["binning", "binning_adaptive(scope=\"layer\")"], "epochs": 150},
])
def test_the_plan_shape_is_the_plans(settings):
    config = Config.from_dict(settings)
    plan, shape = make_plan(config), plan_shape(config)
    assert shape.n_runs == len(plan.runs) and shape.n_groups == len(plan.groups)
    assert shape.largest_group == max(len(g.runs) for g in plan.groups)
    assert shape.n_recorded == len(plan.epochs)
    assert shape.n_estimation_units == len(plan.estimation_units) and shape.needs_parts == plan.needs_parts
