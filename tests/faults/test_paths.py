"""Paths stay where the user put them: an experiment name is one file name,
outputs land in the output folder, and only regular files are replaced."""
from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from ibsim import ConfigError
from ibsim.cli import main
from ibsim.config import Config, load_configs
from ibsim.paths import point_name
from ibsim.paths import MAX_NAME_BYTES, name_problem
from tests.conftest import CONFIGS

BAD_NAMES = ["../evil", "../../etc/evil", "/tmp/evil", "a/b", "a\\b", "a\x00b", "a\nb", "tab\there", "\x1b[31m",
             ".", "..", ".hidden", "x" * 300, "é" * 101, ""]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_name_that_is_not_one_file_name_is_refused(name):
    with pytest.raises(ConfigError, match="Config key 'name'"):
        Config.from_dict({"name": name})


@pytest.mark.parametrize("name", ["tanh", "Saxe fig. 1", "run-3_b=0.5", "x" * MAX_NAME_BYTES, "ö" * 100, "日本"])
def test_ordinary_names_are_kept(name):
    assert Config.from_dict({"name": name}).name == name


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("name", ["../evil", "/tmp/ibsim-evil", "sub/evil", "a\x00b", "x" * 300])
def test_names_from_the_command_line_are_refused_and_nothing_is_written(name, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _snapshot(tmp_path)
    assert main(["run", str(CONFIGS / "smoke.toml"), "--set", f"name={json.dumps(name)}", "-q", "--no-plots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Config key 'name'" in err[0], err
    assert _snapshot(tmp_path) == before
    assert not Path("/tmp/ibsim-evil.nc").exists()


@pytest.mark.parametrize("layout", ["file", "sweep", "folder"])
def test_names_from_files_sweeps_and_folders_are_refused(layout, tmp_path, capsys):
    source = tmp_path / "configs"
    source.mkdir()
    text = 'name = "../../evil"\nepochs = 2\n'
    if layout == "sweep":
        text += "[sweep]\nseed = [0, 1]\n"
    (source / "a.toml").write_text(text)
    if layout == "folder":
        (source / "b.toml").write_text("epochs = 2\n")
    target = source if layout == "folder" else source / "a.toml"
    before = _snapshot(tmp_path)
    assert main(["run", str(target), "-o", str(tmp_path / "out"), "-q", "--no-plots"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Config key 'name'" in err and "path separator" in err
    assert _snapshot(tmp_path) == before


def test_set_name_takes_effect_for_files_and_sweeps(tmp_path):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('name = "from_file"\nepochs = 2\n[sweep]\nseed = [0, 1]\n')
    assert [c.name for c in load_configs(sweep, ["name=mine"])] == ["mine__seed=0", "mine__seed=1"]
    assert load_configs(CONFIGS / "smoke.toml", ["name=mine"])[0].name == "mine"
    with pytest.raises(ConfigError, match="Config key 'name'"):
        load_configs(CONFIGS / "smoke.toml", ["name=5"])


def test_set_name_names_the_default_output(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(CONFIGS / "smoke.toml"), "--set", "name=mine", "--dry-run"]) == 0
    assert f"mine -> {Path('results') / 'mine.nc'}" in capsys.readouterr().out


def test_long_sweep_point_names_are_shortened_distinctly():
    values = {f"key_{i}": [0.123456789] * 8 for i in range(8)}
    a = point_name("base", values)
    b = point_name("base", {**values, "key_7": [0.5] * 8})
    assert name_problem(a) is None and name_problem(b) is None and a != b


def test_output_naming_an_existing_folder_writes_inside_it(tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["run", str(CONFIGS / "smoke.toml"), "-o", str(folder), "-q", "--no-plots", "--set", "epochs=2",
                 "--set", "n_runs=1"]) == 0
    assert (folder / "smoke.nc").is_file()
    assert sorted(os.listdir(folder)) == ["smoke.nc"]


def _device(path: Path) -> None:
    """A character device node like /dev/null (never the real one: a broken
    guard would replace it)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as error:
        pytest.skip(f"cannot make a device node here ({error}); needs root")


def _special(kind: str, path: Path):
    if kind == "device":
        _device(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        return server
    elif kind == "link to a device":
        _device(path.with_name("device"))
        path.symlink_to(path.with_name("device"))
    return None


@pytest.mark.parametrize("kind", ["fifo", "socket", "link to a device", "device"])
@pytest.mark.parametrize("dry", [False, True])
def test_an_output_that_is_not_a_regular_file_is_refused_and_kept(kind, dry, tmp_path, capsys):
    path = tmp_path / "out.nc"
    keep = _special(kind, path)
    mode = path.stat().st_mode
    try:
        args = ["run", str(CONFIGS / "smoke.toml"), "-o", str(path), "-q", "--no-plots", "--set", "epochs=2"]
        assert main(args + (["--dry-run"] if dry else [])) == 2
    finally:
        if keep is not None:
            keep.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ibsim only replaces regular files" in err[0], err
    assert path.stat().st_mode == mode  # still what it was, not replaced
    assert stat.S_ISREG(mode) is False
    assert not Path(str(path) + ".parts").exists()
