"""A disk that fills up during training or writing: one line saying so and what
to do, the run recorded as failed, no temporaries left, and --resume finishing
once there is room (its space check counting what is already on disk).

The disk is a small tmpfs mounted for the test (needs root; skipped otherwise).
The resource check is told the disk is large, so that the run really starts
and the file system itself runs out."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ibsim.cli import main
from ibsim.config import load_configs
from ibsim.pipeline import budget
from ibsim.pipeline.budget import ResourceError
from ibsim.pipeline.parts import PartStore
from ibsim.pipeline.runner import check_budget
from tests.conftest import CONFIGS

# one run of the smoke net, every epoch recorded: about 0.5 MB of activations per epoch
SETTINGS = ["n_runs=1", 'record_schedule="every"', "save_activations=true", "checkpoint_every=2", "--backend",
            "serial"]


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 2 MB (grown with :func:`grow`); skipped where none can be mounted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {result.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def grow(disk: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)


def _args(output: Path, *settings: str) -> list[str]:
    args = ["run", str(CONFIGS / "smoke.toml"), "-o", str(output), "-q", "--no-plots"]
    for item in list(SETTINGS) + list(settings):
        args += [item] if item.startswith("--") or item == "serial" else [f"--set={item}"]
    return args


def _leftovers(disk: Path) -> list[str]:
    return [str(p.relative_to(disk)) for p in disk.rglob("*") if ".tmp" in p.name]


@pytest.fixture
def plenty_of_room(monkeypatch):
    """The resource check believes the disk is large."""
    monkeypatch.setattr(budget, "free_disk_bytes", lambda path: 10**12)


def _refused_once(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_disk_full_during_training(small_disk, plenty_of_room, capsys, monkeypatch):
    output = small_disk / "x.nc"
    assert main(_args(output, "epochs=30")) == 2
    line = _refused_once(capsys)
    assert "disk full while writing" in line and str(small_disk) in line and "--resume" in line, line
    assert "more in" in line  # how much the rest of the run needs
    record = json.loads((small_disk / "x.nc.parts" / "run.json").read_text())
    assert record["status"] == "failed" and "disk full" in record["error"]
    assert _leftovers(small_disk) == [] and not output.exists()

    grow(small_disk, "64m")
    monkeypatch.undo()  # the real free space from now on
    assert main(_args(output, "epochs=30", "--resume")) == 0
    assert output.is_file() and not (small_disk / "x.nc.parts").exists()


def test_disk_full_while_writing_the_results_file(small_disk, plenty_of_room, capsys, monkeypatch):
    output = small_disk / "x.nc"
    # about 1.5 MB of part files fit; the results file (about as large again) does not
    assert main(_args(output, "epochs=2")) == 2
    line = _refused_once(capsys)
    assert f"disk full while writing {output}" in line and "--resume" in line, line
    assert _leftovers(small_disk) == []  # neither .x.nc.<pid>.tmp nor part temporaries
    assert not output.exists()
    assert json.loads((small_disk / "x.nc.parts" / "run.json").read_text())["status"] == "failed"

    grow(small_disk, "64m")
    monkeypatch.undo()
    assert main(_args(output, "epochs=2", "--resume")) == 0
    assert output.is_file()


def test_the_resume_check_counts_what_is_on_disk(small_disk, plenty_of_room, capsys, monkeypatch):
    output = small_disk / "x.nc"
    assert main(_args(output, "epochs=30")) == 2
    capsys.readouterr()
    config = load_configs(CONFIGS / "smoke.toml", [s for s in SETTINGS if "=" in s] + ["epochs=30"])[0]
    on_disk = PartStore(small_disk / "x.nc.parts").used_bytes()
    assert on_disk > 500_000
    (_, fresh), = check_budget([(config, output)], None, 1)
    # room for what remains, not for all of it again
    monkeypatch.setattr(budget, "free_disk_bytes", lambda path: fresh.disk_bytes - on_disk // 2)
    with pytest.raises(ResourceError, match="needs about"):
        check_budget([(config, output)], None, 1)
    (_, resumed), = check_budget([(config, output)], None, 1, resume=True)
    assert resumed.disk_bytes == fresh.disk_bytes - on_disk
