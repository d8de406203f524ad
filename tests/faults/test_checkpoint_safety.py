"""Nothing read back from a part folder can run code, and only what this run
wrote is taken: checkpoints are plain arrays and JSON, read without pickle and
checked against the group they claim to continue."""
from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from ibsim.cli import main
from ibsim.config import Config
from ibsim.errors import PartFolderError
from ibsim.pipeline.data import experiment_data
from ibsim.pipeline.parts import PartStore
from ibsim.pipeline.plan import make_plan
from ibsim.pipeline.training import GroupTraining
from tests.conftest import CONFIGS

SETTINGS = {"architecture": [6, 4], "epochs": 30, "n_runs": 2, "checkpoint_every": 10, "estimator": ["binning"],
            "record_schedule": "every"}


class Payload:
    """Unpickling this runs ``touch MARKER``: what a crafted checkpoint would do."""

    marker: Path

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def crafted_pickle(marker: Path) -> bytes:
    payload = Payload()
    payload.marker = marker
    return pickle.dumps({"epoch": 5, "payload": payload})


@pytest.fixture
def checkpointed(tmp_path):
    """A part folder holding a real checkpoint of group 0 (epoch 20 of 30), with
    its run record, as an interrupted `ibsim run` leaves it."""
    config = Config.from_dict({**SETTINGS, "name": "x"})
    plan = make_plan(config)
    store = PartStore(tmp_path / "x.nc.parts")
    store.write_run(status="running", pid=1, host="elsewhere", config_hash=config.fingerprint(),
                    config=config.to_toml(), name="x")
    training = GroupTraining(config, plan, plan.groups[0], experiment_data(config), store)
    training.run_epochs(25)  # checkpoints at 10 and 20
    return config, plan, store


def _resume(config, plan, store) -> GroupTraining:
    return GroupTraining(config, plan, plan.groups[0], experiment_data(config), store, resume=True)


def test_a_checkpoint_resumes_where_it_was_taken(checkpointed):
    config, plan, store = checkpointed
    path = store.group_dir(0) / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        assert all(data[name].dtype != object for name in data.files)
    assert meta["epoch"] == 20
    assert _resume(config, plan, store).epoch == 20


def test_a_crafted_pickle_in_the_checkpoint_does_not_run(checkpointed, tmp_path):
    config, plan, store = checkpointed
    marker = tmp_path / "pwned"
    path = store.group_dir(0) / "checkpoint.npz"
    # an .npz whose arrays are pickled objects: loading them with pickle allowed runs the payload
    payload = Payload()
    payload.marker = marker
    np.savez(path, meta=np.array([payload], dtype=object), active=np.array([payload], dtype=object))
    with pytest.raises(PartFolderError, match="checkpoint.npz is damaged or not a file ibsim wrote"):
        _resume(config, plan, store)
    assert not marker.exists()


def test_a_pickle_named_like_the_old_checkpoint_is_never_read(checkpointed, tmp_path, capsys):
    config, plan, store = checkpointed
    marker = tmp_path / "pwned"
    (store.group_dir(0) / "checkpoint.npz").unlink()
    (store.group_dir(0) / "checkpoint.pkl").write_bytes(crafted_pickle(marker))
    training = _resume(config, plan, store)
    assert training.epoch == 0  # no checkpoint of this format: the group starts again
    assert not marker.exists()


def test_a_crafted_checkpoint_through_the_command_line_runs_nothing(tmp_path, capsys):
    """The whole command: an interrupted run's folder with a crafted checkpoint
    file, `ibsim run --resume`: one line, exit 2, no code run."""
    output = tmp_path / "x.nc"
    settings = [f"--set={k}={json.dumps(v)}" for k, v in SETTINGS.items()]
    os.environ["IBSIM_FAIL_UNIT"] = "writing the results file"
    try:
        assert main(["run", str(CONFIGS / "smoke.toml"), "-o", str(output), "-q", "--no-plots", *settings,
                     "--backend", "serial"]) == 2
    finally:
        del os.environ["IBSIM_FAIL_UNIT"]
    parts = output.with_name("x.nc.parts")
    (parts / "group_00000" / "summary.npz").unlink()  # the group is unfinished again; its checkpoint counts
    marker = tmp_path / "pwned"
    (parts / "group_00000" / "checkpoint.npz").write_bytes(crafted_pickle(marker))
    capsys.readouterr()
    assert main(["run", str(CONFIGS / "smoke.toml"), "-o", str(output), "-q", "--no-plots", *settings,
                 "--backend", "serial", "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint.npz is damaged or not a file ibsim wrote" in err[0]
    assert not marker.exists() and not output.exists()


def _rewrite(path: Path, **changes) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays.update(changes)
    np.savez(path, **arrays)


@pytest.mark.parametrize("change, message", [
    (lambda a: {"params_0": np.zeros((3, 3, 2), np.float32)}, "params_0 is float32 \\(3, 3, 2\\)"),
    (lambda a: {"params_0": a["params_0"].astype(np.float64)}, "params_0 is float64"),
    (lambda a: {"summary_loss": np.zeros((9, 1, 2))}, "summary_loss is"),
    (lambda a: {"inline": np.zeros((1,))}, "inline is"),
    (lambda a: {"meta": np.array(json.dumps({**json.loads(str(a["meta"])), "config_hash": "0" * 64}))},
     "different config"),
    (lambda a: {"meta": np.array(json.dumps({**json.loads(str(a["meta"])), "epoch": 10**9}))}, "out of range"),
    (lambda a: {"meta": np.array(json.dumps({**json.loads(str(a["meta"])), "rng_states": [{"x": 1}] * 2}))},
     "generator state is invalid"),
    (lambda a: {"meta": np.array("not json")}, "no readable meta record"),
])
def test_a_checkpoint_that_does_not_fit_the_group_is_refused(checkpointed, change, message):
    config, plan, store = checkpointed
    path = store.group_dir(0) / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    _rewrite(path, **change(arrays))
    with pytest.raises(PartFolderError, match=message):
        _resume(config, plan, store)


def test_activation_arrays_that_are_not_this_runs_are_refused_on_resume(tmp_path):
    config = Config.from_dict({**SETTINGS, "name": "x", "save_activations": True})
    plan = make_plan(config)
    store = PartStore(tmp_path / "x.nc.parts")
    GroupTraining(config, plan, plan.groups[0], experiment_data(config), store).run_epochs(15)
    path = store.group_dir(0) / "activations_1.npy"
    np.save(path, np.zeros((3, 2, 4), np.float32))
    with pytest.raises(PartFolderError, match="activations_1.npy is not the activation array this run wrote"):
        _resume(config, plan, store)


def test_an_activation_file_that_is_a_link_is_not_written_through(tmp_path):
    """A fresh group replaces whatever sits at its activation paths: a link
    planted there does not carry the writes out of the part folder."""
    config = Config.from_dict({**SETTINGS, "name": "x", "save_activations": True, "epochs": 3})
    plan = make_plan(config)
    store = PartStore(tmp_path / "x.nc.parts")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    store.group_dir(0).mkdir(parents=True)
    (store.group_dir(0) / "activations_1.npy").symlink_to(victim)
    training = GroupTraining(config, plan, plan.groups[0], experiment_data(config), store)
    training.run_epochs(3)
    training.finish()
    assert victim.read_text() == "precious"
    assert not (store.group_dir(0) / "activations_1.npy").is_symlink()


@pytest.mark.parametrize("damage", ["garbage", "pickle", "fields"])
def test_a_damaged_summary_is_named(checkpointed, damage, tmp_path):
    config, plan, store = checkpointed
    path = store.group_dir(0) / "summary.npz"
    marker = tmp_path / "pwned"
    if damage == "garbage":
        path.write_bytes(b"not a zip file")
    elif damage == "pickle":
        payload = Payload()
        payload.marker = marker
        np.savez(path, runs=np.array([payload], dtype=object))
    else:
        np.savez(path, runs=np.arange(2), loss=np.zeros((2, 3, 2)))
    with pytest.raises(PartFolderError, match="summary.npz"):
        store.read_summary(0)
    assert not marker.exists()


def test_nothing_in_the_package_unpickles():
    """No module of ibsim imports pickle or loads arrays with pickles allowed."""
    root = Path(sys.modules["ibsim"].__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "import pickle" in p.read_text() or "allow_pickle=True" in p.read_text()]
    assert offenders == []
