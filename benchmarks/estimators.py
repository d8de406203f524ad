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

#: The k-NN estimators, each also timed with its original neighbour search (the baseline).
KNN_SPECS = ["knn", 'knn(metric="euclidean")']


@contextmanager
def ckdtree_knn() -> Iterator[None]:
    """The k-NN estimators with their original neighbour search, scipy's ``cKDTree`` (the speed baseline)."""
    from scipy.spatial import cKDTree

    from ibsim.estimators import knn

    def kth_distance(points, k, metric="chebyshev", split=None):
        points = np.asarray(points, dtype=np.float64)
        if split is not None and split < points.shape[1] and metric == "euclidean":
            raise NotImplementedError("cKDTree has no split joint norm")
        return cKDTree(points).query(points, k=k + 1, p=np.inf if metric == "chebyshev" else 2)[0][:, -1]

    def count_within(points, radius, metric="chebyshev"):
        return np.asarray(cKDTree(points).query_ball_point(points, np.nextafter(radius, 0),
                                                           p=np.inf if metric == "chebyshev" else 2,
                                                           return_length=True))

    with mock.patch.object(knn, "_kth_distance", kth_distance), mock.patch.object(knn, "_count_within", count_within):
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
        for spec, seconds, baseline in knn_times(path, Path(folder) / "out.nc"):
            out.append((f"{spec} (x{baseline / seconds:.1f} the cKDTree baseline)", blocks, f"{seconds:.1f}",
                        f"{1000 * seconds / blocks:.2f}"))
            out.append((f"{spec} with scipy cKDTree (baseline)", blocks, f"{baseline:.1f}",
                        f"{1000 * baseline / blocks:.2f}"))
    return out


def knn_times(path: Path, output: Path) -> list[tuple[str, float, float]]:
    """Seconds of each k-NN estimator over the file, and of its baseline, in one process one after the other.

    Both run on the serial backend (in this process, the baseline's search patched in) and
    must give the same estimates bit for bit (checked).
    """
    import xarray as xr

    from ibsim.pipeline.reestimate import estimate_file

    def timed(spec: str) -> tuple[float, np.ndarray]:
        start = time.perf_counter()
        estimate_file(path, spec, output, backend="serial", quiet=True)
        seconds = time.perf_counter() - start
        with xr.open_dataset(output) as ds:
            values = np.stack([ds["I_XT"].values, ds["I_TY"].values])
        return seconds, values

    out = []
    for spec in KNN_SPECS:
        seconds, values = timed(spec)
        with ckdtree_knn():
            baseline, expected = timed(spec)
        if not np.array_equal(values, expected, equal_nan=True):
            raise AssertionError(f"{spec}: the compiled search and cKDTree disagree")
        out.append((spec, seconds, baseline))
    return out


def knn_speed(epochs: int = 300, repeats: int = 3) -> list[tuple]:
    """The k-NN rows alone, ``repeats`` times over one stored run: speed over the baseline per repeat."""
    with tempfile.TemporaryDirectory() as folder:
        path, blocks = stored_run(folder, epochs)
        times = [knn_times(path, Path(folder) / "out.nc") for _ in range(repeats)]
    rows = []
    for i, spec in enumerate(KNN_SPECS):
        fast = [t[i][1] for t in times]
        base = [t[i][2] for t in times]
        speeds = [b / f for b, f in zip(base, fast)]
        rows.append((spec, blocks, f"{1000 * min(fast) / blocks:.2f}-{1000 * max(fast) / blocks:.2f}",
                     f"{1000 * min(base) / blocks:.2f}-{1000 * max(base) / blocks:.2f}",
                     f"{min(speeds):.1f}-{max(speeds):.1f}"))
    return rows


if __name__ == "__main__":
    from benchmarks.timing import table

    print(table(knn_speed(), ("estimator", "blocks", "ibsim ms/block", "cKDTree ms/block", "speed (range)")))
