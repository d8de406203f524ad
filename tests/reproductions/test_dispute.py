"""docs/reproductions/dispute.py in its --quick form: the dispute in one table.

What is checked holds whatever the science says: the table has a row per
estimator with an interval per activation, intervals are ordered, estimates lie
in [0, log2 N], SP's standard error is reported, and the script refuses to
build the full table without the noisy networks. The conclusions are in
docs/reproductions.md section 11.
"""
from __future__ import annotations

import argparse
import re

import numpy as np
import pytest
import xarray as xr

from ibsim.errors import ConfigError
from tests.reproductions.test_reproductions import intervals, run, script


def test_dispute_quick(tmp_path):
    module = script("dispute")
    out = run("dispute", tmp_path)
    assert (out / "dispute_quick.png").stat().st_size > 10_000
    text = (out / "dispute_quick.md").read_text()
    table = text.split("Final I(X;T)")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "[" in line]
    assert [row.split(" | ")[0][2:] for row in rows] == list(module.ROWS.values())
    cells = intervals(table)
    assert len(cells) == 2 * len(module.ROWS)  # tanh and relu for every row, SP included
    assert all(0 <= lo <= m <= hi for m, lo, hi in cells)
    assert "hidden layer 5 (the deepest; layer 6 is the softmax read-out)" in text
    errors = re.search(r"tanh: mean (\d+\.\d+), max (\d+\.\d+); relu: mean (\d+\.\d+), max (\d+\.\d+)", text)
    assert errors is not None
    mean_tanh, max_tanh, mean_relu, max_relu = map(float, errors.groups())
    assert 0 < mean_tanh <= max_tanh and 0 < mean_relu <= max_relu
    for folder, n_estimators in (("dispute", len(module.ROWS) - 1), ("goldfeld", None)):
        files = sorted((tmp_path / "results" / folder).glob("*.nc"))
        assert len(files) == 2
        for path in files:
            with xr.open_dataset(path) as ds:
                assert ds.sizes["run"] == 2 and ds.sizes["layer"] == 6
                if n_estimators is not None:
                    assert ds.sizes["estimator"] == n_estimators
                i_xt = ds["I_XT"].values
                assert np.isfinite(i_xt).all()
                assert i_xt.min() >= -1e-9 and i_xt.max() <= np.log2(ds.sizes["sample"]) + 1e-9


def test_the_noisy_networks_are_required_for_the_full_table(tmp_path, monkeypatch):
    module = script("dispute")
    monkeypatch.setattr(module, "NOISY_CONFIG", "configs/no_such_config.toml")
    args = argparse.Namespace(quick=True, results=tmp_path, jobs=1, data_dir=None)
    assert module.run_noisy(args, module.QUICK) is None
    args.quick = False
    with pytest.raises(ConfigError, match="no_such_config.toml does not exist"):
        module.run_noisy(args, [])


def test_labels_name_their_estimator():
    module = script("dispute")
    assert module.estimator_name('knn(k=3, metric="chebyshev")') == "knn"
    assert module.estimator_name("edge") == "edge"
