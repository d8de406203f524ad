"""The estimation unit: one estimator over one group's runs and a slice of epochs."""
from __future__ import annotations

import numpy as np

from ibsim.config.config import Config
from ibsim.errors import EstimatorError
from ibsim.estimators import LayerBlocks, make_estimator
from ibsim.estimators.kernels import BlockError
from ibsim.pipeline.data import ExperimentData
from ibsim.pipeline.parts import PartStore
from ibsim.pipeline.plan import EstimationUnit


def block_ranges(scope: str, act_min: np.ndarray, act_max: np.ndarray) -> np.ndarray:
    """Activation ranges (R, E, L, 2) for estimators whose bins follow the data.

    Args:
        scope: "block" (each run, epoch, layer), "layer" (each run and layer over
            all epochs) or "global" (each run over all layers and epochs).
        act_min: (R, E, L) minimum activation per block (NaN where not recorded).
        act_max: (R, E, L) maximum.
    """
    lo, hi = act_min, act_max
    if scope == "layer":
        lo = np.broadcast_to(np.nanmin(act_min, axis=1, keepdims=True), act_min.shape)
        hi = np.broadcast_to(np.nanmax(act_max, axis=1, keepdims=True), act_max.shape)
    elif scope == "global":
        lo = np.broadcast_to(np.nanmin(act_min, axis=(1, 2), keepdims=True), act_min.shape)
        hi = np.broadcast_to(np.nanmax(act_max, axis=(1, 2), keepdims=True), act_max.shape)
    return np.stack([lo, hi], axis=-1)


def estimate_unit(
    config: Config, unit: EstimationUnit, epochs: np.ndarray, data: ExperimentData, store: PartStore
) -> np.ndarray:
    """I(X;T) and I(T;Y) for the unit: an array (runs, epochs in slice, layers, 2).

    Blocks after a run stopped (diverged or early-stopped) are NaN.
    """
    estimator = make_estimator(config.estimator[unit.estimator])
    summary = store.read_summary(unit.group)
    n_layers = summary.act_min.shape[2]
    arrays = store.open_activations(unit.group, n_layers)
    e0, e1 = unit.epoch_start, unit.epoch_stop
    result = np.full((len(summary.runs), e1 - e0, n_layers, 2), np.nan)
    ranges = (
        block_ranges(estimator.range_scope, summary.act_min, summary.act_max)
        if estimator.range_scope
        else None
    )
    valid = epochs[None, e0:e1] <= summary.stop_epoch[:, None]
    for position, run in enumerate(summary.runs):
        slots = np.flatnonzero(valid[position])
        if slots.size == 0:
            continue
        for layer in range(n_layers):
            acts = np.asarray(arrays[layer][position, e0 + slots])
            blocks = LayerBlocks(
                acts=acts,
                labels=data.recorded.y,
                n_classes=data.n_classes,
                groups=data.groups,
                n_groups=data.n_groups,
                ranges=None if ranges is None else ranges[position, e0 + slots, layer],
            )
            try:
                result[position, slots, layer] = estimator.estimate_blocks(blocks)
            except BlockError as error:
                epoch = int(epochs[e0 + slots[error.block]])
                raise EstimatorError(
                    f"estimator '{estimator.spec}': {error} at run {int(run)}, epoch {epoch}, layer {layer + 1}"
                ) from None
    return result
