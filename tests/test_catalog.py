"""The experiment catalog: listing, querying and loading a folder of results files."""
from __future__ import annotations

import argparse
import math
import os
import shutil

import netCDF4
import numpy as np
import pytest
import xarray as xr

from ibsim import Catalog, ConfigError, Experiment, Results, ResultsFileError
from ibsim.catalog import format_config
from ibsim.catalog.cli import add_ls_command, command_ls
from ibsim.catalog.entry import final_accuracy
from ibsim.catalog.query import value_matches, value_text
from ibsim.catalog.table import BASE_COLUMNS, DEFAULT_KEYS, format_table
from tests.conftest import CONFIGS

TINY = ["epochs=3", "n_runs=1", "architecture=[4,3]", "save_activations=false"]

# the listing is sorted by relative path; entries are found by id or by their relative path
JUNK, RELU, TANH, TANH_LR = "junk.nc", "relu/relu.nc", "tanh/tanh.nc", "tanh/tanh_lr.nc"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three tiny experiments in subfolders, a junk file and temporary files to skip."""
    root = tmp_path_factory.mktemp("catalog")
    runs = {
        "relu/relu.nc": ["name=relu_a", "activation_fn=relu"],
        "tanh/tanh.nc": ["name=tanh_a", "activation_fn=tanh"],
        "tanh/tanh_lr.nc": ["name=tanh_lr", "activation_fn=tanh", "learning_rate=0.001", "n_runs=2", "epochs=4"],
    }
    for relative, overrides in runs.items():
        Experiment.from_toml(CONFIGS / "smoke.toml", [*TINY, *overrides]).run(root / relative)
    (root / "junk.nc").write_bytes(b"this is not a NetCDF file\n" * 10)
    (root / "tanh" / ".tanh.nc.12345.tmp").write_bytes(b"partial")
    (root / ".hidden.nc").write_bytes(b"partial")
    parts = root / "something.nc.parts" / "group_00000"
    parts.mkdir(parents=True)
    shutil.copyfile(root / "relu" / "relu.nc", parts / "copy.nc")
    return root


@pytest.fixture(scope="module")
def catalog(folder):
    return Catalog(folder)


def ls(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ibsim")
    commands = parser.add_subparsers(dest="command", required=True)
    add_ls_command(commands)
    args = parser.parse_args(["ls", *argv])
    assert args.handler is command_ls
    return args.handler(args)


# ------------------------------------------------------------------ listing
def test_listing(catalog, folder):
    assert len(catalog) == 4
    assert len(set(catalog.ids)) == 4 and all(len(i) == 12 and int(i, 16) >= 0 for i in catalog.ids)
    assert catalog.names == ["junk", "relu_a", "tanh_a", "tanh_lr"]
    assert [e.relpath.as_posix() for e in catalog] == ["junk.nc", "relu/relu.nc", "tanh/tanh.nc", "tanh/tanh_lr.nc"]
    assert [e.status for e in catalog] == ["unreadable", "completed", "completed", "completed"]
    junk = catalog[JUNK]
    assert not junk.readable and "not a readable NetCDF file" in junk.error and "junk.nc" in junk.error
    assert junk.config == {} and junk.n_runs == 0 and math.isnan(junk.final_test_accuracy)
    assert Catalog(folder).ids == catalog.ids  # stable
    assert "4 experiments (3 completed, 1 unreadable)" in repr(catalog)


def test_entry_summary(catalog):
    relu, lr = catalog[RELU], catalog[TANH_LR]
    assert relu.name == "relu_a" and relu.config["activation_fn"] == "relu" and relu.config["architecture"] == [4, 3]
    assert relu.n_runs == 1 and relu.n_epochs == 4 and lr.n_runs == 2 and lr.n_epochs == 5
    assert relu.estimators == ("binning(bin_size=0.07)",)
    assert relu.created and relu.created.startswith("20")
    with xr.open_dataset(relu.path) as ds:
        test = float(ds["accuracy"].sel(split="test").isel(epoch=-1).mean())
        train = float(ds["accuracy"].sel(split="training").isel(epoch=-1).mean())
    assert relu.final_test_accuracy == pytest.approx(test) and relu.final_train_accuracy == pytest.approx(train)


def test_final_accuracy_takes_each_runs_last_finite_epoch():
    values = np.array([[0.5, 0.6, np.nan], [0.7, np.nan, np.nan]])
    assert final_accuracy(values) == pytest.approx(0.65)
    assert math.isnan(final_accuracy(np.full((2, 3), np.nan)))


def test_incomplete_file_is_unreadable(folder, tmp_path):
    shutil.copyfile(folder / "relu" / "relu.nc", tmp_path / "a.nc")
    with netCDF4.Dataset(tmp_path / "a.nc", "a") as nc:
        nc.status = "running"
    (tmp_path / "b.nc").write_bytes((folder / "relu" / "relu.nc").read_bytes()[:3000])  # truncated
    entries = list(Catalog(tmp_path))
    assert [e.status for e in entries] == ["unreadable", "unreadable"]
    assert "incomplete" in entries[0].error and "b.nc" in entries[1].error


def test_table(catalog):
    table = catalog.table()
    assert list(table.columns) == [*BASE_COLUMNS, *DEFAULT_KEYS]
    assert list(table["id"]) == catalog.ids
    assert list(table["status"]) == ["unreadable", "completed", "completed", "completed"]
    table.index = catalog.relpaths
    assert table.loc[RELU, "architecture"] == "[4, 3]" and table.loc[RELU, "activation_fn"] == "relu"
    assert table.loc[TANH_LR, "learning_rate"] == 0.001 and table.loc[TANH_LR, "n_runs"] == 2
    assert table.loc[TANH_LR, "epochs"] == 4 and table.loc[RELU, "estimators"] == "binning(bin_size=0.07)"
    assert 0 <= table.loc[RELU, "final_test_accuracy"] <= 1
    assert list(catalog.table(["seed", "batch_size"]).columns)[-2:] == ["seed", "batch_size"]
    with pytest.raises(ConfigError, match="Did you mean 'batch_size'"):
        catalog.table(["batch_sise"])
    text = format_table(table)
    assert text.splitlines()[0].split()[:2] == ["id", "name"] and len(text.splitlines()) == 5


# ------------------------------------------------------------------ queries
def test_find_by_name(catalog):
    assert catalog.find(name="tanh").relpaths == [TANH, TANH_LR]
    assert catalog.find(name="^relu").relpaths == [RELU]
    assert catalog.find(name="_lr$").relpaths == [TANH_LR]
    assert catalog.find(name="junk").relpaths == [JUNK]  # an unreadable file is named after its file
    assert len(catalog.find(name="nothing")) == 0
    with pytest.raises(ConfigError, match="invalid name pattern"):
        catalog.find(name="(")


def test_find_by_config_value(catalog):
    assert catalog.find(activation_fn="relu").relpaths == [RELU]
    assert catalog.find(activation_fn="tanh").relpaths == [TANH, TANH_LR]
    assert catalog.find(learning_rate=0.0004).relpaths == [RELU, TANH]
    assert catalog.find(learning_rate="0.001").relpaths == [TANH_LR]
    assert catalog.find(architecture=[4, 3]).relpaths == [RELU, TANH, TANH_LR]
    assert catalog.find(architecture="[4, 3]").relpaths == [RELU, TANH, TANH_LR]
    assert catalog.find(architecture="[4,3]").relpaths == [RELU, TANH, TANH_LR]
    assert catalog.find(architecture=[4]).relpaths == []
    assert catalog.find(estimator="binning(bin_size=0.07)").relpaths == [RELU, TANH, TANH_LR]
    assert catalog.find(activation_fn="tanh", n_runs=2).relpaths == [TANH_LR]
    assert catalog.find(activation_fn="tanh").find(name="_a$").ids == [catalog[TANH].id]  # chained, same ids
    assert catalog.find(where={"name": "tanh_a"}).relpaths == [TANH]  # exact name as a config key


def test_unknown_key_suggests_the_closest(catalog):
    with pytest.raises(ConfigError, match=r"unknown config key 'activaton_fn'.*Did you mean 'activation_fn'"):
        catalog.find(activaton_fn="relu")


def test_by_id_and_results(catalog):
    lr, relu, tanh = catalog[TANH_LR].id, catalog[RELU].id, catalog[TANH].id
    assert catalog.by_id(lr, relu).ids == [lr, relu]
    assert catalog.by_id([relu, tanh]).names == ["relu_a", "tanh_a"]
    with pytest.raises(ConfigError, match="no experiment with id 9"):
        catalog.by_id("9" * 12)
    with catalog.results(RELU) as results:
        assert isinstance(results, Results) and results.dataset.attrs["name"] == "relu_a"
    with pytest.raises(ResultsFileError, match="junk.nc"):
        catalog.results(JUNK)


def test_differing_keys(catalog):
    assert set(catalog.differing_keys()) == {"n_runs", "activation_fn", "learning_rate", "epochs"}
    assert catalog.find(activation_fn="tanh").differing_keys() == ["n_runs", "learning_rate", "epochs"]
    assert catalog.by_id(RELU).differing_keys() == []
    assert catalog[RELU].describe("activation_fn", "architecture") == "relu_a: activation_fn=relu, architecture=[4, 3]"
    assert format_config(catalog[TANH_LR].config, "learning_rate", "missing") == "learning_rate=0.001, missing=-"


def test_value_text_and_matching():
    assert value_text([10, 7, 5]) == "[10, 7, 5]" and value_text(True) == "true" and value_text(0.0004) == "0.0004"
    assert value_matches([10, 7, 5], "[10, 7, 5]") and value_matches([10, 7, 5], "[10,7,5]")
    assert value_matches(0.0004, "4e-4") and value_matches(1, 1.0) and not value_matches(1, True)
    assert value_matches(True, "true") and not value_matches("relu", "tanh")


# ------------------------------------------------------------------ loading
def test_load_along_experiment(catalog):
    ds = catalog.load()
    assert list(ds["experiment"].values) == ["relu_a", "tanh_a", "tanh_lr"]
    assert list(ds["id"].values) == [catalog[RELU].id, catalog[TANH].id, catalog[TANH_LR].id]
    assert set(ds.data_vars) == {"I_XT", "I_TY", "accuracy", "loss"}
    assert ds["I_XT"].dims == ("experiment", "estimator", "run", "epoch", "layer")
    assert ds.sizes["run"] == 2 and ds.sizes["epoch"] == 5
    assert list(ds["activation_fn"].values) == ["relu", "tanh", "tanh"]
    assert list(ds["learning_rate"].values) == ["0.0004", "0.0004", "0.001"]
    relu = ds["I_XT"].sel(experiment="relu_a")
    assert np.isnan(relu.sel(run=1)).all() and np.isnan(relu.sel(epoch=4)).all()
    assert np.isfinite(relu.sel(run=0, epoch=3)).all()
    assert np.isfinite(ds["accuracy"].sel(experiment="tanh_lr")).all()
    small = catalog.find(activation_fn="tanh").load(["accuracy"])
    assert list(small.data_vars) == ["accuracy"] and small.sizes["experiment"] == 2
    with pytest.raises(ResultsFileError, match="no variable"):
        catalog.by_id(RELU).load(["nonexistent"])
    with pytest.raises(ResultsFileError, match="no readable"):
        catalog.by_id(JUNK).load()


# ---------------------------------------------------------------------- CLI
def test_ls_lists_everything(folder, capsys):
    assert ls(str(folder)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["id", "name", "status"] and "activation_fn" in lines[0]
    for name in ("relu_a", "tanh_a", "tanh_lr", "relu/relu.nc", "tanh/tanh_lr.nc"):
        assert name in out
    junk_id = Catalog(folder)[JUNK].id
    junk = [line for line in lines if line.split()[:1] == [junk_id]][0]
    assert "junk" in junk and "unreadable" in junk
    assert any(line.startswith(f"unreadable {junk_id} (junk.nc):") and "not a readable NetCDF file" in line
               for line in lines)
    assert "something" not in out and ".hidden" not in out and ".tmp" not in out and "copy" not in out
    assert "4 experiment(s)" in out and "1 unreadable" in out


def test_ls_where_and_name(folder, capsys):
    assert ls(str(folder), "--where", "activation_fn=tanh", "--quiet") == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[1] for row in rows] == ["tanh_a", "tanh_lr"]
    ls(str(folder), "--where", "learning_rate=0.001", "--where", "architecture=[4,3]", "-q")
    assert [row.split()[1] for row in capsys.readouterr().out.splitlines()[1:]] == ["tanh_lr"]
    ls(str(folder), "--name", "^relu", "--keys", "seed,batch_size", "-q")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-2:] == ["seed", "batch_size"] and [r.split()[1] for r in lines[1:]] == ["relu_a"]
    ls(str(folder), "--name", "nothing")
    assert "no experiments" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="Did you mean 'activation_fn'"):
        ls(str(folder), "--where", "activaton_fn=relu")
    with pytest.raises(ConfigError, match="--where expects key=value"):
        ls(str(folder), "--where", "relu")


def test_ls_differing(folder, capsys):
    assert ls(str(folder), "--differing", "--debug") == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[:5] == ["id", "name", "status", "final_train_accuracy", "final_test_accuracy"]
    assert {"activation_fn", "learning_rate", "n_runs", "epochs"} <= set(header)
    assert "optimizer" not in header and "dataset" not in header and "path" not in header


def test_ls_empty_and_missing_folders(tmp_path, capsys):
    assert ls(str(tmp_path)) == 0
    assert "no results files" in capsys.readouterr().out
    (tmp_path / "notes.txt").write_text("no results here")
    (tmp_path / ".partial.nc").write_bytes(b"x")
    assert ls(str(tmp_path)) == 0
    assert "no results files" in capsys.readouterr().out
    missing = tmp_path / "does_not_exist"
    with pytest.raises(ConfigError, match="does_not_exist"):
        ls(str(missing))


# ------------------------------------------------- runs without a finished file
@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory):
    """A completed run, a failed one, one killed by SIGKILL and one 'running' (a live process)."""
    import json
    import os
    import socket
    import subprocess
    import sys

    from tests.conftest import REPO

    root = tmp_path_factory.mktemp("runs")
    settings = [*TINY, "epochs=20", "checkpoint_every=5"]
    Experiment.from_toml(CONFIGS / "smoke.toml", settings).run(root / "done.nc")

    def run(name: str, fault: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "ibsim", "run", str(CONFIGS / "smoke.toml"), "-o", str(root / name),
                   "-q", "--no-plots", *[f"--set={s}" for s in settings]]
        env = {**os.environ, "IBSIM_FAIL_UNIT": fault}
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

    failed = run("failed.nc", "writing the results file")
    assert failed.returncode != 0 and "injected failure" in failed.stderr
    killed = run("killed.nc", "kill:writing the results file")
    assert killed.returncode == -9
    # a run another live process holds: this test's parent process
    shutil.copytree(root / "killed.nc.parts", root / "going.nc.parts")
    record = json.loads((root / "going.nc.parts" / "run.json").read_text())
    record.update(pid=os.getppid(), host=socket.gethostname(), name="going")
    (root / "going.nc.parts" / "run.json").write_text(json.dumps(record))
    return root


def test_catalog_lists_runs_without_a_finished_file(runs_folder):
    catalog = Catalog(runs_folder)
    statuses = {entry.relpath.as_posix(): entry.status for entry in catalog}
    assert statuses == {"done.nc": "completed", "failed.nc": "failed", "going.nc": "running",
                        "killed.nc": "interrupted"}
    failed, going, killed = (catalog[p] for p in ("failed.nc", "going.nc", "killed.nc"))
    assert "injected failure" in failed.note and failed.config["epochs"] == 20
    assert "--resume" in killed.note and str(runs_folder / "killed.nc") in killed.note
    assert str(os.getppid()) in going.note
    assert "1 completed, 1 running, 1 interrupted, 1 failed" in repr(catalog)
    assert "interrupted" in repr(killed)
    with pytest.raises(ResultsFileError, match="no results yet: the run is interrupted"):
        catalog.results("killed.nc")
    assert catalog.find(epochs=20).relpaths == ["done.nc", "failed.nc", "going.nc", "killed.nc"]  # configs known


def test_ls_says_what_to_do_about_unfinished_runs(runs_folder, capsys):
    assert ls(str(runs_folder)) == 0
    lines = capsys.readouterr().out.splitlines()
    run_id = Catalog(runs_folder)["done.nc"].id  # one experiment: all four share its id
    assert any(line.startswith(f"failed {run_id} (failed.nc):") and "injected failure" in line for line in lines)
    assert any(line.startswith(f"interrupted {run_id} (killed.nc):") and "ibsim run CONFIG --resume" in line
               for line in lines)
    assert any(line.startswith(f"running {run_id} (going.nc):") for line in lines)
    assert "4 experiment(s)" in lines[-1] and "1 interrupted" in lines[-1] and "1 failed" in lines[-1]
