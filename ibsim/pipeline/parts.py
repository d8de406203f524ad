"""The part store: what training units leave for estimation and assembly.

A folder next to the output (``<output>.parts/``) holds, per group of runs, one
float32 ``.npy`` array per layer with the recorded activations, laid out
(epochs, runs, samples, width) so that each recorded epoch is one contiguous
write, and a summary (metrics, activation ranges, run status). Recorded epochs
go straight to disk, so no unit holds more than one epoch of activations in
memory; readers map the arrays. A group is complete when its summary exists
(written last, atomically); until then, its latest checkpoint lets an
interrupted run continue (``ibsim run --resume``). ``run.json`` says whether
the run is going or failed (with the error) and which config it belongs to. The
folder is removed once the results file is complete.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

#: run_status values (also the results file's flag values).
COMPLETED, EARLY_STOPPED, DIVERGED = 0, 1, 2
RUN_STATUS_MEANINGS = "completed early_stopped diverged"


@dataclass
class GroupSummary:
    """Per-run results of one group other than the activation cubes.

    Arrays are indexed (run in group, recorded epoch, ...); ``split`` axes are
    (training, test).
    """

    runs: np.ndarray  # (R,) run indices
    loss: np.ndarray  # (R, E, 2)
    accuracy: np.ndarray  # (R, E, 2)
    act_min: np.ndarray  # (R, E, L)
    act_max: np.ndarray  # (R, E, L)
    grad_mean: np.ndarray  # (R, E, L)
    grad_std: np.ndarray  # (R, E, L)
    weight_norm: np.ndarray  # (R, E, L)
    run_status: np.ndarray  # (R,) int8
    stop_epoch: np.ndarray  # (R,) last trained epoch
    estimates: np.ndarray  # (inline estimators, R, E, L, 2) I(X;T), I(T;Y)
    probe: np.ndarray  # (R, E, probe points, all layers' neurons) float32: activations on the probe inputs

    @classmethod
    def empty(cls, runs: np.ndarray, n_epochs: int, n_layers: int, n_probe: int = 0,
              probe_width: int = 0) -> "GroupSummary":
        r = len(runs)
        nan = np.full
        return cls(
            runs=np.asarray(runs, dtype=np.int64),
            loss=nan((r, n_epochs, 2), np.nan),
            accuracy=nan((r, n_epochs, 2), np.nan),
            act_min=nan((r, n_epochs, n_layers), np.nan),
            act_max=nan((r, n_epochs, n_layers), np.nan),
            grad_mean=nan((r, n_epochs, n_layers), np.nan),
            grad_std=nan((r, n_epochs, n_layers), np.nan),
            weight_norm=nan((r, n_epochs, n_layers), np.nan),
            run_status=np.zeros(r, dtype=np.int8),
            stop_epoch=np.full(r, -1, dtype=np.int64),
            estimates=np.zeros((0, r, n_epochs, n_layers, 2)),
            probe=np.full((r, n_epochs, n_probe, probe_width) if n_probe else (r, 0, 0, 0), np.nan, np.float32),
        )


class EpochWriter:
    """Writes one recorded epoch of every layer into the part arrays.

    Plain positioned writes rather than a memory map: a fresh map faults in
    every page it touches, which cost more than the training itself.
    """

    def __init__(self, paths: list[Path]) -> None:
        self._files = []
        for path in paths:
            header = np.load(path, mmap_mode="r")
            self._files.append((os.open(path, os.O_WRONLY), header.offset, header.shape))
            del header

    def sync(self) -> None:
        """Make the epochs written so far durable (before a checkpoint refers to them)."""
        for fd, _, _ in self._files:
            os.fsync(fd)

    def write(self, slot: int, layers: list[np.ndarray], valid: np.ndarray | None = None) -> None:
        """Store ``layers[k]`` (runs, samples, width) as recorded epoch ``slot``
        (all runs, stopped ones too: their values say how they stopped)."""
        for (fd, offset, shape), values in zip(self._files, layers):
            block = np.ascontiguousarray(values, dtype=np.float32)
            if block.shape != shape[1:]:
                raise ValueError(f"expected an epoch of shape {shape[1:]}, got {block.shape}")
            os.pwrite(fd, memoryview(block).cast("B"), offset + slot * block.nbytes)

    def close(self) -> None:
        for fd, _, _ in self._files:
            os.close(fd)
        self._files = []


def is_zombie(pid: int) -> bool:
    """Whether a process has ended but was not reaped by its parent yet (Linux; False elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


class PartStore:
    """The part folder of one output file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def group_dir(self, group: int) -> Path:
        return self.root / f"group_{group:05d}"

    def _activation_path(self, group: int, layer: int) -> Path:
        return self.group_dir(group) / f"activations_{layer + 1}.npy"

    def create_activations(self, group: int, shapes: list[tuple[int, ...]], reopen: bool = False) -> "EpochWriter":
        """Activation arrays, one per layer, shaped (epochs, runs, samples, width):
        new ones, or (``reopen``) the existing ones of an interrupted run."""
        self.group_dir(group).mkdir(parents=True, exist_ok=True)
        paths = [self._activation_path(group, k) for k in range(len(shapes))]
        for path, shape in zip(paths, shapes):
            if reopen and path.is_file() and np.load(path, mmap_mode="r").shape == shape:
                continue
            np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape).flush()
        return EpochWriter(paths)

    def open_activations(self, group: int, n_layers: int) -> list[np.ndarray]:
        """The group's activation arrays (epochs, runs, samples, width), read-only and memory-mapped."""
        return [np.load(self._activation_path(group, k), mmap_mode="r") for k in range(n_layers)]

    def _summary_path(self, group: int) -> Path:
        return self.group_dir(group) / "summary.npz"

    def write_summary(self, group: int, summary: GroupSummary) -> None:
        """Store the summary atomically; from now on the group counts as done."""
        path = self._summary_path(group)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **{f.name: getattr(summary, f.name) for f in fields(GroupSummary)})
        os.replace(tmp, path)

    def read_summary(self, group: int) -> GroupSummary:
        with np.load(self._summary_path(group)) as data:
            return GroupSummary(**{f.name: data[f.name] for f in fields(GroupSummary)})

    def is_done(self, group: int) -> bool:
        return self._summary_path(group).is_file()

    def _estimate_path(self, unit_index: int) -> Path:
        return self.root / "estimates" / f"unit_{unit_index:06d}.npy"

    def write_estimate(self, unit_index: int, values: np.ndarray) -> None:
        """Store a deferred estimation unit's result (atomically)."""
        path = self._estimate_path(unit_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, values)
        os.replace(tmp, path)

    def read_estimate(self, unit_index: int) -> np.ndarray:
        return np.load(self._estimate_path(unit_index))

    # ------------------------------------------------------------ checkpoints
    def _checkpoint_path(self, group: int) -> Path:
        return self.group_dir(group) / "checkpoint.pkl"

    def write_checkpoint(self, group: int, state: dict[str, Any]) -> None:
        """Store a group's training state atomically (replacing the previous one)."""
        path = self._checkpoint_path(group)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def read_checkpoint(self, group: int) -> dict[str, Any] | None:
        """The group's latest checkpoint, or None."""
        path = self._checkpoint_path(group)
        if not path.is_file():
            return None
        with open(path, "rb") as handle:
            return pickle.load(handle)  # noqa: S301 - our own file, in our own part folder

    def has_estimate(self, unit_index: int) -> bool:
        return self._estimate_path(unit_index).is_file()

    # ------------------------------------------------------------- run state
    @property
    def run_file(self) -> Path:
        return self.root / "run.json"

    def read_run(self) -> dict[str, Any] | None:
        """The run record (status, config hash, pid, host, error), or None."""
        try:
            return json.loads(self.run_file.read_text())
        except (OSError, ValueError):
            return None

    def write_run(self, **fields: Any) -> None:
        """Update the run record atomically."""
        record = {**(self.read_run() or {}), **fields,
                  "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.run_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2))
        os.replace(tmp, self.run_file)

    def held_by_live_process(self) -> bool:
        """Whether a process on this host that is still running owns the folder."""
        record = self.read_run() or {}
        if record.get("status") != "running" or record.get("host") != socket.gethostname():
            return False
        pid = record.get("pid")
        if not isinstance(pid, int) or pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not is_zombie(pid)

    def remove(self) -> None:
        """Delete the whole part folder."""
        shutil.rmtree(self.root, ignore_errors=True)
