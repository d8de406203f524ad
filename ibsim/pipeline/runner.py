"""Running experiments end to end with a backend.

Several experiments (the points of a sweep, a folder of configs) run as one
pool of units in three phases, each spread over the same workers or ranks so
that many small experiments keep many ranks busy: all training units, then all
deferred estimation units, then one assembly unit per experiment, which writes
its results file from what the earlier phases left in the part folder (on
several nodes the output folder must be on a shared file system). A single
experiment's file is written by rank 0.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import re
import socket
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ibsim.config.config import Config
from ibsim.datasets.files import data_dir as resolve_data_dir
from ibsim.errors import DiskFullError, IbsimError, OutputError, PartFolderError
from ibsim.estimators.base import ESTIMATE_COLUMNS
from ibsim.parallel import make_backend
from ibsim.pipeline import budget
from ibsim.pipeline.assemble import assemble
from ibsim.pipeline.data import check_trainable, experiment_data
from ibsim.pipeline.estimation import estimate_unit
from ibsim.pipeline.options import RunOptions
from ibsim.paths import check_output_file, free_bytes
from ibsim.pipeline.parts import GroupSummary, PartStore, os_errors
from ibsim.pipeline.plan import (AssemblyUnit, EstimationUnit, Group, Plan, PlanShape, layer_sizes, make_plan,
                                plan_shape)
from ibsim.pipeline.training import divergence_note, train_group
from ibsim.resultsfile.provenance import RunRecord, current_record, record_run


@dataclass(frozen=True)
class Job:
    """One experiment of a run: its config, plan, output and part folder."""

    config: Config
    plan: Plan | None  # None while the run is checked, before the plan is built
    output: Path
    parts: Path


@dataclass(frozen=True)
class RunContext:
    """What every unit needs, small enough to send to any worker."""

    jobs: tuple[Job, ...]
    data_dir: str | None
    quiet: bool
    threads: int
    backend: str
    resume: bool = False
    #: the run's provenance (start, host, command line, git state, the root's
    #: warnings so far), written into each results file by its assembly unit
    record: RunRecord | None = dataclasses.field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class JobUnit:
    """A unit of one job (a group to train, an estimation unit, an assembly)."""

    job: int
    unit: Group | EstimationUnit | AssemblyUnit
    experiment: str

    @property
    def cost(self) -> float:
        return self.unit.cost

    def __str__(self) -> str:
        return f"{self.unit} of experiment '{self.experiment}'"


def train_task(context: RunContext, item: JobUnit) -> None:
    """Training unit (runs in a worker): train a group into its job's part store."""
    job = context.jobs[item.job]
    data = experiment_data(job.config, context.data_dir)
    train_group(job.config, job.plan, item.unit, data, PartStore(job.parts), context.threads, context.quiet,
                resume=context.resume)


def estimate_task(context: RunContext, item: JobUnit) -> None:
    """Deferred estimation unit (runs in a worker): its result goes to the part folder."""
    job = context.jobs[item.job]
    store = PartStore(job.parts)
    if context.resume and store.has_estimate(item.unit.index):
        return
    data = experiment_data(job.config, context.data_dir)
    store.write_estimate(item.unit.index, estimate_unit(job.config, item.unit, job.plan.epochs, data, store))


def assemble_task(context: RunContext, item: JobUnit) -> Path:
    """Assembly unit (runs in a worker): write one experiment's results file and
    remove its part folder."""
    job = context.jobs[item.job]
    store = PartStore(job.parts)
    plan = job.plan
    summaries = [store.read_summary(g.index, g.runs, len(plan.epochs)) for g in plan.groups]
    n_layers, n_splits = summaries[0].split_min.shape[2:]
    pieces = [store.read_estimate(u.index, (len(plan.groups[u.group].runs), u.epoch_stop - u.epoch_start, n_layers,
                                            n_splits, len(ESTIMATE_COLUMNS)))
              for u in plan.estimation_units]
    estimates = gather_estimates(plan, summaries, pieces, plan.estimation_units)
    data = experiment_data(job.config, context.data_dir)
    epochs = np.asarray(plan.epochs)
    notes = [divergence_note(job.config.name, summary, epochs) for summary in summaries]
    record = context.record or current_record()
    attrs = {"backend": context.backend, "source": job.config.source or "", **record.attrs(notes)}
    with os_errors(job.output):
        assemble(job.config, plan, data, store, summaries, estimates, job.output, attrs)
    store.remove()
    return job.output


def gather_estimates(plan: Plan, summaries: list[GroupSummary], pieces: list[np.ndarray],
                     units: Sequence[EstimationUnit]) -> np.ndarray:
    """All estimates and their standard errors (estimators, runs, epochs, layers,
    splits, 4) from the groups' inline estimates and the deferred units' pieces."""
    n_layers, n_splits = summaries[0].split_min.shape[2:]
    n_estimators = len(plan.inline_estimators) + len(plan.deferred_estimators)
    estimates = np.full((n_estimators, len(plan.runs), len(plan.epochs), n_layers, n_splits, len(ESTIMATE_COLUMNS)),
                        np.nan)
    offsets = np.cumsum([0] + [len(g.runs) for g in plan.groups])
    for group, summary in zip(plan.groups, summaries):
        rows = slice(offsets[group.index], offsets[group.index + 1])
        for position, index in enumerate(plan.inline_estimators):
            estimates[index, rows] = summary.estimates[position]
    for unit, piece in zip(units, pieces):
        start = offsets[unit.group]
        estimates[unit.estimator, start : start + piece.shape[0], unit.epoch_start : unit.epoch_stop] = piece
    return estimates


def _file_cost(job: Job) -> float:
    """Relative cost of writing a job's file (its activation cubes dominate)."""
    config = job.config
    runs = len(job.plan.runs)
    cubes = runs * len(job.plan.epochs) * layer_sizes(config)[1] if config.save_activations else 0
    return 1.0 + cubes / 1e4


def parts_path(output: Path) -> Path:
    """The part folder of an output file."""
    return output.with_name(output.name + ".parts")


def resolve_output(config: Config, output: str | Path) -> Path:
    """The results file of an experiment: ``output``, or ``output/<name>.nc``
    when ``output`` is an existing folder."""
    path = Path(output)
    return path / f"{config.name}.nc" if path.is_dir() else path


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ibsim-probe-"):
            pass
    except OSError as error:
        raise OutputError(f"cannot write to the output folder {folder}: {error.strerror or error}") from None


def _remove_stale_temporaries(output: Path) -> None:
    """Delete ``.<name>.<pid>.tmp`` files left by writers that no longer run."""
    for tmp in output.parent.glob(f".{glob.escape(output.name)}.*.tmp"):
        pid = tmp.name[len(output.name) + 2 : -4]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                tmp.unlink(missing_ok=True)
            except PermissionError:
                pass


def prepare(job: Job, resume: bool, quiet: bool) -> None:
    """Before any work (on the root): the output is a file ibsim may replace in
    a writable folder, no other run holds the part folder, an interrupted run
    of ibsim's is resumed or cleared (a folder ibsim did not make is left alone
    and refused), and the part folder says this run is going."""
    check_output_file(job.output, "results file")
    _check_writable(job.output.parent)
    _remove_stale_temporaries(job.output)
    store = PartStore(job.parts)
    if job.parts.exists() or job.parts.is_symlink():
        record = store.check_own()
        if store.held_by_live_process():
            raise OutputError(
                f"another ibsim run (pid {record.get('pid')}) is writing {job.parts}; wait for it to finish "
                "or choose another --output"
            )
        if resume:
            if record.get("config_hash") != job.config.fingerprint():
                raise OutputError(
                    f"{job.parts} holds an interrupted run of a different config; run without --resume "
                    "to start afresh (it will be removed), or restore the config it was started with"
                )
        else:
            if not quiet:
                print(f"ibsim: removing {job.parts}, left by an interrupted run (--resume continues such a run)",
                      file=sys.stderr)
            store.remove()
            if job.parts.exists():
                raise PartFolderError(f"{job.parts} could not be cleared (files appeared in it while it was "
                                      "removed); it is left alone")
    store.write_run(status="running", pid=os.getpid(), host=socket.gethostname(),
                    started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    config_hash=job.config.fingerprint(), output=str(job.output), name=job.config.name,
                    config=job.config.to_toml(), error=None)


def check_budget(targets: Sequence[tuple[Config, Path]], data_dir: str | None, workers: int,
                 resume: bool = False) -> list[tuple[PlanShape, budget.Resources]]:
    """Check, by arithmetic on each config and its data alone (no plan is built,
    nothing of the run's size allocated), that every experiment can train and
    fits the disk and memory; raises when one does not.

    Args:
        targets: (config, results file) per experiment.
        data_dir: Folder of downloaded datasets.
        workers: Workers on this machine at once.
        resume: Count what the part folders already hold as on disk.

    Returns:
        Each experiment's plan sizes and resources.
    """
    needs = []
    for config, output in targets:
        data = experiment_data(config, data_dir)
        check_trainable(config, data)
        shape = plan_shape(config)
        resources = budget.estimate(config, shape, len(data.splits.full_dataset), data.recorded.X.shape[1],
                                    data.n_classes, len(data.recorded))
        if resume:
            resources = dataclasses.replace(resources, on_disk=PartStore(parts_path(output)).used_bytes())
        needs.append((config.name, output, shape, resources))
    budget.check([(name, output, resources) for name, output, _, resources in needs], workers)
    return [(shape, resources) for _, _, shape, resources in needs]


#: The start of :func:`ibsim.paths.disk_full`'s message, found in a worker's error.
DISK_FULL_PATTERN = re.compile(r"disk full while \w+ .+? (?=\(\d+ MB free in )")


def _disk_full_message(error: BaseException, targets: Sequence[tuple[Config, Path]],
                       needs: Sequence[tuple[PlanShape, budget.Resources]]) -> str | None:
    """For a run stopped by a full disk (in any worker or rank): the message,
    with how much room the rest of the run needs; None for other errors."""
    found = DISK_FULL_PATTERN.search(str(error))
    if found is None:
        return None
    if not needs:
        return str(error)
    folder = Path(targets[0][1]).resolve().parent
    remaining = sum(max(0, r.disk_bytes - PartStore(parts_path(output)).used_bytes())
                    for (_, output), (_, r) in zip(targets, needs))
    return (f"{found.group(0).rstrip()}; to finish, this run needs about {budget.gb(remaining)} more in {folder} "
            f"({budget.gb(free_bytes(folder))} free now): free that much and run the same command "
            "again with --resume")


@record_run
def run_experiments(
    configs: Sequence[Config],
    outputs: Sequence[str | Path],
    options: RunOptions | None = None,
    **changes: Any,
) -> list[Path]:
    """Run experiments as one pool of units and write one results file each.

    Args:
        configs: The experiments.
        outputs: One results file per experiment (an existing folder: the file
            ``<name>.nc`` inside it).
        options: How to run (backend, workers, data folder, resume, progress).
        **changes: Single run options (``backend="serial"``) over ``options``.

    Returns:
        The files written (on MPI ranks other than 0: an empty list).
    """
    options = RunOptions.from_kwargs(options, **changes)
    resume, quiet = options.resume, options.quiet
    runner = make_backend(options.backend, options.jobs)
    targets = [(config, resolve_output(config, output)) for config, output in zip(configs, outputs)]
    started: list[Job] = []
    needs: list[tuple[PlanShape, budget.Resources]] = []
    try:
        context_dir = str(resolve_data_dir(options.data_dir))
        refusal = None
        if runner.is_root:
            # everything that can be checked before training, by arithmetic before
            # any plan is built: data files (and their checksums), values that
            # cannot train, room on disk and in memory, the output paths
            try:
                needs = check_budget(targets, context_dir, runner.jobs, resume)
                for config, output in targets:
                    job = Job(config, None, output, parts_path(output))
                    prepare(job, resume, quiet)
                    started.append(job)
            except IbsimError as error:
                refusal = error
        runner.share(refusal)
        job_list = tuple(Job(config, make_plan(config), output, parts_path(output)) for config, output in targets)
        context = RunContext(job_list, context_dir, quiet, runner.threads, runner.describe(), resume,
                             current_record())
        training = [JobUnit(j, g, job.config.name) for j, job in enumerate(job_list) for g in job.plan.groups]
        estimation = [JobUnit(j, u, job.config.name)
                      for j, job in enumerate(job_list) for u in job.plan.estimation_units]
        assembly = [JobUnit(j, AssemblyUnit(cost=_file_cost(job)), job.config.name)
                    for j, job in enumerate(job_list)]
        runner.map(train_task, context, training, desc="training", quiet=quiet)
        runner.map(estimate_task, context, estimation, desc="estimating", quiet=quiet)
        written = runner.map(assemble_task, context, assembly, desc="writing", quiet=quiet)
        return list(written) if runner.is_root else []
    except BaseException as error:
        message = _disk_full_message(error, targets, needs) if runner.is_root else None
        for job in started:  # what failed, said where the run was going on
            if job.parts.exists():
                try:
                    PartStore(job.parts).write_run(status="failed", error=message or f"{type(error).__name__}: {error}")
                except IbsimError:
                    pass  # the disk is full even for the record; the message below still says what happened
        if message is not None:
            raise DiskFullError(message) from None
        raise
    finally:
        runner.close()
