"""Every estimator over a whole stored run: seconds per (run, epoch, layer) block."""
from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from unittest import mock

import numpy as np

SPECS = ["binning", "binning_range", 'binning_adaptive(scope="layer")', "kde_upper", "kde_lower", "knn",
         "edge"]
SPECS += ["renyi(alpha=2)", "renyi(alpha=1.01)"]  # matrix-based Rényi: compiled pair sums; eigen path
SPECS += ['knn(metric="euclidean")']  # k-NN with Euclidean balls (the default "knn" is the max norm)
SPECS += ["sp"]  # sample propagation (Monte Carlo mixture entropy; meant for noisy networks)
SPECS += ["binning_entropy"]  # entropy-based adaptive binning (Chelombiev et al.'s EBAB)
SPECS += ["kde_upper_adaptive", "kde_lower_adaptive"]  # adaptive KDE bounds (Chelombiev et al.'s aKDE)

#: The k-NN estimators, each also timed with its original neighbour search (the baseline); the first, the
#: max norm, is the original k-NN estimator.
KNN_SPECS = ["knn", 'knn(metric="euclidean")']
#: The k-NN tables' timing columns: ibsim, the same estimator with cKDTree, the speed-up over it, and the
#: speed-up over the original k-NN estimator (the max norm with cKDTree) timed in the same round.
KNN_COLUMNS = ("ibsim ms/block", "cKDTree ms/block", "speed (range)", "vs original knn")


@contextmanager
def ckdtree_knn() -> Iterator[None]:
    """The k-NN estimators with their original neighbour search, scipy's ``cKDTree`` (the speed baseline)."""
    from scipy.spatial import cKDTree

    from ibsim.estimators import knn

    def kth_distance(points, k, metric="chebyshev", split=None, group=1):  # group: the compiled search's hint
        points = np.asarray(points, dtype=np.float64)
        if split is not None and split < points.shape[1] and metric == "euclidean":
            raise NotImplementedError("cKDTree has no split joint norm")
        return cKDTree(points).query(points, k=k + 1, p=np.inf if metric == "chebyshev" else 2)[0][:, -1]

    def count_within(points, radius, metric="chebyshev"):
        return np.asarray(cKDTree(points).query_ball_point(points, np.nextafter(radius, 0),
                                                           p=np.inf if metric == "chebyshev" else 2,
                                                           return_length=True))

    # Ross's I(T;Y) as it was: per class the k-th distances, then one count over all samples (cKDTree both)
    with mock.patch.object(knn, "_kth_distance", kth_distance), mock.patch.object(knn, "_count_within", count_within), \
            mock.patch.object(knn, "_class_radius_and_count", knn._class_radius_and_count_two_step):
        yield


def stored_run(folder: str, epochs: int) -> tuple[Path, int]:
    """The smoke config run for ``epochs`` into ``folder``: its file and its number of (run, epoch, layer) blocks."""
    from ibsim import Experiment
    from tests.conftest import CONFIGS

    path = Path(folder) / "smoke.nc"
    results = Experiment.from_toml(CONFIGS / "smoke.toml", [f"epochs={epochs}"]).run(path)
    ds = results.dataset
    blocks = ds.sizes["run"] * ds.sizes["epoch"] * ds.sizes["layer"]
    results.close()
    return path, blocks


def rows(epochs: int = 300) -> list[tuple]:
    """Estimate the smoke config's stored activations with each estimator in turn."""
    from ibsim.pipeline.reestimate import estimate_file

    out = []
    with tempfile.TemporaryDirectory() as folder:
        path, blocks = stored_run(folder, epochs)
        for spec in SPECS:
            if spec in KNN_SPECS:
                continue
            start = time.perf_counter()
            estimate_file(path, spec, Path(folder) / "out.nc")
            seconds = time.perf_counter() - start
            out.append((spec, blocks, f"{seconds:.1f}", f"{1000 * seconds / blocks:.2f}"))
        for spec, (seconds,), baseline in knn_times(path, Path(folder) / "out.nc"):
            out.append((f"{spec} (x{baseline / seconds:.1f} the cKDTree baseline)", blocks, f"{seconds:.1f}",
                        f"{1000 * seconds / blocks:.2f}"))
            out.append((f"{spec} with scipy cKDTree (baseline)", blocks, f"{baseline:.1f}",
                        f"{1000 * baseline / blocks:.2f}"))
    return out


def knn_times(path: Path, output: Path, threads: tuple = (None,)) -> list[tuple[str, list[float], float]]:
    """Seconds of each k-NN estimator over the file, and of its baseline, in one process one after the other.

    Both run on the serial backend (in this process, the baseline's search patched in) and
    must give the same estimates bit for bit (checked).

    Args:
        path: A stored run with activations.
        output: Where the estimates are written (overwritten).
        threads: The compiled search's thread counts, each timed (None: the worker's share,
            all cores); the baseline's cKDTree searches run on one thread, timed once.

    Returns:
        Per estimator: its spec, its seconds per thread count, the baseline's seconds.
    """
    import xarray as xr

    from ibsim.pipeline.reestimate import estimate_file
    from ibsim.threads import limit_kernel_threads, worker_threads

    def timed(spec: str, n: int | None) -> tuple[float, np.ndarray]:
        start = time.perf_counter()
        with limit_kernel_threads(n or worker_threads()):
            estimate_file(path, spec, output, backend="serial", quiet=True)
        seconds = time.perf_counter() - start
        with xr.open_dataset(output) as ds:
            values = np.stack([ds["I_XT"].values, ds["I_TY"].values])
        return seconds, values

    out = []
    for spec in KNN_SPECS:
        with ckdtree_knn():
            baseline, expected = timed(spec, 1)
        seconds = []
        for n in threads:
            fast, values = timed(spec, n)
            if not np.array_equal(values, expected, equal_nan=True):
                raise AssertionError(f"{spec}: the compiled search and cKDTree disagree")
            seconds.append(fast)
        out.append((spec, seconds, baseline))
    return out


def knn_speed(epochs: int = 300, repeats: int = 3, threads: tuple = (1, 2)) -> list[tuple]:
    """The k-NN rows alone, ``repeats`` times over one stored run: speed over the baseline per repeat.

    Args:
        epochs: Epochs of the smoke run (its blocks: 3 runs x the recorded epochs x 6 layers).
        repeats: Timing rounds (each: the baseline, then ibsim per thread count, per estimator).
        threads: The compiled search's thread counts, one row each (the baseline: one thread).

    Returns:
        Rows: estimator, threads, blocks, ibsim ms per block, cKDTree ms per block, speed-up, speed-up over
        the original k-NN estimator (``knn`` with cKDTree; ranges, :data:`KNN_COLUMNS`).
    """
    with tempfile.TemporaryDirectory() as folder:
        path, blocks = stored_run(folder, epochs)
        times = [knn_times(path, Path(folder) / "out.nc", threads) for _ in range(repeats)]
    rows = []
    for i, spec in enumerate(KNN_SPECS):
        for j, n in enumerate(threads):
            fast = [t[i][1][j] for t in times]
            rows.append((spec, n, blocks) + _speed_columns(fast, [t[i][2] for t in times], blocks)
                        + (_speed_range(fast, [t[0][2] for t in times]),))
    return rows


def _speed_columns(fast: list[float], base: list[float], blocks: int) -> tuple[str, str, str]:
    """ms per block of ibsim and of the baseline (ranges over rounds) and the per-round speed-up range."""
    return (f"{1000 * min(fast) / blocks:.2f}-{1000 * max(fast) / blocks:.2f}",
            f"{1000 * min(base) / blocks:.2f}-{1000 * max(base) / blocks:.2f}", _speed_range(fast, base))


def _speed_range(fast: list[float], base: list[float]) -> str:
    """The range over rounds of base / fast (each round's own pair)."""
    speeds = [b / f for b, f in zip(base, fast)]
    return f"{min(speeds):.1f}-{max(speeds):.1f}"


def knn_main_job_rows(epochs: int = 2000, rounds: int = 3, threads: tuple = (1, 2),
                      layers: tuple | None = None) -> list[tuple]:
    """The k-NN estimators on the main job's real layers, per layer: ibsim against the cKDTree baseline.

    The layers are ``benchmarks.kde.main_job_layers``'s (a shortened ``configs/tishby_tanh.toml``
    run: the last recorded epoch's six saturated tanh layers, 4096 samples each). One block is
    one layer's ``KNN.estimate_blocks`` (I(X;T) over 8 x 4096 noisy copies and I(T;Y)); in each
    round every case is timed once per thread count and once with cKDTree (one thread), the
    estimates checked equal bit for bit.

    Args:
        epochs: Training epochs of the shortened run.
        rounds: Interleaved timing rounds (the columns are ranges over them).
        threads: The compiled search's thread counts.
        layers: ``main_job_layers``'s result, to skip the training run.

    Returns:
        Rows: estimator, threads, layer (width), ibsim ms, cKDTree ms, speed-up, speed-up over the original
        k-NN estimator (:data:`KNN_COLUMNS`); then one row per
        estimator and thread count over all six layers together (ms per block, mean).
    """
    from benchmarks.kde import main_job_layers
    from ibsim.estimators import KNN, LayerBlocks
    from ibsim.threads import limit_kernel_threads

    layers, labels, epoch = layers or main_job_layers(epochs)
    classes = int(labels.max()) + 1
    times: dict = {}
    for _ in range(rounds):
        for spec in KNN_SPECS:
            estimator = KNN(metric="euclidean" if "euclidean" in spec else "chebyshev")
            for k, x in enumerate(layers, 1):
                block = LayerBlocks(x[None], labels, classes)
                with ckdtree_knn():
                    start = time.perf_counter()
                    expected = estimator.estimate_blocks(block)
                    base = time.perf_counter() - start
                for n in threads:
                    with limit_kernel_threads(n):
                        start = time.perf_counter()
                        values = estimator.estimate_blocks(block)
                        fast = time.perf_counter() - start
                    if not np.array_equal(values, expected):
                        raise AssertionError(f"{spec}, layer {k}: the compiled search and cKDTree disagree")
                    times.setdefault((spec, n, k), []).append((fast, base))
    def all_layers(spec: str, n: int) -> np.ndarray:  # (rounds, 2): ibsim's and cKDTree's seconds, all layers
        return np.array([[times[(spec, n, k)][r] for k in range(1, len(layers) + 1)] for r in range(rounds)]).sum(1)

    rows = []
    for spec in KNN_SPECS:
        for n in threads:
            for k, x in enumerate(layers, 1):
                fast, base = np.array(times[(spec, n, k)]).T
                original = np.array(times[(KNN_SPECS[0], n, k)])[:, 1]
                rows.append((spec, n, f"{k} ({x.shape[1]})") + _speed_columns(list(fast), list(base), 1)
                            + (_speed_range(list(fast), list(original)),))
            per_round, original = all_layers(spec, n), all_layers(KNN_SPECS[0], n)[:, 1]
            rows.append((spec, n, f"all, epoch {epoch}")
                        + _speed_columns(list(per_round[:, 0]), list(per_round[:, 1]), len(layers))
                        + (_speed_range(list(per_round[:, 0]), list(original)),))
    return rows


if __name__ == "__main__":
    from benchmarks.timing import table

    print(table(knn_speed(), ("estimator", "threads", "blocks") + KNN_COLUMNS))
    print(table(knn_main_job_rows(), ("estimator", "threads", "layer (width)") + KNN_COLUMNS))
