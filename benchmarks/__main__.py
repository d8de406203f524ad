"""``python -m benchmarks [training] [binning] [--runs 32 128]``: print speed tables."""
from __future__ import annotations

import argparse
import os
import platform

from benchmarks.timing import table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("suites", nargs="*", help="which benchmarks: training, binning, kde, kde-large, "
                        "estimators, parallel, keras_path, conv, file_size, jobs (default: all but kde-large, parallel, "
                        "keras_path, conv, file_size and jobs)")
    parser.add_argument("--runs", nargs="+", type=int, default=[32, 128], help="ensemble sizes for training")
    parser.add_argument("--sizes", nargs="+", type=int, default=[10000, 70000], help="sample counts for kde-large")
    parser.add_argument("--data-dir", default=None, help="folder of downloaded datasets (conv: MNIST)")
    parser.add_argument("--jobs", nargs="+", default=["5x500", "50x500"],
                        help="job sizes for jobs, RUNSxEPOCHS (default: 5x500 50x500)")
    args = parser.parse_args()
    suites = {"training", "binning", "kde", "kde-large", "estimators", "parallel", "keras_path", "conv", "file_size",
              "jobs"}
    args.suites = args.suites or ["training", "binning", "kde", "estimators"]
    unknown = set(args.suites) - suites
    if unknown:
        parser.error(f"unknown suites {sorted(unknown)}; valid: {', '.join(sorted(suites))}")
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

    if "kde" in args.suites:
        from benchmarks import kde

        print("\nKDE upper bound, tanh layer N = 4096, d = 10 (speed = dense time / ibsim time, all cores)\n")
        print(table(kde.small_rows(),
                    ("case", "dense ms", "ibsim ms", "speed", "ibsim 1 thread ms", "max |diff| bits")))
        print("\nKDE upper bound on the main job's own layers (configs/tishby_tanh.toml, 1 run of 2000 epochs,")
        print("last recorded epoch; speed = TensorFlow dense time / ibsim time, all cores)\n")
        print(table(kde.main_job_rows(),
                    ("variance", "layer", "width", "ibsim ms", "TF dense ms", "speed", "max |diff| bits")))
    if "kde-large" in args.suites:
        from benchmarks import kde

        print("\nKDE upper bound at MNIST scale (tanh layer of 256 on MNIST test images, 10 classes)\n")
        print(table(kde.large_rows(args.sizes), ("case", "seconds", "peak MB", "MB above start", "I(X;T) bits")))

    if "estimators" in args.suites:
        from benchmarks import estimators

        print("\nEvery estimator over a stored run of the smoke config (3 runs x 300 epochs, seed schedule)\n")
        print(table(estimators.rows(), ("estimator", "blocks", "seconds", "ms per (run, epoch, layer)")))
    if "parallel" in args.suites:
        from benchmarks import parallel

        print("\nParallel backends, whole commands (speed = 1-worker time / time)\n")
        rows = parallel.estimation_rows() + parallel.sweep_rows()
        print(table(rows, ("work", "backend", "seconds", "speed")))

    if "jobs" in args.suites:
        from benchmarks import jobs

        print("\nWhole jobs end to end: the Tishby net, seed schedule, binning 0.07, activations kept")
        print("(speed = the peers' way (Keras fit per run + recording callback + ibsgd's binning) / ibsim)\n")
        sizes = [tuple(int(v) for v in size.split("x")) for size in args.jobs]
        print(table(jobs.rows(sizes), ("runs", "epochs", "recorded", "ibsim s", "peers s", "speed")))

    if "keras_path" in args.suites:
        from benchmarks import keras_path

        print("\nAny Keras model: the Tishby net as the ensemble and as a Keras factory model, whole serial runs")
        print("(5 runs x 200 epochs, seed schedule, binning; cost = time / ensemble time)\n")
        print(table(keras_path.rows(), ("path", "seconds", "ms per run-epoch", "cost")))

    if "conv" in args.suites:
        from benchmarks import conv

        print("\nConv nets: the LeNet-like net of configs/mnist_cnn.toml on MNIST's test images, all layers recorded")
        print("every epoch (channel means of conv/pooling layers; speed = Keras time / ibsim time per run-epoch)\n")
        print(table(conv.rows(data_dir=args.data_dir), ("what", "runs", "s per run-epoch", "speed")))

    if "file_size" in args.suites:
        from benchmarks import file_size

        print("\nResults file storage: each case trained once, its file assembled once per storage in 2 interleaved")
        print("rounds (ratios against float32 none of the same round: min-max; read = every cube, run by run)\n")
        table_rows, notes = file_size.rows()
        print(table(table_rows, ("case", "storage", "MB", "size", "write s", "write", "read s", "read")))
        print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
