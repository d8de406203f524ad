"""Saxe et al. (2018), Fig. 1: does tanh compress and ReLU not? 50 runs each, with confidence intervals.

Runs configs/saxe_fig1.toml (binning 0.07 and 30 adaptive bins, 2 x 50 runs x
8000 epochs) and, with --kde, configs/saxe_fig1_kde.toml (the KDE upper bound
on the same networks); draws the mean information planes and ΔI(X;T) = peak −
final per layer with 95 % bootstrap intervals over runs, and writes the table.

    python docs/reproductions/saxe_fig1.py [--kde] [--quick] [--reuse]
"""
from __future__ import annotations

import sys

from ibsim.analysis.compression import compression, compression_table
from ibsim.analysis.reproduction import arguments, minutes, run_config, write_table
from ibsim.plots.compare import compression_chart, infoplane_grid

#: What --quick changes: 4 runs of each activation, 300 epochs.
QUICK = ["n_runs=4", "group_size=2", "epochs=300"]
ACTIVATIONS = ("tanh", "relu")


def estimator_title(label: str) -> str:
    """A short panel title for an estimator label."""
    if label.startswith("binning_adaptive"):
        return "30 bins over each epoch's range"
    if label.startswith("binning"):
        return "bins of width 0.07"
    if label.startswith("kde_upper"):
        return "KDE upper bound, variance 0.001"
    return label


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--kde", action="store_true", help="also the KDE upper bound (configs/saxe_fig1_kde.toml)")
    args = parser.parse_args(argv)
    overrides = QUICK if args.quick else []
    runs = {"binning": run_config("configs/saxe_fig1.toml", overrides, args.results / "saxe_fig1",
                                  jobs=args.jobs, reuse=args.reuse)}
    if args.kde:
        runs["kde"] = run_config("configs/saxe_fig1_kde.toml", overrides, args.results / "saxe_fig1_kde",
                                 jobs=args.jobs, reuse=args.reuse)
    panels, deltas = [], {}
    for ran in runs.values():
        results = ran.by("activation_fn", ACTIVATIONS)
        for label in results["tanh"].estimators:
            title = estimator_title(label)
            panels.append([(f"{activation}, {title}", results[activation], label) for activation in ACTIVATIONS])
            deltas[title] = {activation: compression(results[activation], label) for activation in ACTIVATIONS}
    n_runs = panels[0][0][1].dataset.sizes["run"]
    epochs = int(panels[0][0][1].dataset["epoch"].values.max())
    suffix = "_quick" if args.quick else ""
    infoplane_grid([list(row) for row in zip(*panels)], args.output / f"saxe_fig1_infoplanes{suffix}.png",
                   title=f"Tishby's network on the harmonics data: mean of {n_runs} runs, {epochs} epochs")
    compression_chart({title: series for title, series in deltas.items()},
                      args.output / f"saxe_fig1_compression{suffix}.png",
                      title="Compression ΔI(X;T) = peak − final, 95 % bootstrap intervals over runs")
    times = ", ".join(f"{name}: {'reused' if ran.reused else minutes(ran.seconds)}" for name, ran in runs.items())
    text = (f"{n_runs} runs per activation, {epochs} epochs; wall time {times}\n\n"
            "ΔI(X;T) = peak − final (bits), mean over runs [95 % bootstrap CI]:\n\n" + compression_table(deltas))
    write_table(args.output / f"saxe_fig1{suffix}.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
