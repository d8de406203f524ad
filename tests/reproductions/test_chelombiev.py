"""docs/reproductions/chelombiev.py in its --quick form (Chelombiev et al. 2019, adaptive estimators).

What is checked holds whatever the science says: the files appear, the table
has a row per estimator and activation, intervals are ordered and the
estimates lie in their bounds. The conclusions are in docs/reproductions.md
section 10.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from tests.reproductions.test_reproductions import intervals, run, script

TITLES = ("EBAB: 30 equal-count bins", "aKDE upper bound, variance 0.1·max abs(T)", "fixed bins of width 0.07",
          "30 bins over each epoch's range")


def test_chelombiev_quick(tmp_path):
    out = run("chelombiev", tmp_path)
    for name in ("chelombiev_infoplanes_quick.png", "chelombiev_compression_quick.png"):
        assert (out / name).stat().st_size > 10_000
    text = (out / "chelombiev_quick.md").read_text()
    for title in TITLES:
        assert f"| {title} | tanh |" in text and f"| {title} | relu |" in text
    cells = intervals(text)
    assert len(cells) == len(TITLES) * 2 * 6  # estimators x activations x layers
    assert all(0 <= lo <= m <= hi for m, lo, hi in cells)
    files = sorted((tmp_path / "results" / "chelombiev").glob("*.nc"))
    assert len(files) == 2
    for path in files:
        with xr.open_dataset(path) as ds:
            assert ds.sizes["run"] == 3 and ds.sizes["estimator"] == len(TITLES) and ds.sizes["layer"] == 6
            i_xt = ds["I_XT"].values
            assert np.isfinite(i_xt).all()
            assert i_xt.min() >= -1e-9 and i_xt.max() <= np.log2(ds.sizes["sample"]) + 1e-9


def test_every_estimator_of_the_config_has_a_title():
    module = script("chelombiev")
    labels = ["binning_entropy(n_bins=30)", "kde_upper_adaptive(scale=0.1, power=1.0)", "binning(bin_size=0.07)",
              'binning_adaptive(n_bins=30, scope="block")']
    assert [module.estimator_title(label) for label in labels] == list(TITLES)
    assert module.estimator_title("knn(k=3)") == "knn(k=3)"  # unknown: the label itself
