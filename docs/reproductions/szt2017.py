"""Shwartz-Ziv & Tishby (2017): the tanh network's information plane, 30 bins over [-1, 1], mean of 50 runs.

Runs configs/szt2017.toml (IDNNs settings: Adam 0.0004, batch 512, 80 %
training data, log-spaced recording over 10 000 epochs) and draws the mean
information plane beside the runs' spread; the table gives I(X;T) and I(T;Y)
per layer at the peak of I(X;T) and at the end, and ΔI(X;T) with its 95 %
bootstrap interval over runs.

    python docs/reproductions/szt2017.py [--quick] [--reuse]
"""
from __future__ import annotations

import sys

import numpy as np
from matplotlib.figure import Figure

from ibsim.analysis.compression import compression
from ibsim.analysis.reproduction import arguments, minutes, run_config, write_table
from ibsim.plots.base import save_figure
from ibsim.plots.compare import infoplane_grid

QUICK = ["n_runs=4", "group_size=2", "epochs=300", "record_points=30"]


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__.splitlines()[0]).parse_args(argv)
    ran = run_config("configs/szt2017.toml", QUICK if args.quick else [], args.results, jobs=args.jobs,
                     reuse=args.reuse)
    results = ran.open("szt2017")
    ds = results.dataset
    n_runs, epochs = ds.sizes["run"], int(ds["epoch"].values.max())
    suffix = "_quick" if args.quick else ""
    infoplane_grid([[("tanh, 30 bins over [-1, 1]", results, None)]], args.output / f"szt2017{suffix}.png",
                   title=f"Shwartz-Ziv & Tishby (2017) setting: mean of {n_runs} runs, {epochs} epochs")
    save_figure(spread_figure(results), args.output / f"szt2017_spread{suffix}.png")
    delta = compression(results)
    info = results.information()
    rows = ["| layer | peak I(X;T) | epoch of peak (median) | final I(X;T) | final I(T;Y) | ΔI(X;T) [95 % CI] |",
            "|---|---|---|---|---|---|"]
    for k, layer in enumerate(delta["layer"].values):
        final_ity = float(info["I_TY"].isel(epoch=-1, layer=k).mean())
        rows.append(
            f"| {layer} | {float(delta['peak_I_XT'][:, k].mean()):.2f} | "
            f"{int(np.median(delta['peak_epoch'][:, k]))} | {float(delta['final_I_XT'][:, k].mean()):.2f} | "
            f"{final_ity:.3f} | {float(delta['mean_delta'][k]):.2f} "
            f"[{float(delta['ci_low'][k]):.2f}, {float(delta['ci_high'][k]):.2f}] |")
    time = "reused" if ran.reused else minutes(ran.seconds)
    write_table(args.output / f"szt2017{suffix}.md",
                f"{n_runs} runs, {epochs} epochs, wall time {time}; means over runs (bits):\n\n" + "\n".join(rows))
    return 0


def spread_figure(results) -> Figure:
    """I(X;T) of every layer against the epoch: the mean and the 5-95 % band over runs."""
    info = results.information()
    epochs = info["epoch"].values
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    for k, layer in enumerate(info["layer"].values):
        values = info["I_XT"].isel(layer=k).transpose("run", "epoch").values
        low, high = np.nanpercentile(values, [5, 95], axis=0)
        line, = ax.plot(np.maximum(epochs, 1), np.nanmean(values, axis=0), label=f"layer {layer}")
        ax.fill_between(np.maximum(epochs, 1), low, high, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("I(X;T) [bits]")
    ax.set_title("I(X;T) per layer: mean and 5-95 % of runs", fontsize=10)
    ax.legend(fontsize=8, ncols=2)
    ax.grid(alpha=0.3)
    return fig


if __name__ == "__main__":
    sys.exit(main())
