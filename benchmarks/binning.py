"""Binning benchmark: the compiled kernel against the peers' np.unique method."""
from __future__ import annotations

import tempfile
import time

import numpy as np

from benchmarks.baselines import lean_binned_entropy, peer_binned_entropy, peer_binned_information
from benchmarks.timing import best_of


def layer(n: int = 4096, d: int = 10, seed: int = 0) -> np.ndarray:
    """A tanh layer as training produces it (float32, partly saturated)."""
    rng = np.random.default_rng(seed)
    return np.tanh(2.0 * rng.normal(size=(n, d))).astype(np.float32)


def single_layer_rows(n: int = 4096, d: int = 10, bin_size: float = 0.07) -> list[tuple]:
    """H(T) and I(T;Y) of one layer: kernel against both peer variants."""
    from ibsim.estimators.kernels import binned_entropies

    t = layer(n, d)
    labels = np.random.default_rng(1).integers(0, 2, n)
    one = t[None]
    many = np.stack([layer(n, d, seed) for seed in range(64)])
    ours_h = best_of(lambda: binned_entropies(one, 0.0, bin_size, num_threads=1), inner=200)
    ours_batch = best_of(lambda: binned_entropies(many, 0.0, bin_size, num_threads=1), inner=5) / len(many)
    ours_i = best_of(lambda: binned_entropies(one, 0.0, bin_size, 0, labels, 2, num_threads=1), inner=200)
    peer_h = best_of(lambda: peer_binned_entropy(t, bin_size), inner=20)
    lean_h = best_of(lambda: lean_binned_entropy(t, bin_size), inner=20)
    peer_i = best_of(lambda: peer_binned_information(t, labels, bin_size), inner=10)
    us = 1e6
    return [
        (f"H(T) {n}x{d}", "ibsgd get_h", f"{peer_h * us:.0f}", f"{ours_h * us:.1f}", f"{peer_h / ours_h:.1f}x"),
        (f"H(T) {n}x{d}", "lean np.unique", f"{lean_h * us:.0f}", f"{ours_h * us:.1f}", f"{lean_h / ours_h:.1f}x"),
        (f"H(T) {n}x{d}, 64 blocks per call", "ibsgd get_h", f"{peer_h * us:.0f}", f"{ours_batch * us:.1f}",
         f"{peer_h / ours_batch:.1f}x"),
        (f"H(T), I(T;Y) {n}x{d}", "ibsgd bin_calc_information2", f"{peer_i * us:.0f}", f"{ours_i * us:.1f}",
         f"{peer_i / ours_i:.1f}x"),
    ]


def whole_run_rows(epochs: int = 300) -> list[tuple]:
    """Estimation of a stored run (all layers, epochs, runs of the smoke config)."""
    from ibsim import Config
    from ibsim.pipeline.data import experiment_data
    from ibsim.pipeline.estimation import estimate_unit
    from ibsim.pipeline.parts import PartStore
    from ibsim.pipeline.plan import make_plan
    from ibsim.pipeline.training import train_group

    config = Config.from_dict({"epochs": epochs, "n_runs": 3, "record_schedule": "seed", "inline_estimation": False})
    plan = make_plan(config)
    data = experiment_data(config)
    with tempfile.TemporaryDirectory() as folder:
        store = PartStore(folder)
        summary = train_group(config, plan, plan.groups[0], data, store, threads=2)
        start = time.perf_counter()
        result = estimate_unit(config, plan.estimation_units[0], plan.epochs, data, store)
        ours = time.perf_counter() - start
        arrays = store.open_activations(0, summary.act_min.shape[2])
        labels = data.recorded.y
        start = time.perf_counter()
        for array in arrays:
            for e in range(array.shape[0]):
                for r in range(array.shape[1]):
                    peer_binned_information(np.asarray(array[e, r]), labels, 0.07)
        peer = time.perf_counter() - start
    blocks = result.shape[0] * result.shape[1] * result.shape[2]
    return [
        (f"whole run: {blocks} (run, epoch, layer) blocks", "ibsgd per block", f"{peer / blocks * 1e6:.0f}",
         f"{ours / blocks * 1e6:.1f}", f"{peer / ours:.1f}x")
    ]
