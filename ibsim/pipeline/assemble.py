"""Assembly: the part store and the estimates become one results file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ibsim.config.config import Config
from ibsim.estimators.base import ESTIMATE_COLUMNS
from ibsim.networks.keras_group import recorded_widths
from ibsim.pipeline.data import ExperimentData
from ibsim.pipeline.parts import GroupSummary, PartStore
from ibsim.resultsfile.schema import RUN_STATUS_MEANINGS
from ibsim.pipeline.plan import Plan
from ibsim.recording.recorder import recorded_split
from ibsim.resultsfile.schema import (EVERY_EPOCH, MI_SPLIT_DIM, RUN, activation_attrs, activation_dims,
                                     activation_name)
from ibsim.resultsfile.writer import Cube, CubeStorage, base_attrs, write_dataset

SPLITS = ["training", "test"]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 or NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _cube_filler(store: PartStore, plan: Plan, layer: int, n_layers: int):
    def fill(variable: Any) -> None:
        offset = 0
        for group in plan.groups:
            part = store.open_activations(group.index, n_layers)[layer]
            size = len(group.runs)
            for e in range(part.shape[0]):
                variable[offset : offset + size, e, :, :] = np.asarray(part[e])
            offset += size

    return fill


def assemble(
    config: Config,
    plan: Plan,
    data: ExperimentData,
    store: PartStore,
    summaries: list[GroupSummary],
    estimates: np.ndarray,
    output: Path,
    attrs: dict[str, Any],
) -> None:
    """Write the results file of a finished experiment.

    Args:
        config: The experiment config.
        plan: Its plan.
        data: Its data.
        store: The part store with every group done.
        summaries: One per group, in plan order.
        estimates: (estimators, runs, epochs, layers, splits, 4) I(X;T), I(T;Y)
            and their standard errors (columns
            :data:`~ibsim.estimators.base.ESTIMATE_COLUMNS`); with one estimated
            split the file's I_XT/I_TY have no split dimension, with several
            they gain ``mi_split``. The errors are written (``I_XT_se``,
            ``I_TY_se``) when an estimator of the config reports one.
        output: The results file.
        attrs: Extra global attributes (backend, source, ...).
    """
    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(s, name) for s in summaries], axis=0)

    n_layers = summaries[0].act_min.shape[2]
    widths = recorded_widths(config.components.network, data.recorded.X.shape[1], data.n_classes,
                             data.splits.image_shape, config.conv_recording)
    run_status = cat("run_status")
    information_dims = ("estimator", "run", "epoch", "layer")
    split_coords = {}
    if estimates.shape[-2] == 1:
        estimates = estimates[..., 0, :]
    else:
        information_dims += (MI_SPLIT_DIM,)
        split_coords[MI_SPLIT_DIM] = np.asarray([view.name for view in data.views], dtype=object)
    written = len(ESTIMATE_COLUMNS) if any(e.reports_error for e in config.components.estimators) else 2
    ds = xr.Dataset(
        {
            **{name: (information_dims, estimates[..., k]) for k, name in enumerate(ESTIMATE_COLUMNS[:written])},
            "loss": (("run", "epoch", "split"), cat("loss")),
            "accuracy": (("run", "epoch", "split"), cat("accuracy")),
            "epoch_loss": ((RUN, EVERY_EPOCH, "split"), cat("epoch_loss")),
            "epoch_accuracy": ((RUN, EVERY_EPOCH, "split"), cat("epoch_accuracy")),
            "activation_min": (("run", "epoch", "layer"), cat("act_min")),
            "activation_max": (("run", "epoch", "layer"), cat("act_max")),
            "grad_mean": (("run", "epoch", "layer"), cat("grad_mean")),
            "grad_std": (("run", "epoch", "layer"), cat("grad_std")),
            "grad_snr": (("run", "epoch", "layer"), _ratio(cat("grad_mean"), cat("grad_std"))),
            "weight_norm": (("run", "epoch", "layer"), cat("weight_norm")),
            "run_status": (
                ("run",), run_status,
                {"flag_values": np.arange(3, dtype=np.int8), "flag_meanings": RUN_STATUS_MEANINGS},
            ),
            "stop_epoch": (("run",), cat("stop_epoch")),
            "y": (("sample",), data.recorded.y),
            "sample_split": (
                ("sample",), data.sample_split(),
                {"flag_values": np.arange(2, dtype=np.int8), "flag_meanings": "training test"},
            ),
            "input_group": (
                ("sample",),
                data.groups if data.groups is not None else np.arange(len(data.recorded), dtype=np.int64),
            ),
            "layer_width": (("layer",), np.asarray(widths, dtype=np.int64)),
        },
        coords={
            "estimator": np.asarray(config.estimator, dtype=object),
            "run": np.asarray(plan.runs, dtype=np.int64),
            "epoch": np.asarray(plan.epochs, dtype=np.int64),
            EVERY_EPOCH: np.arange(config.epochs + 1, dtype=np.int64),
            "layer": np.arange(1, n_layers + 1, dtype=np.int64),
            "sample": data.recorded.indices.astype(np.int64),
            "split": np.asarray(SPLITS, dtype=object),
            **split_coords,
        },
        attrs=base_attrs(
            config.to_toml(),
            {
                "name": config.name,
                "dataset": config.dataset,
                "dataset_provenance": data.splits.provenance,
                "class_names": ",".join(data.splits.class_names),
                "recorded_split": recorded_split(config.calculate_mi_for),
                "n_classes": data.n_classes,
                **attrs,
            },
        ),
    )
    cubes = []
    if config.save_activations and plan.needs_parts:
        # the part files hold float32, which every estimate of the run was made
        # from; only the results file's copy is stored as activation_dtype
        storage = CubeStorage(config.activation_dtype, config.activation_compression_level,
                              config.activation_compressor)
        for k in range(n_layers):
            shape = (len(plan.runs), len(plan.epochs), len(data.recorded), widths[k])
            cubes.append(
                Cube(activation_name(k + 1), activation_dims(k + 1), shape, activation_attrs(k + 1, k == n_layers - 1),
                     _cube_filler(store, plan, k, n_layers), storage)
            )
    write_dataset(ds, output, cubes)
