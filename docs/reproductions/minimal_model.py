"""Reproduce the seed's minimal model (documentation section 7.2).

One input neuron x ~ N(0, 1) (1000 samples), one hidden neuron T = act(w x) for
weights 0.1 ... 7.9, and I(X;T) = H(T) by binning over the activation's range
across all weights ("fixed") or over each weight's own range ("adaptive").
Writes ``minimal_model.png`` and ``minimal_model.md`` (``_quick`` with ``--quick``) into the output folder
and prints the table::

    python docs/reproductions/minimal_model.py            # all 79 weights
    python docs/reproductions/minimal_model.py --quick    # every 4th weight (and 7.9)
"""
from __future__ import annotations

import time

import numpy as np
import xarray as xr

from ibsim.analysis import minimal_model, plot_minimal_model
from ibsim.analysis.minimal_model import default_weights
from ibsim.analysis.reproduction import arguments, minutes, page_header, write_table

#: Weights shown in the table (the nearest available ones in quick mode).
TABLE_WEIGHTS = (0.1, 1.0, 2.0, 4.0, 7.9)


def quick_weights() -> np.ndarray:
    """Every 4th of the seed's weights, plus the last (7.9), so the fixed range is the full run's."""
    weights = default_weights()
    return np.unique(np.append(weights[::4], weights[-1]))


def table(ds: xr.Dataset) -> str:
    """The markdown table: I(X;T) per activation and binning at a few weights, and the maximum."""
    available = ds["weight"].values
    shown = list(dict.fromkeys(float(available[np.argmin(np.abs(available - w))]) for w in TABLE_WEIGHTS))
    head = ["activation", "saturation", "binning"] + [f"w = {w:g}" for w in shown] + ["max"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["--:"] * (len(shown) + 1)) + "|"]
    for name, saturation in zip(ds["activation"].values, ds["saturation"].values):
        for binning in ds["binning"].values:
            curve = ds["I_XT"].sel(activation=name, binning=binning)
            values = [f"{float(curve.sel(weight=w)):.2f}" for w in shown] + [f"{float(curve.max()):.2f}"]
            lines.append("| " + " | ".join([str(name), str(saturation), str(binning)] + values) + " |")
    return "\n".join(lines)


def report(ds: xr.Dataset, quick: bool) -> str:
    """The markdown page: settings, input entropy and the table."""
    n_bins = int(ds.attrs["n_bins"])
    weights = ds["weight"].values
    return "\n".join([
        *page_header("Minimal model: I(X;T) of one neuron T = act(w x)", "minimal_model.py", quick,
                     "seed documentation section 7.2"),
        f"- input: {ds.attrs['input']}",
        f"- weights: {weights.size} values from {weights.min():g} to {weights.max():g}",
        f"- fixed range: {n_bins - 1} bins between the activation's min and max over all weights",
        f"- adaptive range: {n_bins} bins between the min and max at each weight",
        f"- input entropy H(X) ({n_bins} bins): {float(ds['input_entropy']):.2f} bits",
        "",
        "I(X;T) in bits:",
        "",
        table(ds),
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    """Compute the minimal model, write the figure and the table, print the table."""
    args = arguments(__doc__.splitlines()[0]).parse_args(argv)
    start = time.perf_counter()
    ds = minimal_model(weights=quick_weights() if args.quick else None)
    suffix = "_quick" if args.quick else ""
    plot_minimal_model(ds, args.output / f"minimal_model{suffix}.png")
    write_table(args.output / f"minimal_model{suffix}.md", report(ds, args.quick))
    print(f"done in {minutes(time.perf_counter() - start)}")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
