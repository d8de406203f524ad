"""The estimator interface: activations of a layer in, I(X;T) and I(T;Y) out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import warnings

import numpy as np
import xarray as xr

from ibsim.component import Component
from ibsim.spec import parse_spec
from ibsim.errors import ConfigError, EstimatorError
from ibsim.registry import Registry


@dataclass
class LayerBlocks:
    """One layer's activations over several blocks (e.g. runs x epochs).

    Attributes:
        acts: (blocks, N, d) float32 activations.
        labels: (N,) class index of each sample.
        n_classes: Number of classes.
        groups: (N,) index of each sample's group of identical inputs, or None
            when every input is distinct.
        n_groups: Number of input groups (N when all are distinct).
        ranges: (blocks, 2) activation range per block for estimators whose bins
            follow the data (``range_scope``); None otherwise.
        edges: (blocks, n_edges, d) per-neuron bin edges for estimators that
            probe the network (:meth:`Estimator.probe_inputs`): the layer's
            activations on the probe inputs, per block; None otherwise.
        inputs: (N, features) the samples' inputs, flattened, for estimators
            that ask for them (:attr:`Estimator.needs_inputs`); None otherwise.
    """

    acts: np.ndarray
    labels: np.ndarray
    n_classes: int
    groups: np.ndarray | None = None
    n_groups: int = 0
    ranges: np.ndarray | None = None
    edges: np.ndarray | None = None
    inputs: np.ndarray | None = None


#: Columns of :meth:`Estimator.estimate_blocks_with_error`: I(X;T), I(T;Y) and
#: their standard errors, in this order (the pipeline carries all four).
ESTIMATE_COLUMNS: tuple[str, ...] = ("I_XT", "I_TY", "I_XT_se", "I_TY_se")


def input_groups(X: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Groups of identical input rows: (group index per sample, number of groups),
    or (None, N) when every row is distinct."""
    X = np.ascontiguousarray(X)
    _, inverse = np.unique(X.reshape(len(X), -1), axis=0, return_inverse=True)
    n_groups = int(inverse.max()) + 1 if len(X) else 0
    return (None, len(X)) if n_groups == len(X) else (inverse.ravel().astype(np.int64), n_groups)


class Estimator(Component):
    """Base class of mutual-information estimators.

    Subclasses implement :meth:`estimate_blocks` on plain arrays; :meth:`estimate`
    wraps it for labelled xarray inputs. ``main_parameter`` is the parameter the
    seed's ``discretization_range`` sets when a config names the estimator
    without parameters (a noise scale: bin size, variance; estimators counted in
    bins have none). ``range_scope`` is set by estimators whose bins follow
    the activation range: "block" (per run, epoch and layer), "layer" (per run
    and layer over all epochs) or "global" (per run over all layers and epochs).
    An estimator that knows how uncertain its estimates are (a Monte Carlo
    estimator) sets ``reports_error`` and overrides
    :meth:`estimate_blocks_with_error`; the others report no standard error (NaN).
    """

    kind = "estimator"
    main_parameter: ClassVar[str | None] = None
    range_scope: ClassVar[str | None] = None
    #: Whether the estimator needs the network's activations on probe inputs
    #: (:meth:`probe_inputs`), which only training can record.
    probes: ClassVar[bool] = False
    #: Whether :meth:`estimate_blocks_with_error` reports a standard error
    #: beside each estimate (stored as ``I_XT_se``/``I_TY_se`` in results files).
    reports_error: ClassVar[bool] = False

    @property
    def needs_inputs(self) -> bool:
        """Whether the estimator needs the samples' inputs
        (:attr:`LayerBlocks.inputs`): the pipeline passes them only then, and
        ``ibsim estimate`` (a results file keeps no inputs) refuses it."""
        return False

    @property
    def runs_inline(self) -> bool:
        """Whether the estimator can estimate each recorded epoch as it comes
        (its bins do not depend on other epochs or layers)."""
        return self.range_scope in (None, "block")

    def block_ranges(self, act_min: np.ndarray, act_max: np.ndarray) -> np.ndarray | None:
        """Activation ranges (R, E, L, 2) of this estimator's bins from the
        per-block extremes, or None when its bins do not follow the data.

        Args:
            act_min: (R, E, L) minimum activation per (run, epoch, layer) block
                (NaN where not recorded).
            act_max: (R, E, L) maximum.
        """
        if self.range_scope is None:
            return None
        lo, hi = act_min, act_max
        with warnings.catch_warnings():  # blocks never recorded (a run stopped, a layer not read) stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            if self.range_scope == "layer":
                lo = np.broadcast_to(np.nanmin(act_min, axis=1, keepdims=True), act_min.shape)
                hi = np.broadcast_to(np.nanmax(act_max, axis=1, keepdims=True), act_max.shape)
            elif self.range_scope == "global":
                lo = np.broadcast_to(np.nanmin(act_min, axis=(1, 2), keepdims=True), act_min.shape)
                hi = np.broadcast_to(np.nanmax(act_max, axis=(1, 2), keepdims=True), act_max.shape)
        return np.stack([lo, hi], axis=-1)

    def range_layers(self, layer: int, n_layers: int) -> list[int]:
        """The layers whose extremes set ``layer``'s bins (all of them for the
        "global" scope)."""
        return list(range(n_layers)) if self.range_scope == "global" else [layer]

    def own_ranges(self, blocks: np.ndarray) -> np.ndarray | None:
        """(blocks, 2) ranges for blocks (blocks, N, d) that are all this
        estimator needs to know ("block" scope), else None."""
        if self.range_scope != "block":
            return None
        return np.stack([blocks.min(axis=(1, 2)), blocks.max(axis=(1, 2))], axis=1)

    def estimate_blocks(self, blocks: LayerBlocks) -> np.ndarray:
        """I(X;T) and I(T;Y) in bits for each block: an array (blocks, 2)."""
        raise NotImplementedError

    def estimate_blocks_with_error(self, blocks: LayerBlocks) -> np.ndarray:
        """The estimates and their standard errors in bits for each block: (blocks, 4).

        Columns as :data:`ESTIMATE_COLUMNS`: I(X;T), I(T;Y), the standard error
        of I(X;T), that of I(T;Y). This default reports no error (NaN columns);
        an estimator that has one sets ``reports_error`` and overrides it, so
        that its first two columns are :meth:`estimate_blocks`'s.
        """
        values = np.asarray(self.estimate_blocks(blocks), dtype=np.float64)
        return np.concatenate([values, np.full_like(values, np.nan)], axis=1)

    def probe_inputs(self, X: np.ndarray) -> np.ndarray | None:
        """Inputs the network must also be run on at each recorded epoch, or None.

        An estimator whose bins follow the network itself (weighted binning)
        returns its probe points here; the pipeline records every layer's
        activations on them and passes them as :attr:`LayerBlocks.edges`.

        Args:
            X: (N, features) the recorded inputs.
        """
        return None

    def estimate(
        self,
        activations: xr.DataArray,
        labels: xr.DataArray | np.ndarray,
        input_group: xr.DataArray | np.ndarray | None = None,
        n_classes: int | None = None,
        ranges: xr.DataArray | np.ndarray | None = None,
        inputs: np.ndarray | None = None,
    ) -> xr.Dataset:
        """Estimate over every dim of ``activations`` but ``sample`` and the neuron dim.

        Args:
            activations: Dims (..., sample, neuron) with any leading dims (run, epoch).
            labels: (sample,) class indices.
            input_group: (sample,) identical-input group ids, or None if inputs are distinct.
            n_classes: Number of classes (default: max label + 1).
            ranges: (..., 2) activation ranges for estimators whose bins follow
                the data; by default taken per block ("block" scope) or over the
                ``epoch`` dim ("layer" scope). The "global" scope needs them given.
            inputs: (sample, ...) the inputs, for estimators that
                :attr:`needs_inputs` (flattened per sample); ignored by the others.

        Returns:
            A Dataset with ``I_XT`` and ``I_TY`` (bits) over the leading dims,
            and their standard errors ``I_XT_se`` and ``I_TY_se`` when the
            estimator ``reports_error``.
        """
        neuron_dim = activations.dims[-1]
        if activations.dims[-2] != "sample":
            raise EstimatorError(f"activations must end with dims (sample, neuron), got {activations.dims}")
        lead = activations.dims[:-2]
        values = np.asarray(activations.values)
        blocks = values.reshape((-1,) + values.shape[-2:])
        y = np.asarray(labels, dtype=np.int64)
        groups = None if input_group is None else np.asarray(input_group, dtype=np.int64)
        n_groups = int(groups.max()) + 1 if groups is not None else values.shape[-2]
        layer = LayerBlocks(
            acts=blocks,
            labels=y,
            n_classes=int(n_classes if n_classes is not None else y.max() + 1),
            groups=groups,
            n_groups=n_groups,
        )
        if inputs is not None and self.needs_inputs:
            layer.inputs = np.asarray(inputs).reshape(len(y), -1)
        if ranges is not None:
            layer.ranges = np.asarray(ranges, dtype=np.float64).reshape(-1, 2)
        elif self.range_scope is not None:
            layer.ranges = self._default_ranges(activations)
        result = self.estimate_blocks_with_error(layer).reshape(values.shape[:-2] + (len(ESTIMATE_COLUMNS),))
        columns = len(ESTIMATE_COLUMNS) if self.reports_error else 2
        coords = {d: activations.coords[d] for d in lead if d in activations.coords}
        del neuron_dim
        long_names = ("I(X;T)", "I(T;Y)", "standard error of I(X;T)", "standard error of I(T;Y)")
        return xr.Dataset(
            {name: (lead, result[..., k], {"units": "bits", "long_name": long_names[k]})
             for k, name in enumerate(ESTIMATE_COLUMNS[:columns])},
            coords=coords,
        )


    def _default_ranges(self, activations: xr.DataArray) -> np.ndarray:
        """(blocks, 2) ranges of an xarray cube for this estimator's range scope."""
        inner = list(activations.dims[-2:])
        if self.range_scope == "global":
            raise EstimatorError(
                f"estimator '{self.spec}' takes its range over all layers of a run: pass ranges=... "
                "(the pipeline and `ibsim estimate` do)"
            )
        over = inner + (["epoch"] if self.range_scope == "layer" and "epoch" in activations.dims else [])
        lo = activations.min(over).broadcast_like(activations.isel({d: 0 for d in inner}, drop=True))
        hi = activations.max(over).broadcast_like(lo)
        lead = list(activations.dims[:-2])
        return np.stack([lo.transpose(*lead).values.ravel(), hi.transpose(*lead).values.ravel()], axis=1)


ESTIMATORS: Registry[type[Estimator]] = Registry("estimator", "ibsim.estimators")


class ParsedEstimator(NamedTuple):
    """An estimator spec parsed once: its text, the estimator's class and the parameters the text gives.

    Attributes:
        text: The spec as written, for messages.
        cls: The registered estimator class its name stands for.
        params: The parameters it spells out (the class's defaults not filled in).
    """

    text: str
    cls: type[Estimator]
    params: dict[str, Any]


def parse_estimator(spec: str) -> ParsedEstimator:
    """Parse an estimator spec such as ``"kde_upper(variance=0.001)"``, once, for the steps that read it.

    Raises:
        ConfigError: The spec is malformed or names no registered estimator.
    """
    name, params = parse_spec(spec)
    return ParsedEstimator(spec, ESTIMATORS.get(name), params)


def make_estimator(spec: str | ParsedEstimator | Estimator, discretization_range: float | None = None) -> Estimator:
    """Build an estimator from a spec such as ``"kde_upper(variance=0.001)"`` (or one parsed already).

    ``discretization_range`` (the seed's key) sets the estimator's main parameter
    when the spec does not.
    """
    if isinstance(spec, Estimator):
        return spec
    text, cls, params = spec if isinstance(spec, ParsedEstimator) else parse_estimator(spec)
    params = dict(params)
    if discretization_range is not None and cls.main_parameter and cls.main_parameter not in params:
        params[cls.main_parameter] = discretization_range
    try:
        return cls(**params)
    except ConfigError as error:
        raise ConfigError(f"{error} (in estimator spec {text!r})") from None


def resolve_spec(spec: str | ParsedEstimator | Estimator, discretization_range: float | None = None) -> str:
    """The canonical spec (all parameters spelled out) of an estimator spec."""
    return make_estimator(spec, discretization_range).spec
