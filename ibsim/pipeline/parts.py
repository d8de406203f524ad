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

Nothing here is read back in a way that can run code: arrays are ``.npy`` and
``.npz`` files read with ``allow_pickle=False``, the checkpoint's few scalars
and generator states are JSON, and every file read back is checked against what
this run would have written (config fingerprint, names, dtypes and shapes).
Only files of the names listed in :data:`OWN_NAMES` are ever removed, and only
from a folder whose ``run.json`` is ibsim's.
"""
from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ibsim.errors import DiskFullError, PartFolderError
from ibsim.estimators.base import ESTIMATE_COLUMNS
from ibsim.networks.ensemble import EnsembleState
from ibsim.paths import disk_full, os_errors

#: ``made_by`` of every run.json this version writes.
MADE_BY = "ibsim"
#: Format of the checkpoint files; bump when their layout changes.
CHECKPOINT_FORMAT = "ibsim-checkpoint-1"

#: The names ibsim writes in a part folder (and so may remove): the run record,
#: group folders with their activation arrays, summary and checkpoint, the
#: deferred estimates, and the temporaries of each atomic write. ``checkpoint.pkl``
#: is the format of ibsim 0.1's first releases, never read, only cleared.
OWN_NAMES = (
    re.compile(r"run(\.tmp)?\.json|run\.tmp"),
    re.compile(r"group_\d{5}"),
    re.compile(r"group_\d{5}/activations_\d+\.npy"),
    re.compile(r"group_\d{5}/(summary|checkpoint)(\.tmp)?\.npz"),
    re.compile(r"group_\d{5}/checkpoint\.(pkl|tmp)"),
    re.compile(r"estimates"),
    re.compile(r"estimates/unit_\d{6}(\.tmp)?\.npy"),
)

def is_own_name(relative: str) -> bool:
    """Whether a path relative to a part folder is one ibsim writes there."""
    return any(pattern.fullmatch(relative) for pattern in OWN_NAMES)


def is_own_record(record: Any) -> bool:
    """Whether a parsed ``run.json`` is one ibsim wrote (this version's, or the
    first releases' without ``made_by``)."""
    if not isinstance(record, dict):
        return False
    if record.get("made_by") == MADE_BY:
        return True
    return {"status", "config_hash", "pid", "host"} <= set(record)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary sibling (``<stem>.tmp<suffix>``)
    renamed into place; on any failure the temporary is removed and ``path``
    keeps what it had."""
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    try:
        with os_errors(path):
            write(tmp)
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsynced_save(save: Callable[[Any], None]) -> Callable[[Path], None]:
    """A writer that saves through ``save(handle)`` and makes the file durable."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            save(handle)
            handle.flush()
            os.fsync(handle.fileno())
    return write


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
    estimates: np.ndarray  # (inline estimators, R, E, L, S, 4) I(X;T), I(T;Y), their errors per estimated split
    probe: np.ndarray  # (R, E, probe points, all layers' neurons) float32: activations on the probe inputs
    split_min: np.ndarray  # (R, E, L, S) smallest activation on each estimated split
    split_max: np.ndarray  # (R, E, L, S)
    epoch_loss: np.ndarray  # (R, epochs + 1, 2) float32: loss on (training, test) after every epoch
    epoch_accuracy: np.ndarray  # (R, epochs + 1, 2) float32

    @classmethod
    def empty(cls, runs: np.ndarray, n_epochs: int, n_layers: int, n_probe: int = 0,
              probe_width: int = 0, n_splits: int = 1, n_trained: int = 0) -> "GroupSummary":
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
            estimates=np.zeros((0, r, n_epochs, n_layers, n_splits, len(ESTIMATE_COLUMNS))),
            probe=np.full((r, n_epochs, n_probe, probe_width) if n_probe else (r, 0, 0, 0), np.nan, np.float32),
            split_min=nan((r, n_epochs, n_layers, n_splits), np.nan),
            split_max=nan((r, n_epochs, n_layers, n_splits), np.nan),
            epoch_loss=nan((r, n_trained + 1, 2), np.nan, np.float32),
            epoch_accuracy=nan((r, n_trained + 1, 2), np.nan, np.float32),
        )

    def check(self, path: Path, runs: tuple[int, ...] | None = None, n_epochs: int | None = None) -> None:
        """Raise :class:`PartFolderError` unless the fields fit together (and
        hold ``runs`` over ``n_epochs`` recorded epochs, when given)."""
        r = len(self.runs)
        e, n_layers = self.act_min.shape[1:] if self.act_min.ndim == 3 else (-1, -1)
        expected = {
            "loss": (r, e, 2), "accuracy": (r, e, 2), "act_min": (r, e, n_layers), "act_max": (r, e, n_layers),
            "grad_mean": (r, e, n_layers), "grad_std": (r, e, n_layers), "weight_norm": (r, e, n_layers),
            "run_status": (r,), "stop_epoch": (r,),
        }
        wrong = [name for name, shape in expected.items() if getattr(self, name).shape != shape]
        n_splits = self.split_min.shape[-1] if self.split_min.ndim == 4 else -1
        for name in ("split_min", "split_max"):
            if getattr(self, name).shape != (r, e, n_layers, n_splits):
                wrong.append(name)
        if self.estimates.ndim != 6 or self.estimates.shape[1:] != (r, e, n_layers, n_splits, len(ESTIMATE_COLUMNS)):
            wrong.append("estimates")
        n_trained = self.epoch_loss.shape[1] if self.epoch_loss.ndim == 3 else -1
        for name in ("epoch_loss", "epoch_accuracy"):
            if getattr(self, name).shape != (r, n_trained, 2):
                wrong.append(name)
        if self.probe.ndim != 4 or self.probe.shape[0] != r:
            wrong.append("probe")
        if runs is not None and tuple(int(x) for x in self.runs) != tuple(runs):
            wrong.append("runs")
        if n_epochs is not None and e != n_epochs:
            wrong.append("recorded epochs")
        if wrong:
            raise PartFolderError(f"{path} is not a summary ibsim wrote for this group (wrong {', '.join(wrong)})")


@dataclass
class Checkpoint:
    """A group's training state: enough to continue bit for bit."""

    epoch: int
    slot: int
    ensemble: EnsembleState
    summary: GroupSummary
    inline: np.ndarray  # (inline estimators, R, E, L, S, 4): GroupSummary.estimates so far


class EpochWriter:
    """Writes one recorded epoch of every layer into the part arrays.

    Plain positioned writes rather than a memory map: a fresh map faults in
    every page it touches, which cost more than the training itself.
    """

    def __init__(self, paths: list[Path]) -> None:
        self._files = []
        for path in paths:
            header = np.load(path, mmap_mode="r")
            with os_errors(path, "opening"):
                fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
            self._files.append((fd, header.offset, header.shape, path))
            del header

    def sync(self) -> None:
        """Make the epochs written so far durable (before a checkpoint refers to them)."""
        for fd, _, _, path in self._files:
            with os_errors(path):
                os.fsync(fd)

    def write(self, slot: int, layers: list[np.ndarray], valid: np.ndarray | None = None) -> None:
        """Store ``layers[k]`` (runs, samples, width) as recorded epoch ``slot``
        (all runs, stopped ones too: their values say how they stopped)."""
        for (fd, offset, shape, path), values in zip(self._files, layers):
            block = np.ascontiguousarray(values, dtype=np.float32)
            if block.shape != shape[1:]:
                raise ValueError(f"expected an epoch of shape {shape[1:]}, got {block.shape}")
            with os_errors(path):
                written = os.pwrite(fd, memoryview(block).cast("B"), offset + slot * block.nbytes)
            if written != block.nbytes:  # a short write: the file system ran out of room
                raise disk_full(path)

    def close(self) -> None:
        for fd, _, _, _ in self._files:
            os.close(fd)
        self._files = []


def is_zombie(pid: int) -> bool:
    """Whether a process has ended but was not reaped by its parent yet (Linux; False elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, data only (no pickles), with errors that name it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except Exception as error:  # noqa: BLE001 - OSError, ValueError (pickles), zipfile.BadZipFile...: named
        raise PartFolderError(f"{path} is damaged or not a file ibsim wrote ({type(error).__name__}: {error})") from None


def _load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """A float ``.npy`` array (data only), with errors that name it."""
    if path.is_symlink() or not path.is_file():
        raise PartFolderError(f"{path} is missing or not a regular file ibsim wrote")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise PartFolderError(f"{path} is damaged or not a file ibsim wrote ({type(error).__name__}: {error})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise PartFolderError(f"{path} is not a float array ibsim wrote")
    return array


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
        new ones, or (``reopen``) the existing ones of an interrupted run, which
        must be exactly what this run wrote (float32 of these shapes)."""
        folder = self.group_dir(group)
        with os_errors(folder, "creating"):
            folder.mkdir(parents=True, exist_ok=True)
        paths = [self._activation_path(group, k) for k in range(len(shapes))]
        for path, shape in zip(paths, shapes):
            if reopen:
                array = _load_npy(path, mmap=True)
                if array.dtype != np.float32 or array.shape != shape:
                    raise PartFolderError(
                        f"{path} is not the activation array this run wrote (expected float32 {shape}, found "
                        f"{array.dtype} {array.shape}); run without --resume to start afresh"
                    )
                continue
            path.unlink(missing_ok=True)  # never write through a link left in the folder
            with os_errors(path, "creating"):
                np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape).flush()
        return EpochWriter(paths)

    def open_activations(self, group: int, n_layers: int) -> list[np.ndarray]:
        """The group's activation arrays (epochs, runs, samples, width), read-only and memory-mapped."""
        return [_load_npy(self._activation_path(group, k), mmap=True) for k in range(n_layers)]

    def _summary_path(self, group: int) -> Path:
        return self.group_dir(group) / "summary.npz"

    def write_summary(self, group: int, summary: GroupSummary) -> None:
        """Store the summary atomically; from now on the group counts as done."""
        path = self._summary_path(group)
        with os_errors(path.parent, "creating"):
            path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f.name: getattr(summary, f.name) for f in fields(GroupSummary)}
        atomic_write(path, _fsynced_save(lambda handle: np.savez(handle, **arrays)))

    def read_summary(self, group: int, runs: tuple[int, ...] | None = None,
                     n_epochs: int | None = None) -> GroupSummary:
        """The group's summary, checked (and, given ``runs`` and ``n_epochs``,
        checked to be this group's)."""
        path = self._summary_path(group)
        data = _load_npz(path)
        missing = [f.name for f in fields(GroupSummary) if f.name not in data]
        if missing or any(data[name].dtype.kind not in "biuf" for name in data):
            raise PartFolderError(f"{path} is not a summary ibsim wrote (missing or non-numeric: "
                                  f"{', '.join(missing) or 'some fields'})")
        summary = GroupSummary(**{f.name: data[f.name] for f in fields(GroupSummary)})
        summary.check(path, runs, n_epochs)
        return summary

    def is_done(self, group: int) -> bool:
        return self._summary_path(group).is_file()

    def _estimate_path(self, unit_index: int) -> Path:
        return self.root / "estimates" / f"unit_{unit_index:06d}.npy"

    def write_estimate(self, unit_index: int, values: np.ndarray) -> None:
        """Store a deferred estimation unit's result (atomically)."""
        path = self._estimate_path(unit_index)
        with os_errors(path.parent, "creating"):
            path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, _fsynced_save(lambda handle: np.save(handle, values)))

    def read_estimate(self, unit_index: int, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """A deferred unit's result (checked to have ``shape``, when given)."""
        path = self._estimate_path(unit_index)
        values = _load_npy(path)
        if shape is not None and values.shape != tuple(shape):
            raise PartFolderError(f"{path} is not the estimate this run wrote (shape {values.shape}, "
                                  f"expected {tuple(shape)})")
        return values

    def has_estimate(self, unit_index: int) -> bool:
        return self._estimate_path(unit_index).is_file()

    # ------------------------------------------------------------ checkpoints
    def _checkpoint_path(self, group: int) -> Path:
        return self.group_dir(group) / "checkpoint.npz"

    def write_checkpoint(self, group: int, checkpoint: Checkpoint, config_fingerprint: str) -> None:
        """Store a group's training state atomically (replacing the previous one)
        as plain arrays and JSON: nothing in it can run code when read back."""
        path = self._checkpoint_path(group)
        state = checkpoint.ensemble
        meta = {
            "format": CHECKPOINT_FORMAT, "config_hash": config_fingerprint,
            "epoch": int(checkpoint.epoch), "slot": int(checkpoint.slot), "steps": int(state.steps),
            "counts": [len(state.params), len(state.slots), len(state.moving)],
            "rng_states": state.rng_states,
        }
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta)), "active": np.asarray(state.active),
                                         "inline": np.asarray(checkpoint.inline)}
        for kind in ("params", "slots", "moving"):
            for k, value in enumerate(getattr(state, kind)):
                arrays[f"{kind}_{k}"] = np.asarray(value)
        for f in fields(GroupSummary):
            if f.name != "estimates":  # the inline estimates so far are ``inline``
                arrays[f"summary_{f.name}"] = getattr(checkpoint.summary, f.name)
        with os_errors(path.parent, "creating"):
            path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, _fsynced_save(lambda handle: np.savez(handle, **arrays)))

    def read_checkpoint(self, group: int, config_fingerprint: str, like: Checkpoint,
                        max_epoch: int) -> Checkpoint | None:
        """The group's latest checkpoint, or None; checked against ``like`` (the
        state of the same group freshly built: every array's dtype and shape),
        the config's fingerprint and the epoch range.

        Raises:
            PartFolderError: The file is damaged, foreign or of another config.
        """
        path = self._checkpoint_path(group)
        if not path.exists() and not path.is_symlink():
            return None
        if path.is_symlink() or not path.is_file():
            raise PartFolderError(f"{path} is not a regular file ibsim wrote")
        data = _load_npz(path)

        def refuse(why: str) -> PartFolderError:
            return PartFolderError(f"{path} is not a checkpoint ibsim wrote for this run ({why}); run without "
                                   "--resume to start afresh")

        try:
            meta = json.loads(str(data.pop("meta")))
        except (KeyError, ValueError) as error:
            raise refuse(f"no readable meta record: {error}") from None
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            raise refuse("unknown format")
        if meta.get("config_hash") != config_fingerprint:
            raise refuse("it belongs to a different config")
        epoch, slot, steps = meta.get("epoch"), meta.get("slot"), meta.get("steps")
        n_slots = like.summary.act_min.shape[1]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (epoch, slot, steps)) \
                or not (0 <= epoch <= max_epoch and 0 <= slot <= n_slots and steps >= 0):
            raise refuse(f"epoch {epoch!r}, slot {slot!r}, steps {steps!r} out of range")
        template = like.ensemble
        counts = [len(template.params), len(template.slots), len(template.moving)]
        rng_states = meta.get("rng_states")
        if meta.get("counts") != counts or not isinstance(rng_states, list) \
                or len(rng_states) != len(template.rng_states) or not all(isinstance(s, dict) for s in rng_states):
            raise refuse("its network state does not match this group's network")
        for state in rng_states:
            try:
                np.random.PCG64().state = state  # the setter checks every field
            except (TypeError, ValueError, KeyError, OverflowError) as error:
                raise refuse(f"a batch-order generator state is invalid: {error}") from None

        def array(name: str, like_value: np.ndarray) -> np.ndarray:
            if name not in data:
                raise refuse(f"{name} is missing")
            value, like_value = data[name], np.asarray(like_value)
            if value.dtype != like_value.dtype or value.shape != like_value.shape:
                raise refuse(f"{name} is {value.dtype} {value.shape}, expected {like_value.dtype} {like_value.shape}")
            return value

        state = EnsembleState(
            params=[array(f"params_{k}", v) for k, v in enumerate(template.params)],
            slots=[array(f"slots_{k}", v) for k, v in enumerate(template.slots)],
            moving=[array(f"moving_{k}", v) for k, v in enumerate(template.moving)],
            steps=steps, active=array("active", template.active), rng_states=rng_states,
        )
        summary = GroupSummary(**{f.name: array(f"summary_{f.name}", getattr(like.summary, f.name))
                                  for f in fields(GroupSummary) if f.name != "estimates"},
                               estimates=like.summary.estimates)
        return Checkpoint(epoch=epoch, slot=slot, ensemble=state, summary=summary,
                          inline=array("inline", like.inline))

    # ------------------------------------------------------------- run state
    @property
    def run_file(self) -> Path:
        return self.root / "run.json"

    def read_run(self) -> dict[str, Any] | None:
        """The run record (status, config hash, pid, host, error), or None when
        there is none or it is not ibsim's."""
        try:
            record = json.loads(self.run_file.read_text())
        except (OSError, ValueError):
            return None
        return record if is_own_record(record) else None

    def write_run(self, **fields: Any) -> None:
        """Update the run record atomically (on a full disk, in place, so that a
        failure is still recorded; never leaves a temporary behind)."""
        record = {**(self.read_run() or {}), **fields, "made_by": MADE_BY,
                  "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        text = json.dumps(record, indent=2)
        with os_errors(self.root, "creating"):
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            atomic_write(self.run_file, lambda tmp: tmp.write_text(text))
        except DiskFullError:
            if not self.run_file.is_file():
                raise
            with os_errors(self.run_file):
                fd = os.open(self.run_file, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
                try:
                    os.write(fd, text.encode())
                finally:
                    os.close(fd)

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

    # ----------------------------------------------------------- ownership
    def foreign_entries(self) -> list[str]:
        """Entries of the folder that ibsim does not write there (relative paths;
        links and anything not a plain file or folder count as foreign)."""
        foreign = []
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root).as_posix()
            kind_ok = path.is_dir() if re.fullmatch(r"group_\d{5}|estimates", relative) else path.is_file()
            if path.is_symlink() or not kind_ok or not is_own_name(relative):
                foreign.append(relative)
        return foreign

    def check_own(self) -> dict[str, Any]:
        """The folder's run record, after checking that the folder is ibsim's.

        Raises:
            PartFolderError: It is not a folder, its ``run.json`` is missing,
                corrupt or not ibsim's, or it holds files ibsim does not write.
                Nothing is removed.
        """
        leave = "it is left alone: move or remove it yourself, or choose another --output"
        if self.root.is_symlink() or not self.root.is_dir():
            raise PartFolderError(f"{self.root} exists but is not a part folder ibsim made; {leave}")
        try:
            text = self.run_file.read_text()
        except FileNotFoundError:
            raise PartFolderError(f"{self.root} exists but was not made by ibsim (it has no run.json); "
                                  f"{leave}") from None
        except OSError as error:
            raise PartFolderError(f"cannot read {self.run_file}: {error.strerror or error}; {leave}") from None
        try:
            record = json.loads(text)
        except ValueError:
            raise PartFolderError(f"{self.run_file} is corrupt (not JSON); {leave}") from None
        if not is_own_record(record):
            raise PartFolderError(f"{self.run_file} is not a run record ibsim wrote; {leave}")
        foreign = self.foreign_entries()
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise PartFolderError(f"{self.root} holds files ibsim did not write ({shown}); {leave}")
        return record

    def used_bytes(self) -> int:
        """Disk blocks the folder's files occupy now (part files are sparse until written)."""
        total = 0
        if self.root.is_dir():
            for path in self.root.rglob("*"):
                try:
                    if path.is_file() and not path.is_symlink():
                        total += path.stat().st_blocks * 512
                except OSError:
                    continue
        return total

    def remove(self) -> None:
        """Delete what ibsim wrote in the folder, then the folder if it is empty
        (anything else found there is left, and so is the folder)."""
        if self.root.is_symlink() or not self.root.is_dir():
            return
        paths = sorted(self.root.rglob("*"), key=lambda p: len(p.parts), reverse=True)
        for path in paths:
            relative = path.relative_to(self.root).as_posix()
            if not is_own_name(relative):
                continue
            try:
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                else:
                    path.unlink()
            except OSError:
                continue
        try:
            self.root.rmdir()
        except OSError:
            pass
