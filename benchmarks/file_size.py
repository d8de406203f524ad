"""File size benchmark: how the activation cubes are stored (``activation_dtype``,
``activation_compressor``, ``activation_compression_level``) against file size,
write and read time.

Each case trains once into a part folder (as ``ibsim run`` does, estimates
inline), then assembles the same results file once per storage, in
interleaved rounds: ratios are against float32 uncompressed of the same round.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

#: (label, activation_dtype, activation_compressor, activation_compression_level);
#: the first is the reference.
STORAGES = [
    ("float32 none", "float32", "zstd", 0),
    ("float32 zstd1", "float32", "zstd", 1),
    ("float32 zlib1", "float32", "zlib", 1),
    ("float32 zlib4", "float32", "zlib", 4),
    ("float16 none", "float16", "zstd", 0),
    ("float16 zstd1", "float16", "zstd", 1),
    ("float16 zlib1", "float16", "zlib", 1),
]
ROOT = Path(__file__).resolve().parent.parent
#: (label, config file, overrides): the main job shortened (the seed schedule's
#: dense early recording is kept), and wider layers.
CASES = [
    ("main job, 5 runs x 1000 epochs", ROOT / "configs" / "tishby_tanh.toml", ["epochs=1000"]),
    ("wide tanh 128-64-32, 2 runs x 60 epochs", ROOT / "configs" / "tishby_tanh.toml",
     ["epochs=60", "n_runs=2", "architecture=[128, 64, 32]"]),
]


def _read_all(path: Path) -> float:
    """Seconds to read every cube run by run, all epochs (as ``ibsim estimate`` reads them)."""
    from ibsim.resultsfile.reader import open_dataset
    from ibsim.resultsfile.schema import activation_name

    start = time.perf_counter()
    ds = open_dataset(path)
    try:
        for layer in range(1, ds.sizes["layer"] + 1):
            for run in range(ds.sizes["run"]):
                np.asarray(ds[activation_name(layer)].isel(run=run).values)
    finally:
        ds.close()
    return time.perf_counter() - start


def _changed_estimates(reference: Path, rounded: Path, folder: Path) -> str:
    """How many (run, epoch, layer) estimates of ``ibsim estimate`` on the
    float16 file differ from the run's own (made from float32), and by how much."""
    import contextlib
    import io

    import xarray as xr

    from ibsim.pipeline.reestimate import estimate_file

    out = folder / "reestimated.nc"
    with xr.open_dataset(reference) as ds:
        spec = str(ds["estimator"].values[0])
        run_values = {name: ds[name].isel(estimator=0).values for name in ("I_XT", "I_TY")}
    with contextlib.redirect_stderr(io.StringIO()):  # its one-line warning about float16
        estimate_file(rounded, spec, out, backend="serial", quiet=True)
    with xr.open_dataset(out) as ds:
        again = {name: ds[name].sel(estimator=spec).values for name in ("I_XT", "I_TY")}
    out.unlink()
    finite = np.isfinite(run_values["I_XT"])
    differ = sum((again[n] != run_values[n]) & finite for n in again)
    largest = max(float(np.nanmax(np.abs(again[n] - run_values[n]))) for n in again)
    return f"{int(np.count_nonzero(differ))} of {int(finite.sum())} blocks differ, max {largest:.2g} bits"


def case_rows(label: str, config_file: Path, overrides: list[str], rounds: int = 2) -> tuple[list[tuple], str]:
    """Rows (storage, MB, size ratio, write s, write ratio range, read s, read ratio range)
    of one case, and the re-estimation note of its float16 file."""
    from ibsim import Config
    from ibsim.pipeline.assemble import assemble
    from ibsim.pipeline.data import experiment_data
    from ibsim.pipeline.parts import PartStore
    from ibsim.pipeline.plan import make_plan
    from ibsim.pipeline.runner import gather_estimates
    from ibsim.pipeline.training import train_group

    config = Config.from_toml(config_file, overrides)
    plan = make_plan(config)
    if plan.estimation_units:
        raise ValueError(f"{label}: the benchmark needs inline estimation only")
    data = experiment_data(config)
    sizes: dict[str, int] = {}
    writes: dict[str, list[float]] = {name: [] for name, *_ in STORAGES}
    reads: dict[str, list[float]] = {name: [] for name, *_ in STORAGES}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        store = PartStore(folder / "parts")
        summaries = [train_group(config, plan, group, data, store, threads=2) for group in plan.groups]
        estimates = gather_estimates(plan, summaries, [], [])
        for _ in range(rounds):
            for name, dtype, compressor, level in STORAGES:
                variant = Config.from_toml(config_file, overrides + [f'activation_dtype="{dtype}"',
                                                                     f'activation_compressor="{compressor}"',
                                                                     f"activation_compression_level={level}"])
                path = folder / f"{dtype}_{compressor}{level}.nc"
                path.unlink(missing_ok=True)
                start = time.perf_counter()
                assemble(variant, plan, data, store, summaries, estimates, path, {})
                writes[name].append(time.perf_counter() - start)
                reads[name].append(_read_all(path))
                sizes[name] = path.stat().st_size
        note = _changed_estimates(folder / "float32_zstd0.nc", folder / "float16_zstd0.nc", folder)
    reference = STORAGES[0][0]

    def ratios(times: dict[str, list[float]], name: str) -> str:
        values = [t / r for t, r in zip(times[name], times[reference])]
        return f"{min(values):.2f}-{max(values):.2f}"

    rows = [
        (label if k == 0 else "", name, f"{sizes[name] / 1e6:.1f}", f"{sizes[name] / sizes[reference]:.2f}",
         f"{min(writes[name]):.2f}", ratios(writes, name), f"{min(reads[name]):.2f}", ratios(reads, name))
        for k, (name, *_) in enumerate(STORAGES)
    ]
    return rows, note


def rows(rounds: int = 2) -> tuple[list[tuple], list[str]]:
    """Every case's rows and float16 re-estimation notes."""
    table, notes = [], []
    for label, config_file, overrides in CASES:
        case, note = case_rows(label, config_file, overrides, rounds)
        table += case
        notes.append(f"{label}: ibsim estimate on the float16 file: {note}")
    return table, notes
