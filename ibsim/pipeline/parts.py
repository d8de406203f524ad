"""The part store: what training units leave for estimation and assembly.

A folder next to the output (``<output>.parts/``) holds, per group of runs, one
float32 ``.npy`` array per layer with the recorded activations, laid out
(epochs, runs, samples, width) so that each recorded epoch is one contiguous
write, and a summary (metrics, activation ranges, run status). Recorded epochs
go straight to disk, so no unit holds more than one epoch of activations in
memory; readers map the arrays. A group is complete when its summary exists
(written last, atomically). The folder is removed once the results file is
complete.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

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

    @classmethod
    def empty(cls, runs: np.ndarray, n_epochs: int, n_layers: int) -> "GroupSummary":
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


class PartStore:
    """The part folder of one output file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def group_dir(self, group: int) -> Path:
        return self.root / f"group_{group:05d}"

    def _activation_path(self, group: int, layer: int) -> Path:
        return self.group_dir(group) / f"activations_{layer + 1}.npy"

    def create_activations(self, group: int, shapes: list[tuple[int, ...]]) -> "EpochWriter":
        """New activation arrays, one per layer, shaped (epochs, runs, samples, width)."""
        self.group_dir(group).mkdir(parents=True, exist_ok=True)
        paths = [self._activation_path(group, k) for k in range(len(shapes))]
        for path, shape in zip(paths, shapes):
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

    def remove(self) -> None:
        """Delete the whole part folder."""
        shutil.rmtree(self.root, ignore_errors=True)
