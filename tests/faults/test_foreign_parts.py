"""Never remove what ibsim did not make: a ``*.parts`` folder (or anything in
one) that is not ibsim's is left alone with a clear message."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ibsim.cli import main
from ibsim.pipeline.parts import PartStore
from tests.conftest import CONFIGS

RUN = ["run", str(CONFIGS / "smoke.toml"), "-q", "--no-plots", "--set", "epochs=2", "--set", "n_runs=1",
       "--backend", "serial"]


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in folder.rglob("*")}


def _own_record(parts: Path, **extra) -> None:
    PartStore(parts).write_run(status="failed", pid=1, host="elsewhere", config_hash="0" * 64, **extra)


def _user_folder(parts: Path) -> None:
    parts.mkdir()
    (parts / "thesis.tex").write_text("three years of work")
    (parts / "data").mkdir()
    (parts / "data" / "group_00000").write_text("not a group folder")


CASES = {
    "no run.json": (_user_folder, "was not made by ibsim \\(it has no run.json\\)"),
    "corrupt run.json": (lambda p: (_user_folder(p), (p / "run.json").write_text("{ not json")),
                         "run.json is corrupt \\(not JSON\\)"),
    "foreign run.json": (lambda p: (_user_folder(p), (p / "run.json").write_text(json.dumps({"status": "mine"}))),
                         "run.json is not a run record ibsim wrote"),
    "own run.json, foreign files": (lambda p: (_user_folder(p), _own_record(p)),
                                    "holds files ibsim did not write \\(data, data/group_00000, thesis.tex\\)"),
    "a file, not a folder": (lambda p: p.write_text("my notes"), "exists but is not a part folder ibsim made"),
    "a link to a folder": (lambda p: (_user_folder(p.with_name("elsewhere")), p.symlink_to(p.with_name("elsewhere"))),
                           "exists but is not a part folder ibsim made"),
}


@pytest.mark.parametrize("resume", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_a_foreign_part_folder_is_left_alone(case, resume, tmp_path, capsys):
    make, message = CASES[case]
    output = tmp_path / "x.nc"
    parts = tmp_path / "x.nc.parts"
    make(parts)
    before = _tree(tmp_path)
    assert main(RUN + ["-o", str(output)] + (["--resume"] if resume else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "left alone" in err[0], err
    assert __import__("re").search(message, err[0]), err[0]
    assert "different config" not in err[0]
    assert _tree(tmp_path) == before  # every byte where it was
    assert not output.exists()


def test_a_link_planted_in_an_own_folder_is_foreign(tmp_path, capsys):
    output = tmp_path / "x.nc"
    parts = tmp_path / "x.nc.parts"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    _own_record(parts)
    (parts / "group_00000").mkdir()
    (parts / "group_00000" / "activations_1.npy").symlink_to(victim)
    assert main(RUN + ["-o", str(output)]) == 2
    assert "holds files ibsim did not write (group_00000/activations_1.npy)" in capsys.readouterr().err
    assert victim.read_text() == "precious" and (parts / "group_00000" / "activations_1.npy").is_symlink()


def test_an_interrupted_own_folder_is_still_cleared(tmp_path, capsys):
    """What ibsim wrote (run record, groups, estimates, temporaries, the old
    pickle checkpoints) is cleared by a fresh run."""
    output = tmp_path / "x.nc"
    parts = tmp_path / "x.nc.parts"
    _own_record(parts)
    for name in ["group_00000/activations_1.npy", "group_00000/summary.tmp.npz", "group_00000/checkpoint.pkl",
                 "group_00001/checkpoint.npz", "estimates/unit_000003.npy", "run.tmp.json"]:
        (parts / name).parent.mkdir(exist_ok=True)
        (parts / name).write_bytes(b"")
    assert main(RUN + ["-o", str(output)]) == 0
    assert output.is_file() and not parts.exists()


def test_remove_takes_only_what_ibsim_writes(tmp_path):
    parts = tmp_path / "x.nc.parts"
    _own_record(parts)
    (parts / "group_00000").mkdir()
    (parts / "group_00000" / "activations_1.npy").write_bytes(b"")
    (parts / "group_00000" / "notes.txt").write_text("mine")
    (parts / "estimates").mkdir()
    PartStore(parts).remove()
    assert _tree(tmp_path) == {"x.nc.parts": None, "x.nc.parts/group_00000": None,
                               "x.nc.parts/group_00000/notes.txt": b"mine"}
