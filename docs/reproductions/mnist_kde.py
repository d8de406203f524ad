"""MNIST information planes with the KDE upper and lower bounds (the 10 000 test images as the data).

Runs configs/mnist_kde.toml (784-256-128-64-32-10 tanh network, 5 runs, 300
epochs, Kolchinsky & Tracey's bounds with noise variance 0.1 on all 10 000
samples) and draws the mean information plane of each bound; the table gives
the final values per layer and the accuracy.

    python docs/reproductions/mnist_kde.py --data-dir DIR [--quick] [--reuse]
"""
from __future__ import annotations

import sys

from ibsim.analysis.compression import compression, interval_text
from ibsim.analysis.reproduction import arguments, minutes, run_config, write_table
from ibsim.plots.compare import infoplane_grid

QUICK = ["n_runs=1", "group_size=1", "epochs=4", "record_points=3", "architecture=[64,32]"]


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__.splitlines()[0]).parse_args(argv)
    ran = run_config("configs/mnist_kde.toml", QUICK if args.quick else [], args.results, jobs=args.jobs,
                     reuse=args.reuse, data_dir=args.data_dir)
    results = ran.open("mnist_kde")
    ds = results.dataset
    n_runs, epochs = ds.sizes["run"], int(ds["epoch"].values.max())
    suffix = "_quick" if args.quick else ""
    infoplane_grid([[(label.split("(")[0].replace("_", " "), results, label) for label in results.estimators]],
                   args.output / f"mnist_kde{suffix}.png", same_axes=True,
                   title=f"MNIST test images, tanh 256-128-64-32: mean of {n_runs} runs, {epochs} epochs, "
                         "KDE noise variance 0.1")
    layers = [int(k) for k in ds["layer"].values]
    rows = ["| estimate | " + " | ".join(f"layer {k}" for k in layers) + " |", "|" + "---|" * (len(layers) + 1)]
    for label in results.estimators:
        info = results.information(label).isel(epoch=-1).mean("run")
        delta = compression(results, label)
        rows.append(f"| {label}: final I(X;T) | " + " | ".join(f"{v:.2f}" for v in info["I_XT"].values) + " |")
        rows.append(f"| {label}: final I(T;Y) | " + " | ".join(f"{v:.3f}" for v in info["I_TY"].values) + " |")
        rows.append(f"| {label}: ΔI(X;T) [95 % CI] | " + " | ".join(
            interval_text(m, lo, hi) for m, lo, hi in
            zip(delta["mean_delta"].values, delta["ci_low"].values, delta["ci_high"].values)) + " |")
    accuracy = ds["accuracy"].isel(epoch=-1).mean("run")
    time = "reused" if ran.reused else minutes(ran.seconds)
    write_table(args.output / f"mnist_kde{suffix}.md",
                f"{n_runs} runs, {epochs} epochs, {ds.sizes['sample'] if 'sample' in ds.sizes else 10000} samples; "
                f"final accuracy training {float(accuracy.sel(split='training')):.3f}, "
                f"test {float(accuracy.sel(split='test')):.3f}; wall time {time}. Bits, mean over runs:\n\n"
                + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
