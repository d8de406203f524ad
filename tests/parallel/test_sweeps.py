"""Sweeps and folders of configs: one results file per experiment, one shared pool."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ibsim import ConfigError, Experiment
from ibsim.cli import main
from ibsim.config.sweep import load_configs
from ibsim.paths import point_name

BASE = """
dataset = "harmonics"
architecture = [5, 3]
epochs = 6
n_runs = 2
record_schedule = "every"
estimator = "binning"
"""


def _write(path, text):
    path.write_text(text)
    return path


def test_a_sweep_is_the_grid_of_its_values(tmp_path):
    path = _write(tmp_path / "grid.toml", BASE + '\n[sweep]\nactivation_fn = ["tanh", "relu"]\nlearning_rate = [0.001, 0.01]\n')
    configs = load_configs(path)
    assert [c.name for c in configs] == [
        "grid__activation_fn=tanh__learning_rate=0.001",
        "grid__activation_fn=tanh__learning_rate=0.01",
        "grid__activation_fn=relu__learning_rate=0.001",
        "grid__activation_fn=relu__learning_rate=0.01",
    ]
    assert {(c.activation_fn, c.learning_rate) for c in configs} == {
        ("tanh", 0.001), ("tanh", 0.01), ("relu", 0.001), ("relu", 0.01)
    }


def test_point_names_are_safe_file_names():
    assert point_name("c", {"architecture": [10, 7, 5], "estimator": "kde_upper(variance=0.001)"}) == \
        "c__architecture=10-7-5__estimator=kde_upper_variance=0.001"


def test_a_sweep_runs_as_one_pool_and_matches_each_point_alone(tmp_path):
    path = _write(tmp_path / "grid.toml", BASE + '\n[sweep]\nactivation_fn = ["tanh", "relu"]\n')
    out = tmp_path / "out"
    assert main(["run", str(path), "-o", str(out), "-q", "--backend", "joblib", "--jobs", "2"]) == 0
    files = sorted(p.name for p in out.glob("*.nc"))
    assert files == ["grid__activation_fn=relu.nc", "grid__activation_fn=tanh.nc"]
    assert (out / "grid__activation_fn=tanh_infoplane.png").exists()
    alone = Experiment.from_config(load_configs(path)[1]).run()  # relu, serially, in memory
    swept = xr.open_dataset(out / "grid__activation_fn=relu.nc")
    for name in ("I_XT", "I_TY", "loss", "activations_1"):
        assert np.array_equal(alone.dataset[name].values, swept[name].values, equal_nan=True)


def test_a_folder_runs_every_config_below_it(tmp_path):
    folder = tmp_path / "configs"
    (folder / "deeper").mkdir(parents=True)
    _write(folder / "a.toml", BASE)
    _write(folder / "deeper" / "b.toml", BASE + '\n[sweep]\nseed = [1, 2]\n')
    configs = load_configs(folder)
    assert [c.name for c in configs] == ["a", "b__seed=1", "b__seed=2"]
    assert main(["run", str(folder), "-o", str(tmp_path / "out"), "-q", "--no-plots"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.nc")) == ["a.nc", "b__seed=1.nc", "b__seed=2.nc"]


@pytest.mark.parametrize(
    "sweep,message",
    [
        ('activation = ["tanh"]', r"unknown config key 'activation'\. Did you mean 'activation_fn'"),
        ('activation_fn = "tanh"', "non-empty list"),
        ("epochs = [1, 2]", "set and swept at once"),
        ('activation_fn = ["tanh", "tanhh"]', "activation_fn"),
    ],
)
def test_bad_sweeps_are_named(tmp_path, sweep, message):
    path = _write(tmp_path / "bad.toml", BASE + f"\n[sweep]\n{sweep}\n")
    with pytest.raises(ConfigError, match=message):
        load_configs(path)


def test_set_cannot_override_a_swept_key(tmp_path):
    path = _write(tmp_path / "grid.toml", BASE + '\n[sweep]\nactivation_fn = ["tanh", "relu"]\n')
    with pytest.raises(ConfigError, match="swept key"):
        load_configs(path, ["activation_fn=elu"])
    assert all(c.epochs == 3 for c in load_configs(path, ["epochs=3"]))


def test_a_sweep_file_refuses_the_single_experiment_loader(tmp_path):
    path = _write(tmp_path / "grid.toml", BASE + '\n[sweep]\nseed = [1, 2]\n')
    with pytest.raises(ConfigError, match="several experiments"):
        Experiment.from_toml(path)


def test_a_seed_cohort_runs(tmp_path):
    """Cohort 7 (max-norm x activation), shortened."""
    from tests.conftest import CONFIGS

    out = tmp_path / "cohort_7"
    assert main(["run", str(CONFIGS / "cohorts" / "cohort_7.toml"), "-o", str(out), "-q", "--no-plots",
                 "--set", "epochs=2", "--set", "architecture=[5,3]"]) == 0
    files = sorted(p.stem for p in out.glob("*.nc"))
    assert len(files) == 6 and "cohort_7__activation_fn=relu__max_norm_weights=0.4" in files
    norms = xr.open_dataset(out / "cohort_7__activation_fn=relu__max_norm_weights=0.4.nc")["weight_norm"]
    norms = norms.sel(epoch=slice(1, None))  # epoch 0: the initial weights, before any step
    # after a step, the Frobenius norm of a layer with n neurons is at most sqrt(n) x 0.4
    widths = norms["layer"].copy(data=[5, 3, 2])
    assert bool((norms <= 0.4 * np.sqrt(widths) + 1e-6).all())
