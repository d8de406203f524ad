"""Chelombiev, Houghton & O'Donnell (2019): do ReLU networks compress under adaptive estimators too?

Runs configs/chelombiev.toml (Tishby's network on the harmonics data, tanh and
ReLU, 30 runs each, 8000 epochs), estimated with entropy-based adaptive binning
(EBAB, 30 equal-count bins), the adaptive KDE upper bound (noise variance
0.1 * max|T| per block) and, for comparison, section 1's fixed bins of width
0.07 and 30 bins over each block's range; draws the mean information planes
with their bands over runs and ΔI(X;T) = peak − final per layer with 95 %
bootstrap intervals over runs, and writes the table.

    python docs/reproductions/chelombiev.py [--quick] [--reuse] [--jobs N]
"""
from __future__ import annotations

import sys

from ibsim.analysis.compression import compression, compression_table
from ibsim.analysis.reproduction import arguments, minutes, run_config, write_table
from ibsim.plots.compare import compression_chart, infoplane_grid

#: What --quick changes: 3 runs of each activation, 300 epochs.
QUICK = ["n_runs=3", "group_size=3", "epochs=300"]
ACTIVATIONS = ("tanh", "relu")
#: Panel titles by estimator name, in the order of the table.
TITLES = {
    "binning_entropy": "EBAB: 30 equal-count bins",
    "kde_upper_adaptive": "aKDE upper bound, variance 0.1·max abs(T)",
    "binning": "fixed bins of width 0.07",
    "binning_adaptive": "30 bins over each epoch's range",
}


def estimator_title(label: str) -> str:
    """The panel title of an estimator label (``"binning_entropy(n_bins=30)"``)."""
    return TITLES.get(label.split("(", 1)[0], label)


def main(argv: list[str] | None = None) -> int:
    """Run (or reuse) the sweep, then write the figures and the table.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status (0).
    """
    args = arguments(__doc__.splitlines()[0]).parse_args(argv)
    ran = run_config("configs/chelombiev.toml", QUICK if args.quick else [], args.results / "chelombiev",
                     jobs=args.jobs, reuse=args.reuse, data_dir=args.data_dir)
    results = ran.by("activation_fn", ACTIVATIONS)
    labels = results["tanh"].estimators
    deltas = {estimator_title(label): {activation: compression(results[activation], label)
                                       for activation in ACTIVATIONS} for label in labels}
    n_runs = results["tanh"].dataset.sizes["run"]
    epochs = int(results["tanh"].dataset["epoch"].values.max())
    suffix = "_quick" if args.quick else ""
    infoplane_grid([[(f"{activation}, {estimator_title(label)}", results[activation], label) for label in labels]
                    for activation in ACTIVATIONS],
                   args.output / f"chelombiev_infoplanes{suffix}.png", band="auto",
                   title=f"Tishby's network on the harmonics data: mean of {n_runs} runs, {epochs} epochs "
                         "(bands: 95 % bootstrap interval of the mean over runs)")
    compression_chart(deltas, args.output / f"chelombiev_compression{suffix}.png",
                      title="Compression ΔI(X;T) = peak − final, 95 % bootstrap intervals over runs")
    time = "reused" if ran.reused else minutes(ran.seconds)
    estimators = "\n".join(f"- {estimator_title(label)}: `{label}`" for label in labels)
    text = (f"{n_runs} runs per activation, {epochs} epochs; wall time {time}\n\nEstimators:\n\n{estimators}\n\n"
            "ΔI(X;T) = peak − final (bits), mean over runs [95 % bootstrap CI]:\n\n" + compression_table(deltas))
    write_table(args.output / f"chelombiev{suffix}.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
