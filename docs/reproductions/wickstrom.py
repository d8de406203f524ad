"""Wickstrøm et al. (2019) / Yu et al. (2020): CNN information planes, matrix-based Rényi entropy and KDE.

Runs configs/wickstrom_cnn.toml (a LeNet-like tanh conv net, conv layers
recorded whole) and configs/wickstrom_dense.toml (the dense MNIST net of
docs/reproductions.md section 6) on the MNIST test images, both estimated on
the same 500 held-out images with the matrix-based Rényi α-entropy (α = 1.01,
the k-NN kernel width rule, a Gaussian kernel on the input pixels) and
Kolchinsky & Tracey's KDE upper and lower bounds (noise variance 0.1). Draws
one information plane per network and estimate (mean over runs, band over
runs) and writes ΔI(X;T) = peak - final per layer with its 95 % bootstrap
interval over runs, the final values, the accuracy and the wall time.

    python docs/reproductions/wickstrom.py --data-dir DIR [--jobs 2] [--quick] [--reuse]
    python docs/reproductions/wickstrom.py --dataset digits --quick   (scikit-learn's 8 x 8 digits: always offline)
"""
from __future__ import annotations

import sys

from ibsim.analysis.compression import compression, compression_table
from ibsim.analysis.reproduction import arguments, minutes, run_config, write_table
from ibsim.plots.compare import infoplane_grid
from ibsim.results import Results

#: The two networks: (short name, config).
NETWORKS = (("CNN", "configs/wickstrom_cnn.toml"), ("dense", "configs/wickstrom_dense.toml"))
#: --quick: two runs of two epochs (bands and intervals need two runs), 200 estimation samples on MNIST.
QUICK = ["n_runs=2", "group_size=2", "epochs=2"]
QUICK_MNIST = ["train_fraction=0.98"]
#: --dataset digits: the 8 x 8 digits (1 797 images; 360 held out and estimated on) and networks that fit them.
DIGITS = {
    "CNN": ['dataset="digits"', "train_fraction=0.8", "name=\"wickstrom_cnn_digits\"",
            ('architecture=["conv2d(filters=4, kernel_size=3, strides=1, padding=\\"valid\\")", '
             '"maxpool2d(pool_size=2, strides=2, padding=\\"valid\\")", "flatten", 16]')],
    "dense": ['dataset="digits"', "train_fraction=0.8", "name=\"wickstrom_dense_digits\"", "architecture=[32, 16]"],
}
#: Display names of the estimates, by estimator name.
NAMES = {"renyi": "Rényi α = 1.01 (k-NN width, input kernel)", "kde_upper": "KDE upper bound (variance 0.1)",
         "kde_lower": "KDE lower bound (variance 0.1)"}


def display(label: str) -> str:
    """The display name of an estimate label such as ``renyi(alpha=1.01, ...)``."""
    return NAMES.get(label.split("(")[0], label)


def main(argv: list[str] | None = None) -> int:
    """Run (or reuse) both networks, then write the figure and the table.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status, 0.
    """
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("mnist", "digits"), default="mnist",
                        help="mnist (default; the test images, from --data-dir) or digits (8 x 8, always offline)")
    args = parser.parse_args(argv)
    suffix = ("_digits" if args.dataset == "digits" else "") + ("_quick" if args.quick else "")
    results: dict[str, Results] = {}
    lines = []
    for network, config in NETWORKS:
        overrides = (QUICK if args.quick else []) + (DIGITS[network] if args.dataset == "digits" else
                                                     QUICK_MNIST if args.quick else [])
        ran = run_config(config, overrides, args.results, jobs=args.jobs, reuse=args.reuse, data_dir=args.data_dir)
        (name,) = ran.files
        results[network] = ran.open(name)
        ds = results[network].dataset
        accuracy = ds["accuracy"].isel(epoch=-1).mean("run")
        lines.append(f"- {network} ({name}): {ds.sizes['run']} runs, {int(ds['epoch'].values.max())} epochs, "
                     f"{ds.sizes['sample']} estimation samples, {ds.sizes['layer']} layers; final accuracy "
                     f"training {float(accuracy.sel(split='training')):.3f}, "
                     f"test {float(accuracy.sel(split='test')):.3f}; wall time "
                     f"{'reused' if ran.reused else minutes(ran.seconds)}")
    labels = results["CNN"].estimators
    n_runs = results["CNN"].dataset.sizes["run"]
    data = "8 x 8 digits" if args.dataset == "digits" else "MNIST test images"
    infoplane_grid([[(f"{network}: {display(label)}", found, label) for label in labels]
                    for network, found in results.items()],
                   args.output / f"wickstrom{suffix}.png",
                   title=f"{data}: tanh CNN and dense net, mean and band over {n_runs} runs")
    tables = []
    for network, found in results.items():
        deltas = {display(label): {network: compression(found, label)} for label in labels}
        tables.append(f"### {network}\n\nΔI(X;T) = peak − final per layer, mean over runs [95 % bootstrap "
                      f"interval], bits:\n\n" + compression_table(deltas, group="estimate", series="network"))
        final = found.dataset["I_TY"].isel(epoch=-1).mean("run")
        tables.append("Final I(T;Y) (mean over runs, bits):\n\n"
                      + "\n".join(f"- {display(label)}: " + ", ".join(
                          f"{v:.3f}" for v in final.sel(estimator=label).values.ravel()) for label in labels))
    write_table(args.output / f"wickstrom{suffix}.md",
                "\n".join(lines) + "\n\n" + "\n\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
