"""The dispute in one table: ΔI(X;T) of the deepest hidden layer, tanh vs ReLU, under every estimator.

Runs configs/dispute.toml (Tishby's network on the harmonics data, tanh and
ReLU, 30 runs each, 8000 epochs, eight estimators on the same networks) and
takes the SP row from the noisy networks of configs/goldfeld_noisy.toml (their
results in <results>/goldfeld are reused when they exist); writes the table
(rows: estimator; columns: tanh, ReLU; cell: ΔI(X;T) = peak − final of the
deepest hidden layer, mean over runs [95 % bootstrap CI]) and its chart.

    python docs/reproductions/dispute.py [--quick] [--reuse] [--jobs N]
"""
from __future__ import annotations

import sys

import numpy as np
import xarray as xr

from ibsim.analysis.compression import compression, interval_text, spread_text
from ibsim.analysis.reproduction import (
    REPOSITORY,
    Ran,
    arguments,
    minutes,
    run_config,
    write_table,
)
from ibsim.errors import ConfigError
from ibsim.plots.base import save_figure
from ibsim.plots.compare import compression_chart
from ibsim.results import Results

#: What --quick changes (for both configs): 2 runs of each activation, 100 epochs, 7 recorded.
QUICK = ["n_runs=2", "group_size=2", "epochs=100", "record_points=6"]
ACTIVATIONS = ("tanh", "relu")
NOISY_CONFIG = "configs/goldfeld_noisy.toml"
#: Row titles by estimator name, in the table's order.
ROWS = {
    "binning": "fixed bins, width 0.07",
    "binning_adaptive": "range-adaptive bins, 30 per block",
    "binning_entropy": "entropy-adaptive bins (EBAB), 30",
    "kde_upper": "KDE upper bound, variance 0.001",
    "kde_upper_adaptive": "adaptive KDE upper bound, variance 0.1·max abs(T)",
    "knn": "KSG, k = 3",
    "edge": "EDGE",
    "renyi": "Rényi (matrix-based), α = 2",
    "sp": "SP on noisy networks",
}


def deepest_hidden_layer(results: Results) -> int:
    """The number of the deepest hidden layer: the last recorded layer is the
    softmax read-out, so the one before it (5 in Tishby's network).

    Raises:
        ConfigError: The recorded layers are not the hidden layers and the read-out.
    """
    layers = [int(layer) for layer in results.dataset["layer"].values]
    n_hidden = len(results.config.architecture)
    if layers != list(range(1, n_hidden + 2)):
        raise ConfigError(f"expected layers 1..{n_hidden + 1} (the {n_hidden} hidden layers and the read-out), "
                          f"got {layers}")
    return n_hidden


def estimator_name(label: str) -> str:
    """The registered name in an estimator label (``"knn(k=3, ...)"`` → ``"knn"``)."""
    return label.split("(", 1)[0]


def run_noisy(args, overrides: list[str]) -> Ran | None:
    """The noisy networks of :data:`NOISY_CONFIG`, reusing their results when they exist.

    Returns:
        The run, or None under ``--quick`` when the config does not exist.

    Raises:
        ConfigError: The config does not exist (full run).
    """
    if not (REPOSITORY / NOISY_CONFIG).exists():
        if args.quick:
            return None
        raise ConfigError(f"{NOISY_CONFIG} does not exist: the SP row needs its noisy networks")
    return run_config(NOISY_CONFIG, overrides, args.results / "goldfeld", jobs=args.jobs, reuse=True,
                      data_dir=args.data_dir)


def cell(result: xr.Dataset) -> str:
    """``"mean [low, high]"`` of one compression result at one layer."""
    return interval_text(float(result["mean_delta"]), float(result["ci_low"]), float(result["ci_high"]))


def spread(result: xr.Dataset) -> str:
    """``"mean ± std"`` over runs of the final I(X;T) at one layer."""
    final = result["final_I_XT"]
    return spread_text(float(final.mean()), float(final.std(ddof=1)))


def main(argv: list[str] | None = None) -> int:
    """Run (or reuse) both sweeps, then write the table and its chart.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status (0).
    """
    args = arguments(__doc__.splitlines()[0]).parse_args(argv)
    overrides = QUICK if args.quick else []
    runs = {"dispute": run_config("configs/dispute.toml", overrides, args.results / "dispute", jobs=args.jobs,
                                  reuse=args.reuse, data_dir=args.data_dir)}
    noisy = run_noisy(args, overrides)
    sources = [(runs["dispute"].by("activation_fn", ACTIVATIONS), None)]
    if noisy is not None:
        runs["goldfeld_noisy (SP row)"] = noisy
        sources.append((noisy.by("activation_fn", ACTIVATIONS), "sp"))
    rows: dict[str, dict[str, xr.Dataset]] = {}
    labels: dict[str, str] = {}
    layer = deepest_hidden_layer(sources[0][0]["tanh"])
    for results, only in sources:
        for label in results["tanh"].estimators:
            name = estimator_name(label)
            if (only is not None and name != only) or name not in ROWS:
                continue
            if deepest_hidden_layer(results["tanh"]) != layer:
                raise ConfigError(f"{label}: the networks' deepest hidden layer is not layer {layer}")
            labels[ROWS[name]] = label
            rows[ROWS[name]] = {activation: compression(results[activation], label) for activation in ACTIVATIONS}
    ordered = [title for title in ROWS.values() if title in rows]
    n_runs = {activation: int(rows[ordered[0]][activation]["n_runs"].sel(layer=layer)) for activation in ACTIVATIONS}
    epochs = int(sources[0][0]["tanh"].dataset["epoch"].values.max())
    recorded = sources[0][0]["tanh"].dataset.sizes["epoch"]
    suffix = "_quick" if args.quick else ""
    chart = compression_chart({activation: {title: rows[title][activation].sel(layer=[layer]) for title in ordered}
                               for activation in ACTIVATIONS},
                              title=f"ΔI(X;T) = peak − final of hidden layer {layer}, 95 % bootstrap intervals "
                                    "over runs")
    for ax in chart.axes:  # one legend, beside the panels rather than over the bars
        ax.get_legend().remove()
    chart.axes[-1].legend(*chart.axes[-1].get_legend_handles_labels(), fontsize=8, loc="upper left",
                          bbox_to_anchor=(1.02, 1.0))
    save_figure(chart, args.output / f"dispute{suffix}.png")
    head = "| estimator | tanh | relu |\n|---|---|---|"
    times = ", ".join(f"{name}: {'reused' if ran.reused else minutes(ran.seconds)}" for name, ran in runs.items())
    lines = [f"{n_runs['tanh']} runs of each activation, {epochs} epochs ({recorded} recorded); wall time {times}",
             "",
             (f"ΔI(X;T) = peak − final of hidden layer {layer} (the deepest; layer {layer + 1} is the softmax "
             "read-out), bits, mean over runs [95 % bootstrap CI]:"), "", head]
    lines += [f"| {title} | " + " | ".join(cell(rows[title][a].sel(layer=layer)) for a in ACTIVATIONS) + " |" for title in ordered]
    if noisy is None:
        lines.append(f"| {ROWS['sp']} | {NOISY_CONFIG} absent | {NOISY_CONFIG} absent |")
    lines += ["", f"Final I(X;T) of layer {layer} (mean ± std over runs, bits), for scale:", "", head]
    lines += [f"| {title} | " + " | ".join(spread(rows[title][a].sel(layer=layer)) for a in ACTIVATIONS) + " |" for title in ordered]
    if noisy is not None:
        noisy_results = noisy.by("activation_fn", ACTIVATIONS)
        se = {a: noisy_results[a].standard_error(labels[ROWS["sp"]])["I_XT_se"].sel(layer=layer).values
              for a in ACTIVATIONS}
        sp_runs = {a: int(rows[ROWS["sp"]][a]["n_runs"].sel(layer=layer)) for a in ACTIVATIONS}
        lines += ["", f"SP row: the noisy networks of {NOISY_CONFIG} (noise std "
                  f"{noisy_results['tanh'].config.noise_std} on every hidden layer in training; "
                  f"{sp_runs['tanh']} tanh and {sp_runs['relu']} ReLU runs, "
                  f"{int(noisy_results['tanh'].dataset['epoch'].values.max())} epochs, "
                  f"{noisy_results['tanh'].dataset.sizes['epoch']} recorded). "
                  f"SP's Monte Carlo standard error of I(X;T) at layer {layer} over runs and recorded epochs "
                  "(bits): " + "; ".join(f"{a}: mean {np.nanmean(se[a]):.4f}, max {np.nanmax(se[a]):.4f}"
                                         for a in ACTIVATIONS)]
    lines += ["", "Estimators (the SP row's networks are noisy: Gaussian noise on every hidden layer in training):",
              ""] + [f"- {title}: `{labels[title]}`" for title in ordered]
    write_table(args.output / f"dispute{suffix}.md", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
