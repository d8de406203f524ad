"""A synthetic results dataset with the layout of docs/results-format.md (no training)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from ibsim.results import Results
from ibsim.resultsfile.schema import activation_attrs
from ibsim.resultsfile.writer import annotate

EPOCHS = [0, 1, 2, 5, 10, 20, 50, 100]
WIDTHS = [4, 3, 2]
ESTIMATORS = ["binning(bin_size=0.07)", "kde_upper(variance=0.001)"]


def synthetic_dataset(
    n_runs: int = 2,
    epochs: list[int] = EPOCHS,
    widths: list[int] = WIDTHS,
    n_samples: int = 50,
    stop: dict[int, int] | None = None,
    activations: bool = True,
    gradients: bool = True,
    seed: int = 0,
) -> xr.Dataset:
    """A results dataset: ``n_runs`` runs, ``epochs`` recorded, layers of
    ``widths`` (the last is the read-out), two estimators, name "synthetic".

    Args:
        stop: run index → stop epoch of runs that stopped early (status 1); their
            values after that epoch are NaN. Default: the last run stops at epoch 20.
        activations: Include the activation cubes.
        gradients: Include grad_mean, grad_std, grad_snr and weight_norm.
    """
    rng = np.random.default_rng(seed)
    stop = {n_runs - 1: 20} if stop is None else stop
    epoch = np.asarray(epochs, dtype=np.int64)
    n_epochs, n_layers = len(epochs), len(widths)
    layer = np.arange(1, n_layers + 1)
    t = np.log1p(epoch) / np.log1p(epoch.max())  # 0 .. 1 over training
    depth = layer / n_layers
    status = np.zeros(n_runs, dtype=np.int8)
    stop_epoch = np.full(n_runs, epoch.max(), dtype=np.int64)
    after = np.zeros((n_runs, n_epochs), dtype=bool)  # (run, epoch): not reached
    for run, last in stop.items():
        status[run], stop_epoch[run] = 1, last
        after[run] = epoch > last

    # information plane: fitting, then compression of the deeper layers
    ixt = (12 - 6 * depth[None, :]) * (1 - 0.4 * depth[None, :] * t[:, None] ** 2) + 0.3 * t[:, None]
    ity = 0.3 + 0.65 * (1 - np.exp(-4 * t[:, None])) * (1 - 0.2 * depth[None, :])
    shape = (len(ESTIMATORS), n_runs, n_epochs, n_layers)
    I_XT = ixt[None, None] * np.array([1.0, 0.8])[:, None, None, None] + 0.05 * rng.standard_normal(shape)
    I_TY = ity[None, None] * np.array([1.0, 0.95])[:, None, None, None] + 0.01 * rng.standard_normal(shape)
    I_XT[:, after], I_TY[:, after] = np.nan, np.nan

    accuracy = np.empty((n_runs, n_epochs, 2))
    loss = np.empty((n_runs, n_epochs, 2))
    for s, gap in enumerate([0.0, 0.05]):
        accuracy[:, :, s] = 0.5 + (0.45 - gap) * t[None, :] + 0.01 * rng.standard_normal((n_runs, n_epochs))
        loss[:, :, s] = 0.7 * np.exp(-3 * t[None, :]) + gap + 0.01 * rng.random((n_runs, n_epochs))
    accuracy[after], loss[after] = np.nan, np.nan

    variables = {
        "I_XT": (("estimator", "run", "epoch", "layer"), I_XT),
        "I_TY": (("estimator", "run", "epoch", "layer"), I_TY),
        "loss": (("run", "epoch", "split"), loss),
        "accuracy": (("run", "epoch", "split"), accuracy),
        "run_status": (("run",), status),
        "stop_epoch": (("run",), stop_epoch),
        "y": (("sample",), rng.integers(0, 2, n_samples)),
        "input_group": (("sample",), np.arange(n_samples)),
        "layer_width": (("layer",), np.asarray(widths, dtype=np.int64)),
    }
    cubes = {}
    lows = np.full((n_runs, n_epochs, n_layers), np.nan)
    highs = np.full((n_runs, n_epochs, n_layers), np.nan)
    for k, width in enumerate(widths):
        gain = 0.5 + 3 * t[None, :, None, None] * rng.uniform(0.5, 1.5, (n_runs, 1, 1, width))
        pre = gain * rng.standard_normal((n_runs, 1, n_samples, width)) + rng.normal(0, 0.2, (n_runs, 1, 1, width))
        if k == n_layers - 1:  # softmax read-out
            cube = np.exp(pre) / np.exp(pre).sum(axis=-1, keepdims=True)
        else:
            cube = np.tanh(pre)
        cube = cube.astype(np.float32)
        cube[after] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN after the stop
            lows[..., k], highs[..., k] = np.nanmin(cube, axis=(2, 3)), np.nanmax(cube, axis=(2, 3))
        cubes[f"activations_{k + 1}"] = xr.Variable(("run", "epoch", "sample", f"neuron_{k + 1}"), cube,
                                                     activation_attrs(k + 1, k == n_layers - 1))
    variables["activation_min"] = (("run", "epoch", "layer"), lows)
    variables["activation_max"] = (("run", "epoch", "layer"), highs)
    if activations:
        variables.update(cubes)
    if gradients:
        e = np.maximum(epoch, 1)[None, :, None].astype(float)
        scale = rng.uniform(0.8, 1.2, (n_runs, 1, n_layers)) * (1 + layer[None, None, :])
        grad_mean = 0.1 * scale * e ** -0.6
        grad_std = 0.05 * scale * e ** -0.2
        grads = {
            "grad_mean": grad_mean,
            "grad_std": grad_std,
            "grad_snr": grad_mean / grad_std,
            "weight_norm": scale * (1 + 0.3 * np.log1p(e)),
        }
        for name, values in grads.items():
            values = values.copy()
            values[:, epoch == 0] = np.nan
            values[after] = np.nan
            variables[name] = (("run", "epoch", "layer"), values)
    ds = xr.Dataset(
        variables,
        coords={
            "estimator": ESTIMATORS,
            "run": np.arange(n_runs),
            "epoch": epoch,
            "layer": layer,
            "sample": np.arange(n_samples) * 2,
            "split": ["training", "test"],
        },
        attrs={"format": "ibsim-results", "format_version": "1.0", "status": "completed", "name": "synthetic",
               "recorded_split": "full_dataset", "n_classes": 2, "class_names": "0,1"},
    )
    return annotate(ds)


@pytest.fixture
def synthetic() -> Results:
    return Results(synthetic_dataset())
