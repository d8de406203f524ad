"""The seed's own findings as small cohorts: max-norm and ReLU compression (§7.6), and MI on training, test or all data (§7.3).

Runs configs/seed_maxnorm.toml (ReLU and tanh, max-norm off, 0.8 and 0.4; 20
runs, 1500 epochs, binning 0.07) and configs/seed_mi_splits.toml (tanh and
ReLU, information on the training, test or full data; 10 runs, 8000 epochs,
KDE upper bound), draws the mean information planes and tabulates ΔI(X;T)
with 95 % bootstrap intervals and the final accuracies.

    python docs/reproductions/seed_findings.py [--quick] [--reuse] [--only maxnorm|splits]
"""
from __future__ import annotations

import sys

from ibsim.analysis.compression import compression, compression_table
from ibsim.analysis.reproduction import arguments, minutes, run_config, write_table
from ibsim.plots.compare import compression_chart, infoplane_grid

QUICK = ["n_runs=2", "group_size=2", "epochs=200"]
ACTIVATIONS = ("tanh", "relu")


def cohort(args, name: str, key: str, values: list, describe) -> str:
    """Run one cohort, draw its grid (rows: activations; columns: ``key``'s values) and ΔI chart; its text."""
    ran = run_config(f"configs/{name}.toml", QUICK if args.quick else [], args.results / name, jobs=args.jobs,
                     reuse=args.reuse)
    found = {}
    for experiment in ran.files:
        results = ran.open(experiment)
        config = results.config
        found[(str(config.activation_fn), config[key])] = results
    suffix = "_quick" if args.quick else ""
    first = found[(ACTIVATIONS[0], values[0])]
    n_runs, epochs = first.dataset.sizes["run"], int(first.dataset["epoch"].values.max())
    infoplane_grid([[(f"{a}, {describe(v)}", found[(a, v)], None) for v in values] for a in ACTIVATIONS],
                   args.output / f"{name}{suffix}.png", same_axes=True,
                   title=f"{first.estimators[0]}: mean of {n_runs} runs, {epochs} epochs")
    # from epoch 1: the initial network has not met the max-norm constraint yet
    deltas = {a: {describe(v): compression(found[(a, v)], first_epoch=1) for v in values} for a in ACTIVATIONS}
    compression_chart(deltas, args.output / f"{name}_compression{suffix}.png",
                      title="ΔI(X;T) = peak − final, 95 % bootstrap intervals over runs")
    accuracy = ["| activation | setting | final training accuracy | final test accuracy |", "|---|---|---|---|"]
    for (activation, value), results in found.items():
        final = results.dataset["accuracy"].isel(epoch=-1).mean("run")
        accuracy.append(f"| {activation} | {describe(value)} | {float(final.sel(split='training')):.3f} | "
                        f"{float(final.sel(split='test')):.3f} |")
    time = "reused" if ran.reused else minutes(ran.seconds)
    return (f"### {name}: {n_runs} runs per setting, {epochs} epochs, wall time {time}\n\n"
            "ΔI(X;T) = peak − final (bits) from epoch 1 on, mean [95 % CI]:\n\n" + compression_table(deltas, "activation", key)
            + "\n\n" + "\n".join(accuracy))


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["maxnorm", "splits"], help="run one of the two cohorts")
    args = parser.parse_args(argv)
    parts = []
    if args.only in (None, "maxnorm"):
        parts.append(cohort(args, "seed_maxnorm", "max_norm_weights", [False, 0.8, 0.4],
                            lambda v: "no max-norm" if v is False else f"max-norm {v}"))
    if args.only in (None, "splits"):
        parts.append(cohort(args, "seed_mi_splits", "calculate_mi_for", ["training", "test", "full_dataset"],
                            lambda v: f"MI on {v.replace('_', ' ')}"))
    suffix = "_quick" if args.quick else ""
    write_table(args.output / f"seed_findings{suffix}{'_' + args.only if args.only else ''}.md", "\n\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
