"""KDE benchmark: the compiled bounds against the peers' dense pairwise formula.

Baselines compute what ibsgd's ``computeMI`` computes for the upper bound of one
layer: ``entropy_estimator_kl`` on the layer and on each class (``Kget_dists``,
the full N x N distance matrix, then ``logsumexp``), in NumPy (scipy's
logsumexp) and in TensorFlow (one compiled function). Large cases run in a
subprocess each, so that peak memory can be read per case.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from benchmarks.timing import best_of

VARIANCE = 1e-3


def tanh_layer(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.tanh(2.0 * rng.normal(size=(n, d))).astype(np.float32)


def mnist_layer(n: int, width: int = 256, seed: int = 0) -> np.ndarray:
    """A tanh layer (glorot weights) on MNIST test images; beyond 10 000 samples
    the images repeat with a small jitter (the training images are not offline)."""
    from ibsim.datasets.idx import load_idx_images
    from tests.conftest import shared_datasets

    folder = shared_datasets()
    if folder is None:
        raise SystemExit("needs ../shared/datasets/mnist for the MNIST-scale KDE benchmark")
    images = load_idx_images(folder / "mnist" / "t10k-images-idx3-ubyte.gz").reshape(10000, -1) / 255.0
    rng = np.random.default_rng(seed)
    reps = -(-n // len(images))
    x = np.concatenate([images + (r > 0) * 0.01 * rng.normal(size=images.shape) for r in range(reps)])[:n]
    limit = np.sqrt(6.0 / (x.shape[1] + width))
    w = rng.uniform(-limit, limit, (x.shape[1], width))
    return np.tanh(x @ w).astype(np.float32)


def labels_for(n: int, classes: int = 2, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, n)


def numpy_dense(x: np.ndarray, labels: np.ndarray, var: float) -> tuple[float, float]:
    """The peers' upper bound, densely in NumPy: I(X;T), I(T;Y) in bits."""
    from scipy.special import logsumexp

    def h(points):
        points = points.astype(np.float64)
        n, d = points.shape
        sq = (points**2).sum(1)[:, None]
        dists = sq + sq.T - 2 * points @ points.T
        lprobs = logsumexp(-dists / (2 * var), axis=1) - np.log(n) - d / 2 * np.log(2 * np.pi * var)
        return d / 2 - np.mean(lprobs)

    d = x.shape[1]
    h_t = h(x)
    h_ty = sum(np.mean(labels == c) * h(x[labels == c]) for c in np.unique(labels))
    return (h_t - d / 2 * (np.log(2 * np.pi * var) + 1)) / np.log(2), (h_t - h_ty) / np.log(2)


def tensorflow_dense(x: np.ndarray, labels: np.ndarray, var: float):
    """A compiled TensorFlow function for the same (built once, then timed).

    The lower bound (``entropy_estimator_bd``) is this formula at 4 ``var``
    plus a constant: the same work, so the same function times both.
    """
    from ibsim.networks.tf_setup import tensorflow_module
    from ibsim.threads import worker_threads

    tf = tensorflow_module(worker_threads())
    d = x.shape[1]
    masks = [labels == c for c in np.unique(labels)]

    @tf.function
    def h(points):
        points = tf.cast(points, tf.float64)
        n = tf.cast(tf.shape(points)[0], tf.float64)
        x2 = tf.reduce_sum(tf.square(points), axis=1, keepdims=True)
        dists = x2 + tf.transpose(x2) - 2 * tf.matmul(points, points, transpose_b=True)
        lprobs = (tf.reduce_logsumexp(-dists / (2 * var), axis=1) - tf.math.log(n)
                  - d / 2 * np.log(2 * np.pi * var))
        return d / 2 - tf.reduce_mean(lprobs)

    tensors = [tf.constant(x)] + [tf.constant(x[m]) for m in masks]
    weights = [float(m.mean()) for m in masks]

    def run():
        h_t = float(h(tensors[0]))
        h_ty = sum(w * float(h(t)) for w, t in zip(weights, tensors[1:]))
        return (h_t - d / 2 * (np.log(2 * np.pi * var) + 1)) / np.log(2), (h_t - h_ty) / np.log(2)

    return run


def ibsim_kde(x: np.ndarray, labels: np.ndarray, var: float, threads: int | None = None, bound: str = "upper"):
    from ibsim.estimators import KDELower, KDEUpper, LayerBlocks

    estimator = (KDEUpper if bound == "upper" else KDELower)(variance=var)
    blocks = LayerBlocks(x[None], labels, int(labels.max()) + 1)

    def run():
        if threads:
            from ibsim import threads as threads_module

            threads_module.set_worker_threads(threads)
        return tuple(estimator.estimate_blocks(blocks)[0])

    return run


def small_rows() -> list[tuple]:
    """N = 4096, d = 10: ibsim against dense NumPy and TensorFlow, at var 1e-3 (the
    seed's and Saxe et al.'s setting) and at var 0.1 (a wide kernel: little to prune)."""
    rows = []
    x, labels = tanh_layer(4096, 10), labels_for(4096)
    for var in (VARIANCE, 0.1):
        ours1 = best_of(ibsim_kde(x, labels, var, threads=1), repeats=3)
        ours = best_of(ibsim_kde(x, labels, var, threads=os.cpu_count()), repeats=3)
        tf_time = best_of(tensorflow_dense(x, labels, var), repeats=3)
        np_time = best_of(lambda: numpy_dense(x, labels, var), repeats=2)
        agree = np.abs(np.array(ibsim_kde(x, labels, var)()) - np.array(numpy_dense(x, labels, var))).max()
        ms = 1000
        for name, dense in (("NumPy", np_time), ("TensorFlow", tf_time)):
            rows.append((f"4096 x 10, var {var:g}, {name} dense", f"{dense * ms:.0f}", f"{ours * ms:.1f}",
                         f"{dense / ours:.0f}x", f"{ours1 * ms:.1f}", f"{agree:.1e}" if name == "NumPy" else ""))
    return rows


def main_job_layers(epochs: int = 2000) -> tuple[list[np.ndarray], np.ndarray, int]:
    """The main job's own layers: a shortened ``configs/tishby_tanh.toml`` run.

    One run of ``epochs`` epochs (the seed's schedule, activations kept); the
    last recorded epoch's six layers (widths 10, 7, 5, 4, 3, 2 on the 4096
    harmonics samples), which are saturated like the late epochs of the full
    8000-epoch job.

    Args:
        epochs: Training epochs of the shortened run.

    Returns:
        The layers ((4096, width) float32 each), the labels and the epoch.
    """
    import tempfile

    import xarray as xr

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "t.nc")
        subprocess.run(
            [sys.executable, "-m", "ibsim", "run", os.path.join(root, "configs", "tishby_tanh.toml"),
             "--set", f"epochs={epochs}", "--set", "n_runs=1", "--set", "save_activations=true",
             "-o", path, "--no-plots", "-q"], check=True, cwd=root,
        )
        with xr.open_dataset(path) as ds:
            layers = [np.ascontiguousarray(ds[f"activations_{k}"].isel(run=0, epoch=-1).values)
                      for k in range(1, 7)]
            return layers, ds["y"].values.astype(np.int64), int(ds["epoch"].values[-1])


def main_job_rows(epochs: int = 2000, variances: tuple = (1e-3, 1e-2, 0.1), rounds: int = 3,
                  bounds: tuple = ("upper", "lower"), layers: tuple | None = None) -> list[tuple]:
    """ibsim against TensorFlow dense on the main job's layers, per variance, bound and layer.

    Both on all cores, timed alternately in ``rounds`` interleaved rounds
    (best of 5 calls for ibsim, of 3 for TensorFlow, per round); each column
    is the range over the rounds, the speed-up range is of the per-round
    ratios. The last column is ibsim's largest difference from the dense
    NumPy formula (bits). The lower bound's dense formula is the upper's at
    4 var (the same work).

    Args:
        epochs: Training epochs of the shortened run (see ``main_job_layers``).
        variances: Noise variances.
        rounds: Interleaved timing rounds.
        bounds: "upper" and/or "lower".
        layers: ``main_job_layers``'s result, to skip the training run.

    Returns:
        Rows: variance (bound), layer, width, ibsim ms, TF ms, speed-up, difference.
    """
    layers, labels, epoch = layers or main_job_layers(epochs)
    cases = [(var, bound, k, x) for var in variances for bound in bounds for k, x in enumerate(layers, 1)]
    times = {}
    for _ in range(rounds):
        for var, bound, k, x in cases:
            width = 4 * var if bound == "lower" else var
            ours = best_of(ibsim_kde(x, labels, var, threads=os.cpu_count(), bound=bound), repeats=5)
            tf_time = best_of(tensorflow_dense(x, labels, width), repeats=3)
            times.setdefault((var, bound, k), []).append((ours, tf_time))
    rows = []
    for var, bound, k, x in cases:
        ours, tf_time = np.array(times[(var, bound, k)]).T
        width = 4 * var if bound == "lower" else var
        dense = np.array(numpy_dense(x, labels, width))  # the lower bound: exactly the formula at 4 var
        agree = np.abs(np.array(ibsim_kde(x, labels, var, bound=bound)()) - dense).max()
        ratio = tf_time / ours
        rows.append((f"{var:g} ({bound})", f"{k} (epoch {epoch})", x.shape[1],
                     f"{ours.min() * 1000:.2f}-{ours.max() * 1000:.2f}",
                     f"{tf_time.min() * 1000:.0f}-{tf_time.max() * 1000:.0f}",
                     f"{ratio.min():.0f}-{ratio.max():.0f}x", f"{agree:.1e}"))
    return rows


def high_water_mb() -> float:
    """Peak resident memory of this process (VmHWM, MB). Unlike ru_maxrss, which
    Linux carries over from the parent across exec, VmHWM starts anew."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _case(which: str, layer_file: str) -> dict:
    """Runs in a subprocess: one large case, reporting time and peak memory.

    The layer is made by the parent and loaded here, so that this process's
    high-water mark is the estimator's own.
    """
    x = np.load(layer_file)
    labels = labels_for(len(x), classes=10)
    baseline = high_water_mb()
    if which == "ibsim":
        run = ibsim_kde(x, labels, VARIANCE)
    elif which == "tensorflow":
        run = tensorflow_dense(x, labels, VARIANCE)
    else:
        run = lambda: numpy_dense(x, labels, VARIANCE)  # noqa: E731
    start = time.perf_counter()
    value = run()
    seconds = time.perf_counter() - start
    peak = high_water_mb()
    return {"seconds": seconds, "peak_mb": peak, "extra_mb": peak - baseline,
            "value": [float(v) for v in value]}


def large_rows(sizes: list[int], dense_up_to: int = 10000) -> list[tuple]:
    """MNIST-scale layers (256 wide): time and peak memory per case."""
    import tempfile

    rows = []
    folder = tempfile.TemporaryDirectory()
    for n in sizes:
        layer_file = os.path.join(folder.name, f"layer_{n}.npy")
        np.save(layer_file, mnist_layer(n))
        for which in (["ibsim", "numpy"] if n <= dense_up_to else ["ibsim"]):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.kde", which, layer_file], capture_output=True, text=True,
                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            )
            if out.returncode != 0:
                rows.append((f"{n} x 256, {which}", "failed", out.stderr.strip().splitlines()[-1][:60], "", ""))
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append((f"{n} x 256, {which}", f"{r['seconds']:.1f}", f"{r['peak_mb']:.0f}",
                         f"{r['extra_mb']:.0f}", f"{r['value'][0]:.3f}"))
        dense_gb = 3 * n * n * 8 / 1e9
        rows.append((f"{n} x 256, dense matrices", "", "", f"~{dense_gb * 1000:.0f} (3 N x N float64)", ""))
    return rows


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(json.dumps(_case(sys.argv[1], sys.argv[2])))
