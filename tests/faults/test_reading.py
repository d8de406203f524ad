"""Truncated, foreign and non-NetCDF files get an error that names them."""
from __future__ import annotations

import pytest
import xarray as xr

from ibsim import Experiment
from ibsim.catalog import Catalog
from ibsim.cli import main
from tests.conftest import CONFIGS


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    good = root / "good.nc"
    Experiment.from_toml(CONFIGS / "smoke.toml", ["epochs=2", "n_runs=1", "architecture=[4]"]).run(good).close()
    data = good.read_bytes()
    (root / "truncated.nc").write_bytes(data[: len(data) // 2])
    (root / "text.nc").write_text("this is not NetCDF\n")
    xr.Dataset({"x": ("t", [1.0, 2.0])}).to_netcdf(root / "foreign.nc")
    return root


@pytest.mark.parametrize("name,message", [
    ("truncated.nc", "not a readable NetCDF file"),
    ("text.nc", "not a readable NetCDF file"),
    ("foreign.nc", "not an ibsim results file"),
    ("missing.nc", "does not exist"),
])
@pytest.mark.parametrize("command", [["estimate", "-e", "kde_upper"], ["plot"], ["tensorboard", "--log-dir", "tb"]])
def test_commands_name_the_bad_file(folder, capsys, name, message, command):
    path = folder / name
    status = main([command[0], str(path), *command[1:]])
    err = capsys.readouterr().err
    assert status == 2 and str(path) in err and message in err and "Traceback" not in err


def test_ls_lists_bad_files_as_unreadable(folder, capsys):
    assert main(["ls", str(folder)]) == 0
    out = capsys.readouterr().out
    for name in ("truncated.nc", "text.nc", "foreign.nc"):
        assert name in out
    statuses = {entry.relpath.name if hasattr(entry.relpath, "name") else str(entry.relpath): entry.status
                for entry in Catalog(folder)}
    assert statuses["good.nc"] == "completed"
    assert statuses["truncated.nc"] == statuses["text.nc"] == statuses["foreign.nc"] == "unreadable"
