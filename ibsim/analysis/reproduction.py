"""What the reproduction scripts in ``docs/reproductions/`` share.

Each script is one command that runs (or reuses) its experiments, computes its
numbers, draws its figure into ``docs/figures/`` and writes its table as
Markdown beside it. They take the same options (:func:`arguments`):
``--quick`` (a few runs and epochs: what the tests run), ``--output`` (where
figures and tables go), ``--results`` (where results files go), ``--jobs``
(workers), ``--reuse`` (keep results files that already exist) and
``--data-dir`` (downloaded datasets).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ibsim.results import Results
from ibsim.config import load_configs
from ibsim.pipeline.runner import run_experiments
from ibsim.threads import available_cores

#: The repository root (``docs/`` and ``configs/`` live there in a checkout).
REPOSITORY = Path(__file__).resolve().parents[2]


def arguments(description: str) -> argparse.ArgumentParser:
    """The options every reproduction script takes.

    Args:
        description: What the script reproduces (its ``--help`` text).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a few runs and epochs (minutes): what the tests run")
    parser.add_argument("--output", type=Path, default=REPOSITORY / "docs" / "figures",
                        help="folder for the figure and the Markdown table (default: docs/figures)")
    parser.add_argument("--results", type=Path, default=Path("results") / "reproductions",
                        help="folder for the results files (default: results/reproductions)")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep results files that already exist instead of running them again")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder of downloaded datasets (default: IBSIM_DATA_DIR or the user cache)")
    return parser


@dataclass
class Ran:
    """Experiments run (or reused) by a reproduction, and how long that took."""

    files: dict[str, Path]
    seconds: float
    reused: bool

    def open(self, name: str) -> Results:
        """The results of one experiment, read into memory."""
        return Results.load(self.files[name])

    def by(self, key: str, values: Sequence[object]) -> dict[str, Results]:
        """A sweep's results keyed by the value of one config key, in the order of ``values``.

        Args:
            key: The swept config key (e.g. ``"activation_fn"``).
            values: The values wanted (e.g. ``("tanh", "relu")``).

        Raises:
            KeyError: No experiment of the sweep has one of the values.
        """
        found = {}
        for name in self.files:
            results = self.open(name)
            found[str(results.config[key])] = results
        missing = [str(v) for v in values if str(v) not in found]
        if missing:
            raise KeyError(f"no experiment with {key} = {', '.join(missing)} among {sorted(found)}")
        return {str(value): found[str(value)] for value in values}


def run_config(config: str | Path, overrides: Sequence[str], results: Path, *, jobs: int | None = None,
               reuse: bool = False, data_dir: Path | None = None) -> Ran:
    """Run a config (a sweep runs every point) into ``results``; or reuse its files.

    Args:
        config: A config file (relative paths are taken from the repository root
            when they do not exist from the working folder).
        overrides: ``--set`` style overrides (``"epochs=300"``).
        results: Folder of the results files (``<experiment name>.nc``).
        jobs: Worker processes (None: joblib with one per core when there is
            more than one experiment or group, else serial).
        reuse: If every results file exists, read them instead of running.
        data_dir: Folder of downloaded datasets (None: the default).

    Returns:
        The files by experiment name and the wall time of the run (0 when reused).
    """
    path = Path(config)
    if not path.exists() and (REPOSITORY / path).exists():
        path = REPOSITORY / path
    configs = load_configs(path, list(overrides))
    files = {c.name: Path(results) / f"{c.name}.nc" for c in configs}
    outputs = list(files.values())
    if reuse and all(f.exists() for f in files.values()):
        return Ran(files, 0.0, True)
    workers = jobs if jobs is not None else available_cores()
    start = time.perf_counter()
    run_experiments(configs, outputs, data_dir=data_dir, backend="joblib" if workers > 1 else "serial",
                    jobs=workers)
    return Ran(files, time.perf_counter() - start, False)


def write_table(path: Path, text: str) -> Path:
    """Write a Markdown table (or any text) and print it; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n")
    print(text)
    return path


def page_header(title: str, script: str, quick: bool, source: str) -> list[str]:
    """The first lines of a reproduction's Markdown page: its title and the command that made it.

    Args:
        title: The page title (without ``#``).
        script: The script's file name in ``docs/reproductions/``.
        quick: Whether the page was made with ``--quick``.
        source: What is reproduced (``"seed documentation section 7.2"``).
    """
    command = f"python docs/reproductions/{script}" + (" --quick" if quick else "")
    return [f"# {title}", "", f"Generated by `{command}` ({source}).", ""]


def minutes(seconds: float) -> str:
    """``"4 min 12 s"`` (or ``"38 s"``) for a duration."""
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
