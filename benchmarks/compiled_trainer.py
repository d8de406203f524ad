"""``python -m benchmarks.compiled_trainer``: the compiled dense trainer against XLA.

The main job's group (``configs/tishby_tanh.toml``: 12-10-7-5-4-3-2 tanh, Adam
4e-4, batch 256, 3277 training samples, held-out metrics on the 819 test
samples after each epoch) for R runs: milliseconds per epoch of
``Ensemble.train_epoch`` (the XLA program) and of
``CompiledTrainer.train_epoch``, alternating in one process (blocks of epochs,
several repeats; compilation and warm-up excluded), so that the ratio is
measured under the same load. Training only: no recording, no estimation.

``--groups [R ...]`` measures the small groups instead: ``Ensemble.train_epochs`` of
the compiled ensemble, ``--epochs`` epochs per call (the pipeline trains the
epochs between two recorded ones in one call), milliseconds per run-epoch of
each group size against the largest, the sizes interleaved in each repeat.

OpenMP's threads sleep between calls (``OMP_WAIT_POLICY=PASSIVE``, which
``ibsim_ext`` sets before its kernels load): spinning after a compiled epoch
would steal the cores from the XLA epoch that follows it.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from benchmarks.timing import table  # noqa: E402

ARCHITECTURE = [10, 7, 5, 4, 3]


def measure(n_runs: int, threads: int, epochs: int, repeats: int) -> dict[str, list[float]]:
    """Milliseconds per epoch of each trainer, one value per repeat of ``epochs`` epochs each."""
    from ibsim import Network
    from ibsim.datasets import Harmonics
    from ibsim.networks.compiled_trainer import CompiledTrainer
    from ibsim.networks.ensemble import Ensemble

    data = Harmonics().splits(0, 0.8)
    x, y, xm, ym = data.training.X, data.training.Y, data.test.X, data.test.Y
    network = Network(architecture=ARCHITECTURE, activation_fn="tanh", optimizer="adam", learning_rate=4e-4,
                      batch_size=256, trainer="xla")
    ensemble = Ensemble(network, x.shape[1], y.shape[1], range(n_runs), seed=0, threads=threads)
    ensemble.set_held_out(xm, ym)
    trainer = CompiledTrainer.from_signature(ensemble.program.sig, network.batch_size)
    params = [p.numpy().copy() for p in ensemble.params]
    slots = [s.numpy().copy() for s in ensemble.slots]
    active = np.ones(n_runs, bool)
    tf = ensemble._tf
    tx, ty = tf.constant(x), tf.constant(y)
    steps = 0

    def xla(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            ensemble.train_epoch(tx, ty)
        return (time.perf_counter() - start) / count * 1e3

    def compiled(count: int) -> float:
        nonlocal steps
        start = time.perf_counter()
        for _ in range(count):
            perm = ensemble.batch_orders(len(x))  # drawn as the ensemble draws them (included in the time)
            steps = trainer.train_epoch(params, slots, steps, active, x, y, perm, xm, ym, threads=threads).steps
        return (time.perf_counter() - start) / count * 1e3

    xla(5), compiled(5)  # compile, warm up
    times: dict[str, list[float]] = {"xla": [], "compiled": []}
    for _ in range(repeats):
        times["xla"].append(xla(epochs))
        times["compiled"].append(compiled(epochs))
    return times


def group_rows(sizes: list[int], threads: int, epochs: int, repeats: int) -> list[tuple]:
    """(runs, ms per run-epoch (range), relative to the largest group) of compiled
    ensembles trained ``epochs`` epochs per call; best of ``repeats``."""
    from ibsim import Network
    from ibsim.datasets import Harmonics
    from ibsim.networks.ensemble import Ensemble

    data = Harmonics().splits(0, 0.8)
    x, y = np.ascontiguousarray(data.training.X, np.float32), np.ascontiguousarray(data.training.Y, np.float32)
    network = Network(architecture=ARCHITECTURE, activation_fn="tanh", optimizer="adam", learning_rate=4e-4,
                      batch_size=256, trainer="compiled")
    groups = {}
    for n_runs in sizes:
        groups[n_runs] = Ensemble(network, x.shape[1], y.shape[1], range(n_runs), seed=0, threads=threads)
        groups[n_runs].set_held_out(data.test.X, data.test.Y)
        groups[n_runs].train_epochs(x, y, 2)  # warm up
    times: dict[int, list[float]] = {n_runs: [] for n_runs in sizes}
    for _ in range(repeats):
        for n_runs, ensemble in groups.items():
            start = time.perf_counter()
            ensemble.train_epochs(x, y, epochs)
            times[n_runs].append((time.perf_counter() - start) / epochs / n_runs * 1e3)
    base = min(times[max(sizes)])
    return [(n_runs, f"{min(t):.3f} ({min(t):.3f}-{max(t):.3f})", f"{min(t) / base:.2f}x")
            for n_runs, t in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compiled_trainer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", type=int, default=[1, 5, 20], help="group sizes R")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads of both trainers")
    parser.add_argument("--epochs", type=int, default=40, help="epochs per timed block")
    parser.add_argument("--repeats", type=int, default=5, help="alternating blocks per trainer")
    parser.add_argument("--groups", nargs="*", type=int, metavar="R",
                        help="instead: these group sizes (default 1 2 3 5 8 20) against the largest, "
                             "compiled ensemble, --epochs per call")
    args = parser.parse_args()
    if args.groups is not None:
        sizes = sorted(set(args.groups or [1, 2, 3, 5, 8, 20]))
        print(f"Tishby net, compiled ensemble, {args.epochs} epochs per call, {args.threads} threads, "
              f"best of {args.repeats} (range)\n")
        print(table(group_rows(sizes, args.threads, args.epochs, args.repeats),
                    ("runs", "ms per run-epoch", f"vs {max(sizes)} runs")))
        return
    rows = []
    for n_runs in args.runs:
        times = measure(n_runs, args.threads, args.epochs, args.repeats)
        xla, compiled = np.array(times["xla"]), np.array(times["compiled"])
        ratio = xla / compiled  # per repeat: the two blocks ran back to back
        rows.append((n_runs, f"{np.median(xla):.2f} ({xla.min():.2f}-{xla.max():.2f})",
                     f"{np.median(compiled):.3f} ({compiled.min():.3f}-{compiled.max():.3f})",
                     f"{np.median(compiled) / n_runs:.3f}",
                     f"{np.median(ratio):.1f} ({ratio.min():.1f}-{ratio.max():.1f})"))
    print(f"Tishby net, training epochs only, {args.threads} threads, {args.repeats} x {args.epochs} epochs each,"
          " median (range)\n")
    print(table(rows, ("runs", "XLA ms/epoch", "compiled ms/epoch", "compiled ms/run-epoch", "XLA/compiled")))


if __name__ == "__main__":
    main()
