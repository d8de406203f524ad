"""Tishby's harmonics file against ibsim's generator: the table of y = 1 by number of ones, and trained networks.

The seed (sections 7.7 and 7.8) tabulates, for each number of active inputs,
the share of patterns labelled 1, in Tishby's var_u.mat and in its generated
imitation. This script makes that table for the file and for the generator
(seed 0, and the spread over seeds 0-9), then trains the tanh network on both
(configs/harmonics_compare.toml) and draws their mean information planes.

    python docs/reproductions/harmonics.py [--quick] [--reuse]
"""
from __future__ import annotations

import sys

import numpy as np

from ibsim.analysis.compression import compression
from ibsim.analysis.reproduction import arguments, minutes, run_config, write_table
from ibsim.datasets import generate_harmonics, share_by_ones
from ibsim.datasets.harmonics import load_var_u
from ibsim.plots.compare import infoplane_grid

QUICK = ["n_runs=3", "group_size=3", "epochs=300"]
SEEDS = range(10)


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__.splitlines()[0]).parse_args(argv)
    X, y = load_var_u()
    tishby = share_by_ones(X, y)
    seeds = list(SEEDS)[:3] if args.quick else list(SEEDS)
    generated = np.array([share_by_ones(*generate_harmonics(seed)[:2]) for seed in seeds])
    rows = ["| ones | patterns | Tishby's file: % y = 1 | generator, seed 0 | generator, "
            f"seeds 0-{seeds[-1]}: mean (min-max) |", "|---|---|---|---|---|"]
    counts = np.bincount(X.sum(axis=1).astype(int), minlength=13)
    for k in range(len(tishby)):
        rows.append(f"| {k} | {counts[k]} | {tishby[k]:.2f} | {generated[0, k]:.2f} | "
                    f"{generated[:, k].mean():.2f} ({generated[:, k].min():.2f}-{generated[:, k].max():.2f}) |")
    share = ["", "| data | share of y = 1 overall |", "|---|---|", f"| Tishby's file | {100 * y.mean():.2f} % |"]
    share += [f"| generator, seed {s} | {100 * generate_harmonics(s)[1].mean():.2f} % |" for s in seeds[:3]]

    ran = run_config("configs/harmonics_compare.toml", QUICK if args.quick else [], args.results / "harmonics",
                     jobs=args.jobs, reuse=args.reuse)
    results = {}
    for name in ran.files:
        loaded = ran.open(name)
        results[str(loaded.config.dataset).split("(")[0]] = loaded
    file_results, generated_results = results["harmonics"], results["harmonics_generated"]
    n_runs = file_results.dataset.sizes["run"]
    suffix = "_quick" if args.quick else ""
    infoplane_grid([[("Tishby's file", file_results, None), ("ibsim's generator, seed 0", generated_results, None)]],
                   args.output / f"harmonics{suffix}.png", same_axes=True,
                   title=f"tanh network, binning 0.07, mean of {n_runs} runs")
    final = ["", "| data | final test accuracy | final I(T;Y), last layer | ΔI(X;T) layer 5 [95 % CI] |",
             "|---|---|---|---|"]
    for label, loaded in (("Tishby's file", file_results), ("generator, seed 0", generated_results)):
        ds = loaded.dataset
        accuracy = float(ds["accuracy"].sel(split="test").isel(epoch=-1).mean())
        ity = float(loaded.information()["I_TY"].isel(epoch=-1, layer=-1).mean())
        delta = compression(loaded).isel(layer=4)
        final.append(f"| {label} | {accuracy:.3f} | {ity:.3f} | {float(delta['mean_delta']):.2f} "
                     f"[{float(delta['ci_low']):.2f}, {float(delta['ci_high']):.2f}] |")
    time = "reused" if ran.reused else minutes(ran.seconds)
    write_table(args.output / f"harmonics{suffix}.md",
                "\n".join(rows + share + final) + f"\n\n{n_runs} runs per data set; training wall time {time}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
