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

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ibsim.config.config import Config
from ibsim.parallel import make_backend
from ibsim.pipeline.assemble import assemble
from ibsim.pipeline.data import experiment_data
from ibsim.pipeline.estimation import estimate_unit
from ibsim.pipeline.parts import GroupSummary, PartStore
from ibsim.pipeline.plan import AssemblyUnit, EstimationUnit, Group, Plan, make_plan
from ibsim.pipeline.training import train_group


@dataclass(frozen=True)
class Job:
    """One experiment of a run: its config, plan, output and part folder."""

    config: Config
    plan: Plan
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


def train_task(context: RunContext, item: JobUnit) -> GroupSummary:
    """Training unit (runs in a worker): train a group into its job's part store."""
    job = context.jobs[item.job]
    data = experiment_data(job.config, context.data_dir)
    return train_group(job.config, job.plan, item.unit, data, PartStore(job.parts), context.threads, context.quiet)


def estimate_task(context: RunContext, item: JobUnit) -> None:
    """Deferred estimation unit (runs in a worker): its result goes to the part folder."""
    job = context.jobs[item.job]
    data = experiment_data(job.config, context.data_dir)
    store = PartStore(job.parts)
    store.write_estimate(item.unit.index, estimate_unit(job.config, item.unit, job.plan.epochs, data, store))


def assemble_task(context: RunContext, item: JobUnit) -> Path:
    """Assembly unit (runs in a worker): write one experiment's results file and
    remove its part folder."""
    job = context.jobs[item.job]
    store = PartStore(job.parts)
    summaries = [store.read_summary(g.index) for g in job.plan.groups]
    pieces = [store.read_estimate(u.index) for u in job.plan.estimation_units]
    estimates = gather_estimates(job.plan, summaries, pieces, job.plan.estimation_units)
    data = experiment_data(job.config, context.data_dir)
    attrs = {"backend": context.backend, "source": job.config.source or ""}
    assemble(job.config, job.plan, data, store, summaries, estimates, job.output, attrs)
    store.remove()
    return job.output


def gather_estimates(plan: Plan, summaries: list[GroupSummary], pieces: list[np.ndarray],
                     units: Sequence[EstimationUnit]) -> np.ndarray:
    """All estimates (estimators, runs, epochs, layers, 2) from the groups'
    inline estimates and the deferred units' pieces."""
    n_layers = summaries[0].act_min.shape[2]
    n_estimators = len(plan.inline_estimators) + len(plan.deferred_estimators)
    estimates = np.full((n_estimators, len(plan.runs), len(plan.epochs), n_layers, 2), np.nan)
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
    cubes = runs * len(job.plan.epochs) * sum(config.architecture) if config.save_activations else 0
    return 1.0 + cubes / 1e4


def parts_path(output: Path) -> Path:
    """The part folder of an output file."""
    return output.with_name(output.name + ".parts")


def run_experiments(
    configs: Sequence[Config],
    outputs: Sequence[str | Path],
    *,
    data_dir: str | Path | None = None,
    backend: str = "auto",
    jobs: int | None = None,
    quiet: bool = True,
    resume: bool = False,
) -> list[Path]:
    """Run experiments as one pool of units and write one results file each.

    Args:
        configs: The experiments.
        outputs: One results file per experiment.
        data_dir: Folder of downloaded datasets (default: ``IBSIM_DATA_DIR`` or the user cache).
        backend: "auto", "serial", "joblib" or "mpi".
        jobs: Workers of the joblib backend.
        quiet: Hide progress bars.
        resume: Continue interrupted runs (reserved; see docs/reliability.md).

    Returns:
        The files written (on MPI ranks other than 0: an empty list).
    """
    from ibsim.datasets.files import data_dir as resolve_data_dir

    runner = make_backend(backend, jobs)
    try:
        job_list = tuple(
            Job(config, make_plan(config), Path(output), parts_path(Path(output)))
            for config, output in zip(configs, outputs)
        )
        context = RunContext(job_list, str(resolve_data_dir(data_dir)), quiet, runner.threads, runner.describe())
        for job in job_list:  # a missing or corrupt data file fails here, before any training
            experiment_data(job.config, context.data_dir)
        training = [JobUnit(j, g, job.config.name) for j, job in enumerate(job_list) for g in job.plan.groups]
        estimation = [JobUnit(j, u, job.config.name)
                      for j, job in enumerate(job_list) for u in job.plan.estimation_units]
        assembly = [JobUnit(j, AssemblyUnit(cost=_file_cost(job)), job.config.name)
                    for j, job in enumerate(job_list)]
        runner.map(train_task, context, training, desc="training", quiet=quiet)
        runner.map(estimate_task, context, estimation, desc="estimating", quiet=quiet)
        written = runner.map(assemble_task, context, assembly, desc="writing", quiet=quiet)
        return list(written) if runner.is_root else []
    finally:
        runner.close()


def run_experiment(
    config: Config,
    output: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    backend: str = "auto",
    jobs: int | None = None,
    quiet: bool = True,
    resume: bool = False,
):
    """Train, record, estimate and write one experiment's results.

    Returns:
        :class:`~ibsim.results.Results` opened from ``output``, or loaded into
        memory when no output was given (None on MPI ranks other than 0).
    """
    from ibsim.results import Results

    with tempfile.TemporaryDirectory(prefix="ibsim-") as scratch:
        path = Path(output) if output is not None else Path(scratch) / "results.nc"
        written = run_experiments([config], [path], data_dir=data_dir, backend=backend, jobs=jobs,
                                  quiet=quiet, resume=resume)
        if not written:
            return None
        return Results.load(path) if output is None else Results.open(path)
