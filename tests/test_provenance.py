"""Provenance: every results file says which code, where, when and with which warnings it was made."""
from __future__ import annotations

import contextlib
import io
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import xarray as xr

import ibsim.pipeline.runner as runner
from ibsim.config.config import Config
from ibsim.datasets.harmonics import VAR_U_SHA256
from ibsim.resultsfile.provenance import (
    RunRecord, capture_warnings, data_checksum, experiment_id, finish_attrs, git_state, identity_attrs, warning_line,
)
from tests.conftest import CONFIGS, REPO

QUICK = ["epochs=5", "n_runs=1"]
# every run blows up after epoch 0 (as in tests/faults/test_divergence.py): training says so in one line
ALL_DIVERGING = ["architecture=[6,4]", 'optimizer="sgd"', "learning_rate=10", 'activation_fn="linear"', "n_runs=2",
                 "epochs=4", 'record_schedule="every"']
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


def git(folder: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def no_outer_repo(tmp_path, monkeypatch):
    """git below tmp_path never looks for a repository above it."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    return tmp_path


@pytest.fixture
def repo(no_outer_repo):
    """A fresh git repository with one commit and a clean work tree."""
    folder = no_outer_repo / "project"
    folder.mkdir()
    git(folder, "init", "-q")
    (folder / "analysis.py").write_text("print('hello')\n")
    git(folder, "add", "analysis.py")
    git(folder, "commit", "-q", "-m", "first")
    return folder


def when(text: str) -> datetime:
    assert ISO.match(text), text
    return datetime.fromisoformat(text)


def check_times(attrs: dict, before: datetime, after: datetime) -> None:
    started, finished = when(attrs["started_at"]), when(attrs["finished_at"])
    assert before - timedelta(seconds=1) <= started < finished <= after + timedelta(seconds=1)
    assert attrs["duration_s"] == pytest.approx((finished - started).total_seconds(), abs=1e-6)
    assert attrs["duration_s"] > 0


# ------------------------------------------------------------ whole runs
def test_cli_run_in_a_dirty_repository_records_everything(repo, tmp_path):
    (repo / "analysis.py").write_text("print('changed')\n")  # dirty: a modified file
    output = tmp_path / "out" / "x.nc"
    argv = ["run", str(CONFIGS / "smoke.toml"), "--set", "epochs=5", "--set", "n_runs=1", "-o", str(output),
            "--no-plots", "-q"]
    before = datetime.now(timezone.utc)
    done = subprocess.run([sys.executable, "-m", "ibsim", *argv], cwd=repo, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    after = datetime.now(timezone.utc)
    assert done.returncode == 0, done.stderr
    with xr.open_dataset(output) as ds:
        attrs = dict(ds.attrs)
    assert attrs["git_commit"] == git(repo, "rev-parse", "HEAD") and len(attrs["git_commit"]) == 40
    assert attrs["git_dirty"] == 1 and "analysis.py" in attrs["git_status"]
    assert attrs["ibsim_commit"] == git(REPO, "rev-parse", "HEAD")  # the tests run from ibsim's checkout
    assert attrs["ibsim_dirty"] in (0, 1)
    assert attrs["host"] == socket.gethostname()
    command = shlex.split(attrs["command_line"])  # python -m ibsim: argv[0] is ibsim's __main__.py
    assert command[0].endswith("__main__.py") and command[1:] == argv
    check_times(attrs, before, after)
    assert attrs["python_version"] == platform.python_version()
    versions = dict(line.split(" = ", 1) for line in attrs["versions"].splitlines())
    import numpy
    import tensorflow

    assert versions["numpy"] == numpy.__version__ and versions["tensorflow"] == tensorflow.__version__
    assert versions["python"] == platform.python_version() and versions["ibsim"] == attrs["ibsim_version"]
    assert isinstance(attrs["warnings"], str)
    assert re.fullmatch(r"[0-9a-f]{12}", attrs["experiment_id"])
    assert attrs["data_checksum"] == f"sha256:{VAR_U_SHA256}"


def test_run_in_a_clean_repository_records_warnings_and_diverged_runs(repo, tmp_path, monkeypatch):
    """In process: a warning raised in the run and training's note about diverged runs are recorded."""
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "argv", ["ibsim", "run", "a config.toml"])
    original = runner.make_plan

    def make_plan_that_warns(config):
        warnings.warn("provenance probe: this warning was raised during the run", UserWarning)
        return original(config)

    monkeypatch.setattr(runner, "make_plan", make_plan_that_warns)
    config = Config.from_toml(CONFIGS / "smoke.toml", ALL_DIVERGING)
    output = tmp_path / "diverged.nc"
    stderr = io.StringIO()
    before = datetime.now(timezone.utc)
    with pytest.warns(UserWarning, match="provenance probe"), contextlib.redirect_stderr(stderr):  # still shown
        runner.run_experiments([config], [output], backend="serial")
    after = datetime.now(timezone.utc)
    with xr.open_dataset(output) as ds:
        attrs = dict(ds.attrs)
    assert attrs["git_commit"] == git(repo, "rev-parse", "HEAD")
    assert attrs["git_dirty"] == 0 and "git_status" not in attrs
    assert attrs["command_line"] == "ibsim run 'a config.toml'"
    check_times(attrs, before, after)
    lines = attrs["warnings"].splitlines()
    assert any(line.startswith("UserWarning: provenance probe: this warning was raised during the run (")
               and "test_provenance.py:" in line for line in lines), lines
    note = [line for line in stderr.getvalue().splitlines() if "diverged" in line]
    assert note and note[0] in lines  # training's line about the diverged runs, recomputed at assembly
    assert "runs [0, 1]" in note[0]


def test_outside_a_repository_the_git_attributes_are_absent(no_outer_repo, tmp_path, monkeypatch):
    folder = no_outer_repo / "plain"
    folder.mkdir()
    monkeypatch.chdir(folder)
    config = Config.from_toml(CONFIGS / "smoke.toml", [*QUICK, "architecture=[4,3]", "save_activations=false"])
    output = tmp_path / "plain.nc"
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        runner.run_experiments([config], [output], backend="serial")
    with xr.open_dataset(output) as ds:
        attrs = dict(ds.attrs)
    assert not {"git_commit", "git_dirty", "git_status"} & set(attrs)
    # exactly the warnings shown during the run (none, as a rule), each once
    expected = dict.fromkeys(warning_line(w.message, w.category, w.filename, w.lineno) for w in shown)
    assert attrs["warnings"].splitlines() == list(expected)
    assert "ibsim_commit" in attrs and "started_at" in attrs and "duration_s" in attrs


# ------------------------------------------------------------- the parts
def test_git_state(repo, no_outer_repo, monkeypatch):
    assert git_state(repo) == {"git_commit": git(repo, "rev-parse", "HEAD"), "git_dirty": 0}
    (repo / "new.txt").write_text("untracked\n")
    state = git_state(repo)
    assert state["git_dirty"] == 1 and state["git_status"] == "?? new.txt"
    plain = no_outer_repo / "plain"
    plain.mkdir()
    assert git_state(plain) == {}
    monkeypatch.setenv("PATH", str(no_outer_repo / "no-git-here"))  # git missing: nothing, and no error
    assert git_state(repo) == {}
    monkeypatch.chdir(plain)
    record = RunRecord.start()
    assert "git_commit" not in record.git and "ibsim_commit" not in record.git
    assert record.attrs()["warnings"] == "" and record.host == socket.gethostname()


def test_finish_attrs_duration_is_the_difference():
    started = "2024-03-01T10:00:00.250+00:00"
    attrs = finish_attrs(started, datetime(2024, 3, 1, 10, 1, 30, 750000, tzinfo=timezone.utc))
    assert attrs == {"finished_at": "2024-03-01T10:01:30.750+00:00", "duration_s": 90.5}
    assert set(finish_attrs("not a time")) == {"finished_at"}


def test_capture_warnings_records_once_and_restores():
    shown_before = warnings.showwarning
    lines: list[str] = []
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with capture_warnings(lines):
            for _ in range(2):
                warnings.warn("twice\nover two lines", RuntimeWarning)
        warnings.warn("after", RuntimeWarning)
    assert len(lines) == 1 and lines[0].startswith("RuntimeWarning: twice over two lines (test_provenance.py:")
    assert [str(w.message) for w in shown] == ["twice\nover two lines"] * 2 + ["after"]  # still shown
    assert warnings.showwarning is shown_before


def test_experiment_id_is_a_hash_of_config_seed_and_data():
    config = Config.from_toml(CONFIGS / "smoke.toml", QUICK)
    toml = config.to_toml()
    assert experiment_id(config) == experiment_id(toml) == identity_attrs(toml)["experiment_id"]
    reordered = "\n".join(reversed([line for line in toml.splitlines() if line.strip()]))
    assert experiment_id(reordered) == experiment_id(toml)  # values, not layout
    assert experiment_id(config.replace(seed=1)) != experiment_id(config)
    assert experiment_id(config.replace(epochs=6)) != experiment_id(config)
    assert data_checksum("harmonics") == f"sha256:{VAR_U_SHA256}"
    assert data_checksum('mnist(subset="all")').count("sha") == 4 and "sha384:f40eb179" in data_checksum("mnist")
    assert data_checksum("var_u") == data_checksum("harmonics")  # an alias names the same files
    assert data_checksum("harmonics_generated(seed=3)") == "spec:harmonics_generated(seed=3)"
    assert data_checksum("no_such_dataset") == "spec:no_such_dataset"
