"""Goldfeld et al. (2019), noisy networks: does I(X;T) fall, and does it fall when the layer clusters?

Runs configs/goldfeld_noisy.toml (Tishby's network on the harmonics data with
Gaussian noise of std β = 0.005 after every hidden layer in training, tanh and
ReLU, 30 runs each) and draws, per layer and epoch, I(X;T) by sample
propagation (``sp``, with its Monte Carlo standard error) beside the
clustering measure H(Bin(T)) = I(X;Bin(T)) of the noise-free outputs (bins of
width 0.007); writes ΔI = peak − final of both with 95 % bootstrap intervals
over runs, and Pearson's r over epochs between the two curves per run and
layer (over all recorded epochs and from the SP peak on), mean [95 % CI] over runs.

    python docs/reproductions/goldfeld.py [--quick] [--reuse]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ibsim.analysis.clustering import curve_correlation
from ibsim.analysis.compression import compression, compression_table, interval_text
from ibsim.analysis.reproduction import arguments, minutes, run_config, write_table
from ibsim.plots.accuracy import set_epoch_scale
from ibsim.plots.base import save_figure
from ibsim.plots.compare import compression_chart
from ibsim.plots.infoplane import band_limits
from ibsim.results import Results

#: What --quick changes: 3 runs of each activation, 30 epochs, 5 log-spaced records, no gradient statistics.
QUICK = ["n_runs=3", "group_size=3", "epochs=30", "record_points=5", "record_gradients=false"]
ACTIVATIONS = ("tanh", "relu")
SP_TITLE = "SP I(X;T), noise β = 0.005"
BIN_TITLE = "H(Bin(T)), bins of width 0.007"
#: The smallest span of a panel's y axis (bits).
MIN_SPAN = 0.2


def labels(results: Results) -> tuple[str, str]:
    """The labels of the SP and the binning estimate in a results file."""
    sp = next(label for label in results.estimators if label.startswith("sp("))
    binned = next(label for label in results.estimators if label.startswith("binning("))
    return sp, binned


def interval_cell(mean: float, low: float, high: float, n: int) -> str:
    """``"m [lo, hi]"``, or ``"n/a"`` when no run has a value."""
    return "n/a" if n == 0 else interval_text(mean, low, high)


def correlation_table(correlations: dict[str, dict[str, xr.Dataset]]) -> str:
    """Markdown: mean r [95 % CI] (runs with an r) per window, activation and layer."""
    first = next(iter(next(iter(correlations.values())).values()))
    layers = [int(layer) for layer in first["layer"].values]
    lines = ["| epochs | activation | " + " | ".join(f"layer {k}" for k in layers) + " |",
             "|" + "---|" * (len(layers) + 2)]
    for window, by_act in correlations.items():
        for activation, r in by_act.items():
            cells = [f"{interval_cell(m, lo, hi, int(n))} ({int(n)})" for m, lo, hi, n in
                     zip(r["mean_r"].values, r["ci_low"].values, r["ci_high"].values, r["n_runs"].values)]
            lines.append(f"| {window} | {activation} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def error_table(results: dict[str, Results]) -> str:
    """Markdown: the SP standard errors (bits), median and largest over runs and epochs, per layer."""
    layers = [int(layer) for layer in next(iter(results.values())).dataset["layer"].values]
    lines = ["| activation | " + " | ".join(f"layer {k}" for k in layers) + " |", "|" + "---|" * (len(layers) + 1)]
    for activation, res in results.items():
        se = res.standard_error(labels(res)[0])["I_XT_se"].transpose("run", "epoch", "layer").values
        cells = [f"{np.nanmedian(se[:, :, k]):.4f} / {np.nanmax(se[:, :, k]):.4f}" for k in range(len(layers))]
        lines.append(f"| {activation} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def accuracy_line(results: dict[str, Results]) -> str:
    """Final training and test accuracy (noise-free), mean over runs, per activation."""
    parts = []
    for activation, res in results.items():
        final = res.dataset["accuracy"].isel(epoch=-1)
        parts.append(f"{activation}: training {float(final.sel(split='training').mean()):.3f}, "
                     f"test {float(final.sel(split='test').mean()):.3f}")
    return "Final accuracy (noise-free network, mean over runs): " + "; ".join(parts) + "."


def draw_curves(results: dict[str, Results], path: str | Path | None, title: str) -> Figure:
    """Per activation (rows) and layer (columns): SP I(X;T) and H(Bin(T)) over
    epochs, the mean over runs with its 95 % bootstrap band; the largest SP
    standard error of the layer in the corner."""
    layers = next(iter(results.values())).dataset["layer"].values
    fig = Figure(figsize=(2.9 * len(layers) + 0.6, 2.8 * len(results)), layout="constrained")
    axes = fig.subplots(len(results), len(layers), squeeze=False)
    for r, (activation, res) in enumerate(results.items()):
        sp, binned = labels(res)
        se = res.standard_error(sp)["I_XT_se"].transpose("run", "epoch", "layer").values
        epochs = res.dataset["epoch"].values
        for k, layer in enumerate(layers):
            ax = axes[r, k]
            drawn = []
            for label, name, colour in ((sp, SP_TITLE, "C0"), (binned, BIN_TITLE, "C1")):
                curves = res.information(label)["I_XT"].transpose("run", "epoch", "layer").values[:, :, k]
                low, high = band_limits(curves, "bootstrap")
                drawn += [curves.ravel(), low, high]
                ax.fill_between(epochs, low, high, color=colour, alpha=0.3, lw=0)
                ax.plot(epochs, np.nanmean(curves, axis=0), color=colour, lw=1.4, label=name)
            ax.text(0.03, 0.04, f"SP SE ≤ {np.nanmax(se[:, :, k]):.3f}", transform=ax.transAxes, fontsize=7)
            set_epoch_scale(ax, epochs)
            low_y, high_y = np.nanmin(np.concatenate(drawn)), np.nanmax(np.concatenate(drawn))
            if high_y - low_y < MIN_SPAN:  # a layer at log2 N throughout: no axis over a billionth of a bit
                ax.set_ylim(high_y - MIN_SPAN, high_y + MIN_SPAN / 10)
            ax.ticklabel_format(axis="y", useOffset=False)
            ax.set_title(f"{activation}, layer {int(layer)}", fontsize=9)
            ax.grid(alpha=0.3)
            if k == 0:
                ax.set_ylabel("bits")
            if r == len(results) - 1:
                ax.set_xlabel("epoch")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    ran = run_config("configs/goldfeld_noisy.toml", QUICK if args.quick else [], args.results / "goldfeld",
                     jobs=args.jobs, reuse=args.reuse, data_dir=args.data_dir)
    results = ran.by("activation_fn", ACTIVATIONS)
    deltas: dict[str, dict[str, xr.Dataset]] = {SP_TITLE: {}, BIN_TITLE: {}}
    correlations: dict[str, dict[str, xr.Dataset]] = {"all recorded": {}, "from the SP peak on": {}}
    for activation, res in results.items():
        sp, binned = labels(res)
        deltas[SP_TITLE][activation] = compression(res, sp)
        deltas[BIN_TITLE][activation] = compression(res, binned)
        correlations["all recorded"][activation] = curve_correlation(res, sp, binned)
        correlations["from the SP peak on"][activation] = curve_correlation(res, sp, binned, from_peak=True)
    first = results[ACTIVATIONS[0]]
    n_runs, epochs = first.dataset.sizes["run"], int(first.dataset["epoch"].values.max())
    n_recorded = first.dataset.sizes["epoch"]
    suffix = "_quick" if args.quick else ""
    draw_curves(results, args.output / f"goldfeld_curves{suffix}.png",
                f"Noisy Tishby network (β = 0.005) on the harmonics data: mean of {n_runs} runs, "
                "95 % bootstrap bands")
    compression_chart(deltas, args.output / f"goldfeld_compression{suffix}.png",
                      title="ΔI = peak − final, 95 % bootstrap intervals over runs")
    text = (f"{n_runs} runs per activation, {epochs} epochs ({n_recorded} recorded, log-spaced); "
            f"wall time {'reused' if ran.reused else minutes(ran.seconds)}\n\n"
            "ΔI = peak − final (bits), mean over runs [95 % bootstrap CI]:\n\n" + compression_table(deltas)
            + "\n\nPearson's r over epochs between SP I(X;T) and H(Bin(T)) per run and layer, "
            "mean over runs [95 % bootstrap CI] (runs with an r; a curve constant over the epochs has none):\n\n"
            + correlation_table(correlations)
            + "\n\nSP standard error of I(X;T) (bits), median / largest over runs and recorded epochs:\n\n"
            + error_table(results) + "\n\n" + accuracy_line(results))
    write_table(args.output / f"goldfeld{suffix}.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
