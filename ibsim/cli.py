"""The command line: ``ibsim run | estimate | plot | ls | tensorboard | import-config`` (also ``python -m ibsim``).

Errors a user can cause print one line and exit with status 2 (``ibsim run``
exits with 3 when every run of an experiment diverged); the traceback
appears with ``--debug`` or ``IBSIM_FULL_ERROR=1``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from ibsim.catalog.cli import add_ls_command
from ibsim.catalog.cli import command_ls as list_folder
from ibsim.config.config import parse_overrides
from ibsim.config.keys import plot_file_label
from ibsim.config.seed_import import convert, import_config, read_seed_config
from ibsim.config.sweep import load_configs
from ibsim.datasets.files import data_dir as resolve_data_dir
from ibsim.errors import ElsewhereError, IbsimError, NoFiniteRunError
from ibsim.export import export_projector
from ibsim.paths import check_output_file
from ibsim.pipeline.budget import gb
from ibsim.pipeline.options import RunOptions
from ibsim.resultsfile.schema import DIVERGED
from ibsim.pipeline.plan import make_plan
from ibsim.pipeline.reestimate import estimate_file
from ibsim.pipeline.runner import check_budget, resolve_output, run_experiments
from ibsim.plots import make_plot
from ibsim.results import Results
from ibsim.spec import format_spec, parse_spec

def run_options(args: argparse.Namespace) -> RunOptions:
    """The run options of a parsed command line (the options a command lacks keep their defaults)."""
    names = ("data_dir", "backend", "jobs", "quiet", "resume")
    return RunOptions.from_kwargs(**{name: getattr(args, name) for name in names if hasattr(args, name)})


#: Exit statuses of the command (besides 0, success).
EXIT_BAD_INPUT = 2  # an IbsimError: bad input, a refused run, a damaged file; one line on stderr
EXIT_ALL_DIVERGED = 3  # `ibsim run`: every run of an experiment diverged (its file is written, flagged)
EXIT_INTERRUPTED = 130  # Ctrl-C


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def _add_parallel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=["auto", "serial", "joblib", "mpi"], default="auto",
        help="auto (default): MPI under mpirun/mpiexec/srun with several ranks, joblib with --jobs > 1, "
             "else serial",
    )
    parser.add_argument("--jobs", "-j", type=int, help="worker processes of the joblib backend")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ibsim`` command."""
    parser = argparse.ArgumentParser(
        prog="ibsim", description="Information-plane studies of deep networks: train, record, estimate, plot."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run experiments from a TOML config, a sweep or a folder of configs",
        epilog="Exit status: 0 success; 2 bad input or a refused run (one line on stderr, nothing written); "
               "3 every run of an experiment diverged (its results file is written, with run_status = 2 for "
               "every run).",
    )
    run.add_argument("config", help="TOML experiment file (with an optional [sweep] table) or a folder of them")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key with a TOML value, e.g. --set epochs=100 --set 'architecture=[10,7]'",
    )
    run.add_argument("--output", "-o", help="results file (default: results/<name>.nc); for a sweep or a "
                     "folder, the output folder (default: results/<name>/)")
    run.add_argument("--data-dir", help="folder of downloaded datasets (default: $IBSIM_DATA_DIR or ~/.cache/ibsim/data)")
    run.add_argument("--no-plots", action="store_true", help="do not draw the config's plots")
    run.add_argument("--resume", action="store_true",
                     help="continue an interrupted run of the same config and output from its checkpoints")
    run.add_argument("--dry-run", action="store_true",
                     help="validate, then print the work units and the disk and memory they need; train nothing")
    _add_parallel(run)
    _add_common(run)

    estimate = commands.add_parser(
        "estimate", help="estimate again from the activations stored in a results file"
    )
    estimate.add_argument("results", help="results file (.nc) with activation cubes")
    estimate.add_argument("--estimator", "-e", required=True,
                          help="estimator name or spec, e.g. kde_upper or 'binning(bin_size=0.05)'")
    estimate.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="set an estimator parameter, e.g. --set variance=0.01",
    )
    estimate.add_argument("--output", "-o", help="write the extended file here (default: replace RESULTS)")
    estimate.add_argument("--split", choices=["training", "test", "full_dataset"],
                          help="estimate on this split's samples of a file that recorded more (default: the "
                               "splits the file estimates)")
    _add_parallel(estimate)
    _add_common(estimate)

    board = commands.add_parser(
        "tensorboard", help="export a run's layer activations for TensorBoard's embedding projector"
    )
    board.add_argument("results", help="results file (.nc) with activation cubes")
    board.add_argument("--log-dir", required=True, help="TensorBoard log folder to write")
    # --run, --every, --layers stay text: export_projector checks them against the file (one line, exit 2)
    board.add_argument("--run", default="0", help="position of the run in the file (default 0)")
    board.add_argument("--every", default="1", help="export every N-th recorded epoch (default 1)")
    board.add_argument("--layers", help="comma-separated 1-based layers (default: all)")
    _add_common(board)

    add_ls_command(commands)

    plot = commands.add_parser("plot", help="draw a plot of a results file")
    plot.add_argument("results", help="results file (.nc)")
    plot.add_argument("--kind", default="infoplane", help="plot name (default: infoplane)")
    plot.add_argument("--estimator", help="which estimate to plot (default: the first)")
    plot.add_argument("--output", "-o", help="image file (default: next to the results file)")
    _add_common(plot)

    seed_import = commands.add_parser(
        "import-config", help="convert a deep_bottleneck (sacred) JSON config into an ibsim TOML file",
        epilog="Keys without an ibsim counterpart are listed at the top of the TOML file as "
               "'# not converted: key = value — reason'; a dataset, model or estimator ibsim lacks is an error.",
    )
    seed_import.add_argument("config", help="the seed's JSON config (e.g. configs/basic.json, or sacred's config.json)")
    seed_import.add_argument("--output", "-o", help="TOML file to write (default: beside the JSON, ending in .toml; "
                             "'-' prints it)")
    seed_import.add_argument("--force", action="store_true", help="replace an existing output file")
    _add_common(seed_import)
    return parser


def plot_path(results_path: Path, kind: str, suffix: str = ".png") -> Path:
    """Where a plot of a results file goes by default: ``<stem>_<kind>.png`` beside it."""
    return results_path.with_name(f"{results_path.stem}_{kind}{suffix}")


def output_paths(source: Path, configs: list, output: str | None) -> list[Path]:
    """One results file per experiment: ``--output`` (or results/<name>.nc) for a
    single experiment, ``<folder>/<experiment name>.nc`` for several."""
    if len(configs) == 1 and not source.is_dir():
        return [Path(output) if output else Path("results") / f"{configs[0].name}.nc"]
    folder = Path(output) if output else Path("results") / source.stem
    return [folder / f"{config.name}.nc" for config in configs]


def command_run(args: argparse.Namespace) -> int:
    source = Path(args.config)
    configs = load_configs(source, args.overrides)
    outputs = output_paths(source, configs, args.output)
    if args.dry_run:
        return dry_run(configs, outputs, args.data_dir)
    if not args.no_plots:  # refused now rather than after training
        for config, output in zip(configs, outputs):
            for kind in config.plots:
                plot = make_plot(kind)
                check_output_file(plot_path(resolve_output(config, output), plot_file_label(kind), plot.suffix),
                                  "plot")
    start = time.perf_counter()
    if not args.quiet:
        for config in configs:
            runs = config.runs if config.runs is not None else range(config.n_runs)
            print(
                f"ibsim: {config.name}: {len(runs)} run(s) x {config.epochs} epochs on {config.dataset}, "
                f"estimators {', '.join(config.estimator)}",
                file=sys.stderr,
            )
    written = run_experiments(configs, outputs, run_options(args))
    if not written:  # an MPI rank other than 0: rank 0 reports
        return 0
    elapsed = time.perf_counter() - start
    plots, all_diverged = [], []
    for config, path in zip(configs, written):
        with Results.open(path) as results:
            status = results.dataset["run_status"].values
            if status.size and (status == DIVERGED).all():
                all_diverged.append((config.name, path))
            for kind in [] if args.no_plots else config.plots:
                plot = make_plot(kind)
                target = plot_path(path, plot_file_label(kind), plot.suffix)
                try:
                    plot.draw(results, target)
                except NoFiniteRunError as error:  # an empty plane would only puzzle
                    print(f"ibsim: skipped the {kind} plot of {path}: {error}", file=sys.stderr)
                    continue
                plots.append(target)
    shown = [str(p) for p in written] if len(written) <= 3 else [f"{len(written)} results files in {written[0].parent}"]
    if plots:
        shown.append(f"{len(plots)} plot(s)" if len(plots) > 3 else ", ".join(str(p) for p in plots))
    print(f"ibsim: wrote {', '.join(shown)} in {elapsed:.1f} s", file=sys.stderr)
    for name, path in all_diverged:
        print(f"ibsim: every run of experiment '{name}' diverged (NaN, inf or huge activations): {path} is "
              "written, with run_status = 2 (diverged) for every run (a smaller learning_rate may help)",
              file=sys.stderr)
    return EXIT_ALL_DIVERGED if all_diverged else 0


def dry_run(configs: list, outputs: list[Path], data_dir: str | None) -> int:
    """Print what a run would do and need, without doing it (the same checks as
    a run, by arithmetic, before any plan is built)."""
    targets = [(c, resolve_output(c, o)) for c, o in zip(configs, outputs)]
    for _, output in targets:
        check_output_file(output, "results file")
    needs = check_budget(targets, str(resolve_data_dir(data_dir)), 1)
    for (config, output), (_, need) in zip(targets, needs):
        plan = make_plan(config)
        print(f"{config.name} -> {output}")
        print(f"  {len(plan.groups)} training unit(s) of up to {max(len(g.runs) for g in plan.groups)} runs, "
              f"{config.epochs} epochs, {len(plan.epochs)} recorded")
        print(f"  estimators during training: {[config.estimator[i] for i in plan.inline_estimators]}; "
              f"after: {[config.estimator[i] for i in plan.deferred_estimators]} "
              f"({len(plan.estimation_units)} unit(s))")
        print(f"  disk: {gb(need.part_bytes)} of part files while running, results file about "
              f"{gb(need.file_bytes)}; memory: about {gb(need.worker_bytes)} per worker")
    return 0


def command_estimate(args: argparse.Namespace) -> int:
    name, params = parse_spec(args.estimator)
    params.update(parse_overrides(args.overrides))
    spec = format_spec(name, params)
    start = time.perf_counter()
    path = estimate_file(args.results, spec, args.output, args.split, run_options(args))
    print(f"ibsim: estimated {spec} into {path} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


def command_tensorboard(args: argparse.Namespace) -> int:
    with Results.open(args.results) as results:  # the options are checked against the file, with their names
        config = export_projector(results, args.log_dir, args.run, args.every, args.layers, option_prefix="--")
    print(f"ibsim: wrote {config}; view it with: tensorboard --logdir {args.log_dir}", file=sys.stderr)
    return 0


def command_plot(args: argparse.Namespace) -> int:
    options = {"estimator": args.estimator} if args.estimator else {}
    plot = make_plot(args.kind, **options)
    with Results.open(args.results) as results:
        path = Path(args.output) if args.output else plot_path(Path(args.results), plot.name, plot.suffix)
        plot.draw(results, path)
    print(f"ibsim: wrote {path}", file=sys.stderr)
    return 0


def command_import_config(args: argparse.Namespace) -> int:
    if args.output == "-":
        sys.stdout.write(convert(read_seed_config(args.config), args.config).to_toml())
        return 0
    path, conversion = import_config(args.config, args.output, force=args.force)
    skipped = ", ".join(key for key, _, _ in conversion.skipped)
    print(f"ibsim: wrote {path}" + (f" (not converted, listed at its top: {skipped})" if skipped else ""),
          file=sys.stderr)
    return 0


def command_ls(args: argparse.Namespace) -> int:
    return list_folder(args)


COMMANDS = {"run": command_run, "estimate": command_estimate, "plot": command_plot,
            "tensorboard": command_tensorboard, "ls": command_ls, "import-config": command_import_config}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ibsim`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("IBSIM_FULL_ERROR") == "1"
    try:
        return COMMANDS[args.command](args)
    except ElsewhereError:
        return EXIT_BAD_INPUT  # rank 0 prints the reason
    except IbsimError as error:
        if debug:
            raise
        print(f"ibsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("ibsim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
