"""The reproduction scripts of docs/reproductions/ in their --quick form.

What is checked holds whatever the science says: the files appear, tables
have their rows, values lie in their bounds. The conclusions, with their
confidence intervals, are in docs/reproductions.md.
"""
from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest
import xarray as xr

from tests.conftest import REPO

SCRIPTS = REPO / "docs" / "reproductions"


def script(name: str):
    spec = importlib.util.spec_from_file_location(f"reproduction_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(name: str, tmp_path, *extra: str) -> str:
    out = tmp_path / "figures"
    assert script(name).main(["--quick", "--output", str(out), "--results", str(tmp_path / "results"),
                              "--jobs", "1", *extra]) == 0
    return out


def intervals(text: str) -> list[tuple[float, float, float]]:
    """Every "m [lo, hi]" cell of a table."""
    return [tuple(map(float, m)) for m in re.findall(r"(-?\d+\.\d+) \[(-?\d+\.\d+), (-?\d+\.\d+)\]", text)]


def test_saxe_fig1(tmp_path):
    out = run("saxe_fig1", tmp_path, "--kde")
    for name in ("saxe_fig1_infoplanes_quick.png", "saxe_fig1_compression_quick.png"):
        assert (out / name).stat().st_size > 10_000
    text = (out / "saxe_fig1_quick.md").read_text()
    for estimator in ("bins of width 0.07", "30 bins over each epoch's range", "KDE upper bound, variance 0.001"):
        assert f"| {estimator} | tanh |" in text and f"| {estimator} | relu |" in text
    cells = intervals(text)
    assert len(cells) == 3 * 2 * 6
    assert all(0 <= lo <= m <= hi for m, lo, hi in cells)
    for path in (tmp_path / "results" / "saxe_fig1").glob("*.nc"):
        ds = xr.open_dataset(path)
        assert ds.sizes["run"] == 4 and ds.sizes["estimator"] == 2
        assert float(ds["I_XT"].max()) <= np.log2(4096) + 1e-9


def test_reuse_skips_the_runs(tmp_path, monkeypatch):
    run("szt2017", tmp_path)
    from ibsim.analysis import reproduction

    def no_run(*args, **kwargs):
        raise AssertionError("ran again despite --reuse")

    monkeypatch.setattr("ibsim.pipeline.runner.run_experiments", no_run)
    run("szt2017", tmp_path, "--reuse")
    text = (tmp_path / "figures" / "szt2017_quick.md").read_text()
    assert "wall time reused" in text and text.count("\n| ") == 1 + 6  # the header and a row per layer
    assert reproduction.minutes(125) == "2 min 5 s"


def test_harmonics(tmp_path):
    out = run("harmonics", tmp_path)
    text = (out / "harmonics_quick.md").read_text()
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \| \d+ \|", line)]
    assert len(rows) == 13
    # Tishby's table (seed section 7.7) and the generator's hard rule: 0 % up to 4 ones, 100 % from 8
    assert [row.split("|")[3].strip() for row in rows] == [
        "0.00", "0.00", "0.00", "0.00", "0.00", "7.58", "57.58", "92.42", "100.00", "100.00", "100.00", "100.00",
        "100.00"]
    assert rows[6].split("|")[4].strip() == "57.58"  # the generator's threshold is set at six ones
    assert (out / "harmonics_quick.png").exists()


def test_weighted_binning_networks(tmp_path):
    out = run("weighted_binning_networks", tmp_path)
    text = (out / "weighted_binning_networks_quick.md").read_text()
    assert "| weighted bins, 50 probe inputs | relu |" in text
    assert all(0 <= lo <= m <= hi for m, lo, hi in intervals(text))
    assert (out / "weighted_binning_networks_compression_quick.png").exists()


def test_seed_findings(tmp_path):
    out = run("seed_findings", tmp_path, "--only", "maxnorm")
    text = (out / "seed_findings_quick_maxnorm.md").read_text()
    assert "| relu | max-norm 0.4 |" in text and "| tanh | no max-norm |" in text
    for path in (tmp_path / "results" / "seed_maxnorm").glob("*.nc"):
        weight_norm = xr.open_dataset(path)["weight_norm"]
        assert np.isfinite(weight_norm.values).all()
    assert (out / "seed_maxnorm_quick.png").exists()


def test_mnist_kde(tmp_path, shared_data):
    if not (shared_data / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("the MNIST test images are not in the shared folder")
    out = run("mnist_kde", tmp_path, "--data-dir", str(shared_data))
    text = (out / "mnist_kde_quick.md").read_text()
    finals = [float(v) for line in text.splitlines() if "final I(X;T)" in line
              for v in line.split("|")[2:-1]]
    assert len(finals) == 2 * 3 and all(0 <= v <= np.log2(10_000) + 1e-9 for v in finals)
    assert (out / "mnist_kde_quick.png").exists()
