"""Running an experiment end to end with a backend."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ibsim.config.config import Config
from ibsim.parallel import make_backend
from ibsim.pipeline.assemble import assemble
from ibsim.pipeline.data import experiment_data
from ibsim.pipeline.estimation import estimate_unit
from ibsim.pipeline.parts import GroupSummary, PartStore
from ibsim.pipeline.plan import EstimationUnit, Group, Plan, make_plan
from ibsim.pipeline.training import train_group


@dataclass(frozen=True)
class UnitContext:
    """What every unit needs, small enough to send to any worker."""

    config: Config
    plan: Plan
    data_dir: str | None
    parts: str
    quiet: bool
    threads: int


def train_task(context: UnitContext, group: Group) -> GroupSummary:
    """Training unit (runs in a worker): train ``group`` into the part store."""
    data = experiment_data(context.config, context.data_dir)
    return train_group(
        context.config, context.plan, group, data, PartStore(context.parts), context.threads, context.quiet
    )


def estimate_task(context: UnitContext, unit: EstimationUnit) -> np.ndarray:
    """Estimation unit (runs in a worker)."""
    data = experiment_data(context.config, context.data_dir)
    return estimate_unit(context.config, unit, context.plan.epochs, data, PartStore(context.parts))


def gather_estimates(plan: Plan, summaries: list[GroupSummary], pieces: list[np.ndarray]) -> np.ndarray:
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
    for unit, piece in zip(plan.estimation_units, pieces):
        start = offsets[unit.group]
        estimates[unit.estimator, start : start + piece.shape[0], unit.epoch_start : unit.epoch_stop] = piece
    return estimates


def parts_path(output: Path) -> Path:
    """The part folder of an output file."""
    return output.with_name(output.name + ".parts")


def run_experiment(
    config: Config,
    output: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    backend: str = "serial",
    jobs: int | None = None,
    quiet: bool = True,
    resume: bool = False,
):
    """Train, record, estimate and write ``config``'s results.

    Returns:
        :class:`~ibsim.results.Results`: opened from ``output``, or loaded into
        memory when no output was given.
    """
    from ibsim.results import Results

    from ibsim.datasets.files import data_dir as resolve_data_dir

    data_dir = resolve_data_dir(data_dir)
    in_memory = output is None
    scratch = tempfile.TemporaryDirectory(prefix="ibsim-") if in_memory else None
    path = Path(scratch.name) / "results.nc" if scratch else Path(output)
    runner = make_backend(backend, jobs)
    try:
        plan = make_plan(config)
        store = PartStore(parts_path(path))
        context = UnitContext(config, plan, str(data_dir) if data_dir else None, str(store.root), quiet,
                              runner.threads)
        summaries = runner.map(train_task, context, plan.groups, desc="training", quiet=quiet)
        pieces = runner.map(estimate_task, context, plan.estimation_units, desc="estimating", quiet=quiet)
        if runner.is_root:
            estimates = gather_estimates(plan, summaries, pieces)
            data = experiment_data(config, data_dir)
            attrs = {"backend": runner.describe(), "source": config.source or ""}
            assemble(config, plan, data, store, summaries, estimates, path, attrs)
            store.remove()
            if in_memory:
                return Results.load(path)
            return Results.open(path)
        return None
    finally:
        runner.close()
        if scratch is not None:
            scratch.cleanup()

