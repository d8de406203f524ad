"""Every estimator over a whole stored run: seconds per (run, epoch, layer) block."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

SPECS = ["binning", "binning_range", 'binning_adaptive(scope="layer")', "kde_upper", "kde_lower", "knn",
         "edge"]
SPECS += ["renyi(alpha=2)", "renyi(alpha=1.01)"]  # matrix-based Rényi: compiled pair sums; eigen path
SPECS += ['knn(metric="euclidean")']  # k-NN with Euclidean balls (the default "knn" is the max norm)
SPECS += ["sp"]  # sample propagation (Monte Carlo mixture entropy; meant for noisy networks)


def rows(epochs: int = 300) -> list[tuple]:
    """Estimate the smoke config's stored activations with each estimator in turn."""
    from ibsim import Experiment
    from ibsim.pipeline.reestimate import estimate_file
    from tests.conftest import CONFIGS

    out = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "smoke.nc"
        results = Experiment.from_toml(CONFIGS / "smoke.toml", [f"epochs={epochs}"]).run(path)
        ds = results.dataset
        blocks = ds.sizes["run"] * ds.sizes["epoch"] * ds.sizes["layer"]
        results.close()
        for spec in SPECS:
            start = time.perf_counter()
            estimate_file(path, spec, Path(folder) / "out.nc")
            seconds = time.perf_counter() - start
            out.append((spec, blocks, f"{seconds:.1f}", f"{1000 * seconds / blocks:.2f}"))
    return out
