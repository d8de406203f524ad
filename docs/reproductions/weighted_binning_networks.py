"""Weighted binning in trained networks: fixed bins against bins that follow the network, tanh and ReLU.

Runs configs/weighted_binning.toml (Tishby's network, 20 runs of each
activation, 8000 epochs) estimated with fixed bins of width 0.07 and with
``binning_weighted`` (50 probe inputs pushed through the network at every
recorded epoch), and draws the mean information planes and ΔI(X;T) with 95 %
bootstrap intervals.

    python docs/reproductions/weighted_binning_networks.py [--quick] [--reuse]
"""
from __future__ import annotations

import sys

from ibsim.analysis.compression import compression, compression_table
from ibsim.analysis.reproduction import arguments, minutes, run_config, write_table
from ibsim.plots.compare import compression_chart, infoplane_grid

QUICK = ["n_runs=3", "group_size=3", "epochs=300"]
ACTIVATIONS = ("tanh", "relu")
TITLES = {"binning": "fixed bins, width 0.07", "binning_weighted": "weighted bins, 50 probe inputs"}


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__.splitlines()[0]).parse_args(argv)
    ran = run_config("configs/weighted_binning.toml", QUICK if args.quick else [], args.results / "weighted_binning",
                     jobs=args.jobs, reuse=args.reuse)
    results = {}
    for name in ran.files:
        loaded = ran.open(name)
        results[str(loaded.config.activation_fn)] = loaded
    labels = results["tanh"].estimators
    suffix = "_quick" if args.quick else ""
    n_runs = results["tanh"].dataset.sizes["run"]
    infoplane_grid([[(f"{activation}, {TITLES[label.split('(')[0]]}", results[activation], label) for label in labels]
                    for activation in ACTIVATIONS], args.output / f"weighted_binning_networks{suffix}.png",
                   title=f"Fixed against weighted binning: mean of {n_runs} runs")
    deltas = {TITLES[label.split("(")[0]]: {a: compression(results[a], label) for a in ACTIVATIONS} for label in labels}
    compression_chart(deltas, args.output / f"weighted_binning_networks_compression{suffix}.png",
                      title="ΔI(X;T) = peak − final, 95 % bootstrap intervals over runs")
    time = "reused" if ran.reused else minutes(ran.seconds)
    write_table(args.output / f"weighted_binning_networks{suffix}.md",
                f"{n_runs} runs per activation; wall time {time}. ΔI(X;T) = peak − final (bits), mean [95 % CI]:\n\n"
                + compression_table(deltas, group="binning"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
