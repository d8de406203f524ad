"""docs/reproductions/wickstrom.py in its --quick form: on the 8 x 8 digits
(always offline, what CI runs) and on the MNIST test images (skipped without
the shared datasets folder).

What is checked holds whatever the science says: the figure and the table
appear with a row per estimate and network, intervals contain their means,
0 <= I(X;T) <= log2 N and 0 <= I(T;Y) <= log2 10 for every layer and epoch,
and the files have the shapes the configs ask for.
"""
from __future__ import annotations

import importlib.util
import math
import re

import numpy as np
import xarray as xr

from tests.conftest import REPO

ESTIMATES = ("Rényi α = 1.01 (k-NN width, input kernel)", "KDE upper bound (variance 0.1)",
             "KDE lower bound (variance 0.1)")


def _main(argv: list[str]) -> int:
    spec = importlib.util.spec_from_file_location("reproduction_wickstrom", REPO / "docs" / "reproductions" /
                                                  "wickstrom.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def _check(tmp_path, suffix: str, files: dict[str, tuple[int, int]]) -> None:
    """The table, the figure and the results files ({name: (samples, layers)})."""
    out = tmp_path / "figures"
    assert (out / f"wickstrom{suffix}.png").stat().st_size > 10_000
    text = (out / f"wickstrom{suffix}.md").read_text()
    for network in ("CNN", "dense"):
        assert f"### {network}" in text
        for estimate in ESTIMATES:
            assert f"| {estimate} | {network} |" in text
    cells = [tuple(map(float, m)) for m in re.findall(r"(-?\d+\.\d+) \[(-?\d+\.\d+), (-?\d+\.\d+)\]", text)]
    assert len(cells) == 3 * sum(layers for _, layers in files.values())
    assert all(lo <= m <= hi and m >= 0 for m, lo, hi in cells)
    assert text.count("wall time") == 2
    for name, (samples, layers) in files.items():
        with xr.open_dataset(tmp_path / "results" / f"{name}.nc") as ds:
            assert ds.sizes["run"] == 2 and ds.sizes["estimator"] == 3
            assert ds.sizes["sample"] == samples and ds.sizes["layer"] == layers
            assert ds.sizes["epoch"] == 3  # epochs 0, 1, 2
            i_xt, i_ty = ds["I_XT"].values, ds["I_TY"].values
            assert np.isfinite(i_xt).all() and np.isfinite(i_ty).all()
            assert (i_xt >= -1e-6).all() and (i_xt <= math.log2(samples) + 1e-9).all()
            assert (i_ty >= -1e-6).all() and (i_ty <= math.log2(10) + 1e-9).all()
            # the KDE upper bound is at least the lower bound, block by block
            labels = list(ds["estimator"].values)
            upper, lower = (next(i for i, label in enumerate(labels) if label.startswith(name))
                            for name in ("kde_upper", "kde_lower"))
            assert (i_xt[upper] >= i_xt[lower] - 1e-9).all()


def test_wickstrom_quick_on_digits(tmp_path):
    assert _main(["--quick", "--dataset", "digits", "--output", str(tmp_path / "figures"),
                  "--results", str(tmp_path / "results"), "--jobs", "1"]) == 0
    # 1797 digits, 20 % held out: 359 samples; CNN conv-pool-16-10 (4 layers), dense 32-16-10 (3 layers)
    _check(tmp_path, "_digits_quick", {"wickstrom_cnn_digits": (359, 4), "wickstrom_dense_digits": (359, 3)})


def test_wickstrom_quick_on_mnist(tmp_path, shared_data):
    assert _main(["--quick", "--data-dir", str(shared_data), "--output", str(tmp_path / "figures"),
                  "--results", str(tmp_path / "results"), "--jobs", "1"]) == 0
    # 10 000 test images, 2 % held out: 200 samples; CNN conv-pool-conv-pool-120-84-10 (7), dense 256-...-10 (5)
    _check(tmp_path, "_quick", {"wickstrom_cnn": (200, 7), "wickstrom_dense": (200, 5)})
