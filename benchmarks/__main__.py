"""``python -m benchmarks [training] [binning] [--runs 32 128]``: print speed tables."""
from __future__ import annotations

import argparse
import os
import platform

from benchmarks.timing import table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("suites", nargs="*", help="which benchmarks: training, binning (default: all)")
    parser.add_argument("--runs", nargs="+", type=int, default=[32, 128], help="ensemble sizes for training")
    args = parser.parse_args()
    args.suites = args.suites or ["training", "binning"]
    unknown = set(args.suites) - {"training", "binning"}
    if unknown:
        parser.error(f"unknown suites {sorted(unknown)}; valid: training, binning")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    if "training" in args.suites:
        from benchmarks import training

        print("\nTraining, Tishby net, all layers recorded on all 4096 samples every epoch")
        print("(speed = Keras fit-per-run time / ibsim time, per run-epoch)\n")
        print(table(training.run(args.runs),
                    ("runs", "activations", "ibsim ms/run-epoch", "Keras ms/run-epoch", "speed")))
    if "binning" in args.suites:
        from benchmarks import binning

        print("\nBinning estimator, bin size 0.07, one thread (speed = peer time / ibsim time)\n")
        rows = binning.single_layer_rows() + binning.whole_run_rows()
        print(table(rows, ("what", "peer method", "peer us", "ibsim us", "speed")))


if __name__ == "__main__":
    main()
