"""Plug-ins: the `plugins` config key, entry points, and the example of
docs/extending.md (docs/examples/my_plugin.py) in every backend and command."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ibsim import Experiment
from ibsim.cli import main
from ibsim.config import Config
from ibsim.datasets import DATASETS
from ibsim.errors import ConfigError
from ibsim.estimators import ESTIMATORS
from ibsim.plots import PLOTS
from ibsim.results import Results
from tests.conftest import REPO

EXAMPLES = REPO / "docs" / "examples"
CONFIG = """plugins = ["my_plugin"]
dataset = "two_blobs(n=120)"
architecture = [4, 3]
epochs = 3
batch_size = 32
n_runs = 2
group_size = 1
save_activations = true
estimator = ["binning(bin_size=0.1)", "label_entropy"]
plots = ["final_accuracy"]
"""


@pytest.fixture
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLES) + ":" + str(REPO))  # joblib workers


@pytest.fixture(scope="module")
def plugin_files(tmp_path_factory):
    """A results file of the example plug-in run serially and with two joblib workers."""
    folder = tmp_path_factory.mktemp("plugin")
    patch = pytest.MonkeyPatch()
    patch.syspath_prepend(str(EXAMPLES))
    patch.setenv("PYTHONPATH", str(EXAMPLES) + ":" + str(REPO))
    (folder / "exp.toml").write_text(CONFIG)
    config = Config.from_toml(folder / "exp.toml")
    serial, joblib = folder / "serial.nc", folder / "joblib.nc"
    Experiment(config=config).run(serial, backend="serial", quiet=True).close()
    Experiment(config=config).run(joblib, backend="joblib", jobs=2, quiet=True).close()
    yield serial, joblib
    patch.undo()


def test_the_plugins_key_runs_the_example_bitwise_equal_under_joblib(plugin_files):
    serial, joblib = plugin_files
    one, two = xr.open_dataset(serial), xr.open_dataset(joblib)
    assert "label_entropy" in [str(e) for e in one["estimator"].values]
    for name in one.data_vars:
        assert np.array_equal(one[name].values, two[name].values, equal_nan=True), name


def test_own_estimator_and_plot_on_the_command_line(plugin_files, examples_on_path, tmp_path):
    serial, _ = plugin_files
    out, image = tmp_path / "more.nc", tmp_path / "final.png"
    assert main(["estimate", str(serial), "-e", "label_entropy", "-o", str(out), "-q"]) == 0
    assert main(["plot", str(out), "--kind", "final_accuracy", "-o", str(image)]) == 0
    assert image.stat().st_size > 0


def test_a_module_that_cannot_be_imported_is_named():
    with pytest.raises(ConfigError, match="config key 'plugins': cannot import module 'no_such_plugin_x': "
                                          "ModuleNotFoundError"):
        Config.from_dict({"plugins": ["no_such_plugin_x"]})
    with pytest.raises(ConfigError, match="is not a module name"):
        Config.from_dict({"plugins": ["not a module"]})


def test_a_stored_config_does_not_import_its_plugins(tmp_path, monkeypatch):
    module = tmp_path / "stored_only_plugin.py"
    module.write_text("raise RuntimeError('imported by a file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = {"plugins": ["stored_only_plugin"], "dataset": "stored_only_blobs"}
    with pytest.raises(ConfigError, match="plug-in module.*stored_only_plugin.*import them first") as error:
        Config.from_dict(data, import_plugins=False)
    assert "unknown dataset 'stored_only_blobs'" in str(error.value)
    assert "stored_only_plugin" not in sys.modules
    with pytest.raises(ConfigError, match="cannot import module 'stored_only_plugin': RuntimeError"):
        Config.from_dict(data)  # a config of one's own imports it


def test_results_config_does_not_import_plugins(plugin_files, tmp_path, monkeypatch):
    serial, _ = plugin_files
    imported = []
    monkeypatch.setattr("importlib.import_module", lambda name, *a: imported.append(name))
    with Results.open(serial) as results:
        results.dataset.attrs["config"] = results.dataset.attrs["config"].replace(
            '"my_plugin"', '"never_imported_plugin"').replace("two_blobs", "unregistered_blobs")
        with pytest.raises(ConfigError, match="never_imported_plugin, which a config read back from a file does "
                                              "not import by itself"):
            results.config
    assert imported == []


def write_distribution(folder: Path, name: str, entry_points: str) -> None:
    info = folder / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def fresh_registries(monkeypatch):
    for registry in (DATASETS, ESTIMATORS, PLOTS):
        monkeypatch.setattr(registry, "_plugins_loaded", False)


def test_entry_points_load_on_first_lookup(tmp_path, monkeypatch, fresh_registries):
    (tmp_path / "ep_plugin_mod.py").write_text(
        "from ibsim.estimators import ESTIMATORS\n"
        "from my_plugin import LabelEntropy\n"
        "@ESTIMATORS.register('ep_label_entropy')\n"
        "class EPLabelEntropy(LabelEntropy):\n"
        "    name = 'ep_label_entropy'\n"
    )
    write_distribution(tmp_path, "ep_plugin_dist", "[ibsim.estimators]\nep_label_entropy = ep_plugin_mod\n")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "ep_label_entropy" in ESTIMATORS.names()
    assert "ep_plugin_mod" in sys.modules


def test_a_failing_entry_point_names_itself_and_its_distribution(tmp_path, monkeypatch, fresh_registries):
    write_distribution(tmp_path, "broken_ibsim_plugin", "[ibsim.plots]\nbroken = no_such_module_y:Plot\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"plot plug-in entry point 'broken = no_such_module_y:Plot' \(group "
                                          r"ibsim.plots\) of broken_ibsim_plugin failed to load: "
                                          "ModuleNotFoundError"):
        PLOTS.get("infoplane")
