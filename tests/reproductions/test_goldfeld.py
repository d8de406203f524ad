"""docs/reproductions/goldfeld.py --quick: Goldfeld et al. (2019), noisy networks.

What is checked holds whatever the science says: the files appear, the tables
have their rows, information lies in [0, log2 N], the sample-propagation
estimates carry finite, non-negative standard errors, intervals are ordered.
The conclusions are in docs/reproductions.md, section 8.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ibsim.results import Results
from tests.reproductions.test_reproductions import intervals, run

ESTIMATORS = ("SP I(X;T), noise β = 0.005", "H(Bin(T)), bins of width 0.007")


def test_goldfeld(tmp_path):
    out = run("goldfeld", tmp_path)
    for name in ("goldfeld_curves_quick.png", "goldfeld_compression_quick.png"):
        assert (out / name).stat().st_size > 10_000
    text = (out / "goldfeld_quick.md").read_text()
    delta_text, rest = text.split("Pearson's r", 1)
    correlation_text, error_text = rest.split("SP standard error", 1)
    for estimator in ESTIMATORS:
        for activation in ("tanh", "relu"):
            assert delta_text.count(f"| {estimator} | {activation} |") == 2  # ΔI and final I(X;T)
    deltas = intervals(delta_text)
    assert len(deltas) == 2 * 2 * 6
    assert all(0 <= lo <= m <= hi <= 12 + 1e-9 for m, lo, hi in deltas)
    rows = [line for line in correlation_text.splitlines()
            if line.startswith(("| all recorded |", "| from the SP peak on |"))]
    assert len(rows) == 2 * 2 and all(line.count("|") == 9 for line in rows)
    assert all(-1 <= lo <= m <= hi <= 1 for m, lo, hi in intervals(correlation_text))
    error_rows = [line for line in error_text.splitlines() if line.startswith(("| tanh |", "| relu |"))]
    assert len(error_rows) == 2
    assert "Final accuracy" in text

    files = sorted((tmp_path / "results" / "goldfeld").glob("*.nc"))
    assert len(files) == 2
    for path in files:
        with xr.open_dataset(path) as ds:
            assert ds.sizes["run"] == 3 and ds.sizes["estimator"] == 2 and ds.sizes["layer"] == 6
            i_xt = ds["I_XT"].values
            assert np.isfinite(i_xt).all() and (i_xt >= -1e-9).all() and (i_xt <= np.log2(4096) + 1e-9).all()
        results = Results.load(path)
        assert results.config.noise_std == 0.005
        sp = next(label for label in results.estimators if label.startswith("sp("))
        assert "noise_std=0.005" in sp  # the estimator took the network's noise
        se = results.standard_error(sp)["I_XT_se"].values
        assert np.isfinite(se).all() and (se >= 0).all()
        binned = next(label for label in results.estimators if label.startswith("binning("))
        assert np.isnan(results.standard_error(binned)["I_XT_se"].values).all()
