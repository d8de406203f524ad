"""Runs that cannot fit the disk or the memory are refused before any work."""
from __future__ import annotations


from ibsim.cli import main
from ibsim.pipeline import budget
from tests.conftest import CONFIGS


def test_a_run_too_large_for_any_disk_is_refused(tmp_path, capsys):
    status = main(["run", str(CONFIGS / "smoke.toml"), "-o", str(tmp_path / "r.nc"), "--set", "n_runs=100000",
                   "--set", 'record_schedule="every"', "--set", "epochs=8000"])
    err = capsys.readouterr().err
    assert status == 2
    assert "of disk in" in err and "GB are free" in err and "save_activations = false" in err
    assert list(tmp_path.iterdir()) == []


def test_disk_check_counts_parts_and_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(budget, "free_disk_bytes", lambda path: 10 * 2**20)  # 10 MB free
    status = main(["run", str(CONFIGS / "smoke.toml"), "-o", str(tmp_path / "r.nc"), "--set", "epochs=20"])
    err = capsys.readouterr().err
    assert status == 2 and "recorded activations" in err and "results files" in err
    assert not (tmp_path / "r.nc.parts").exists()


def test_memory_check(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(budget, "available_memory_bytes", lambda: 100 * 2**20)  # 100 MB available
    status = main(["run", str(CONFIGS / "smoke.toml"), "-o", str(tmp_path / "r.nc"), "--set", "epochs=2"])
    err = capsys.readouterr().err
    assert status == 2 and "of memory per worker" in err and "--jobs" in err


def test_estimates_are_on_the_safe_side(tmp_path):
    """The estimate of the file covers the file actually written."""
    from ibsim import Experiment
    from ibsim.pipeline.data import experiment_data
    from ibsim.pipeline.plan import make_plan, plan_shape

    experiment = Experiment.from_toml(CONFIGS / "smoke.toml", ["epochs=30"])
    out = tmp_path / "r.nc"
    experiment.run(out).close()
    config = experiment.config
    data = experiment_data(config)
    need = budget.estimate(config, plan_shape(config), 4096, 12, 2, 4096)
    assert out.stat().st_size <= need.file_bytes
    assert need.part_bytes == 3 * len(make_plan(config).epochs) * 4096 * 31 * 4
    assert data.recorded.X.shape == (4096, 12)


def test_dry_run_prints_the_plan_and_trains_nothing(tmp_path, capsys):
    assert main(["run", str(CONFIGS / "cohorts" / "cohort_2.toml"), "-o", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("training unit") == 6 and "GB" in out or "MB" in out
    assert list(tmp_path.iterdir()) == []


def test_memory_does_not_grow_with_recorded_epochs(tmp_path):
    """Recorded epochs stream to disk: 4x the epochs, the same peak of Python memory."""
    import tracemalloc

    from ibsim import Experiment

    peaks, cubes = [], []
    for epochs in (40, 160):
        experiment = Experiment.from_toml(CONFIGS / "smoke.toml", [f"epochs={epochs}", 'record_schedule="every"'])
        out = tmp_path / f"r{epochs}.nc"
        tracemalloc.start()
        experiment.run(out).close()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        cubes.append(epochs * 4096 * 31 * 4)  # float32 activations of the 3 layers
    assert cubes[1] - cubes[0] > 50 * 2**20
    assert peaks[1] - peaks[0] < 0.1 * (cubes[1] - cubes[0]), (peaks, cubes)
