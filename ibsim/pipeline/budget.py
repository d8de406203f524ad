"""Disk and memory an experiment will need, estimated before any training.

A run that cannot fit is refused at once, with the numbers and what to change,
instead of failing hours later. The estimates are deliberately on the safe side
(activations are counted uncompressed, in the dtype the file stores them:
compression depends on the values and cannot be predicted; memory includes
TensorFlow's own).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ibsim.config.config import Config
from ibsim.errors import IbsimError
from ibsim.networks.keras_group import parameter_count, recorded_widths
from ibsim.paths import free_bytes
from ibsim.resultsfile.schema import STORED_TYPES
from ibsim.pipeline.plan import PlanShape

#: Python, TensorFlow and XLA in one worker, measured at about 600 MB; rounded up.
PROCESS_BASE_BYTES = 800 * 2**20
#: Python objects of one work unit of a plan (a dataclass and its tuple), rounded up.
PLAN_UNIT_BYTES = 400


class ResourceError(IbsimError):
    """A run would not fit the disk or the memory of this machine."""


@dataclass(frozen=True)
class Resources:
    """What one experiment needs."""

    part_bytes: int  # recorded activations in the part folder while it runs
    file_bytes: int  # the results file
    worker_bytes: int  # peak memory of one worker
    on_disk: int = 0  # what the part folder of an interrupted run already holds (--resume)

    @property
    def disk_bytes(self) -> int:
        """Disk still needed at the output: the part folder (less what it already
        holds) and the results file exist together while the file is written."""
        return max(0, self.part_bytes - self.on_disk) + self.file_bytes


def estimate(config: Config, shape: PlanShape, n_samples: int, n_features: int, n_classes: int,
             n_recorded: int) -> Resources:
    """Disk and memory for one experiment, by arithmetic on the config alone
    (nothing of the size of the run is allocated to find out).

    Args:
        config: The experiment.
        shape: The sizes of its plan (:func:`~ibsim.pipeline.plan.plan_shape`).
        n_samples: Samples in the dataset.
        n_features: Input features.
        n_classes: Classes.
        n_recorded: Samples of the recorded split.
    """
    image_shape = config.components.dataset.image_shape
    recorded = recorded_widths(config.components.network, n_features, n_classes, image_shape,
                               config.conv_recording)
    runs, epochs, layers = shape.n_runs, shape.n_recorded, len(recorded)
    widths = sum(recorded)
    values = runs * epochs * n_recorded * widths
    part = values * 4 if shape.needs_parts else 0  # the part files hold float32
    n_estimators = len(config.estimator)
    # an upper bound: compression (activation_compressor) took 0.83-0.92 of it, measured; not predictable
    stored = np.dtype(STORED_TYPES[config.activation_dtype]).itemsize
    file = values * stored if config.save_activations else 0
    n_splits = 1 if isinstance(config.calculate_mi_for, str) else len(config.calculate_mi_for)
    trained = runs * (config.epochs + 1) * 2 * 2 * 4  # loss and accuracy on two splits after every epoch
    file += runs * epochs * layers * 8 * (12 + 2 * n_estimators * n_splits) + trained
    group = shape.largest_group
    dataset = n_samples * (n_features + n_classes) * 4 * 3  # splits and their tensors
    epoch = group * n_recorded * widths * 4 * 3  # one recorded epoch: outputs, copies, estimation
    # a group's summary and inline estimates (float64 per run, recorded epoch and layer)
    summary = group * epochs * (4 + layers * (5 + 2 * (n_estimators + 1) * n_splits)) * 8 + trained // runs * group
    widest = max(recorded[:-1] + [n_features])
    kde = n_recorded * widest * 8 * 2 if any(e.startswith("kde") for e in config.estimator) else 0
    # weights, 2 slots, gradients
    weights = group * parameter_count(config.components.network, n_features, n_classes, image_shape) * 4 * 4
    worker = PROCESS_BASE_BYTES + dataset + epoch + summary + kde + weights
    # the root: the plan's units, then assembly's per-run arrays (all estimates,
    # metrics and ranges of every run, twice while the dataset is built)
    plan = (shape.n_groups + shape.n_estimation_units) * PLAN_UNIT_BYTES + epochs * 8
    assembly = (runs * epochs * (4 + layers * (5 + 2 * (n_estimators + 1) * n_splits)) * 8 + trained) * 2
    return Resources(part, file, max(worker, PROCESS_BASE_BYTES + dataset + plan + assembly))


def free_disk_bytes(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (or its nearest existing parent)."""
    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return free_bytes(path)


def available_memory_bytes() -> int | None:
    """Memory available to new work (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def check(needs: list[tuple[str, Path, Resources]], workers: int) -> None:
    """Refuse work that does not fit.

    Args:
        needs: (experiment name, output path, resources) per experiment.
        workers: Workers on this machine at once.

    Raises:
        ResourceError: With the numbers and what to change.
    """
    by_disk: dict[Path, list[tuple[str, Resources]]] = {}
    for name, output, resources in needs:
        by_disk.setdefault(Path(output).resolve().parent, []).append((name, resources))
    for folder, items in by_disk.items():
        needed = sum(r.disk_bytes for _, r in items)
        free = free_disk_bytes(folder)
        if needed > free:
            worst = max(items, key=lambda item: item[1].disk_bytes)
            raise ResourceError(
                f"this run needs about {gb(needed)} of disk in {folder} (recorded activations "
                f"{gb(sum(r.part_bytes for _, r in items))} while it runs, results files "
                f"{gb(sum(r.file_bytes for _, r in items))}) but {gb(free)} are free; the largest is "
                f"'{worst[0]}'. To need less: record fewer epochs (record_schedule = \"log\" with fewer "
                "record_points), keep no activation cubes (save_activations = false), record on the test "
                "split (calculate_mi_for = \"test\"), run fewer runs, or write elsewhere (--output)"
            )
    memory = available_memory_bytes()
    peak = max(r.worker_bytes for _, _, r in needs)
    if memory is not None and peak * workers > memory:
        raise ResourceError(
            f"this run needs about {gb(peak)} of memory per worker, {gb(peak * workers)} for {workers} "
            f"worker(s), but {gb(memory)} are available. To need less: fewer workers (--jobs), smaller "
            "groups (group_size), record on the test split (calculate_mi_for = \"test\")"
        )
