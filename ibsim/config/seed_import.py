"""deep_bottleneck (sacred) JSON configs → ibsim TOML files (``ibsim import-config``).

The seed framework described an experiment by a flat JSON object (its
``configs/*.json``, or the ``config.json`` sacred stores beside a run). Most
keys are ibsim keys of the same name and meaning; the rest map as follows:

========================================  ==============================================
seed                                      ibsim
========================================  ==============================================
``model = "models.feedforward"``          ``model = "feedforward"`` (also ``_batchnorm``)
``dataset = "datasets.harmonics"``        ``dataset = "harmonics"`` (mnist, fashion_mnist,
                                          mushroom likewise)
``estimator = "mi_estimator.binning"``    ``estimator = "binning(bin_size=D)"``
``estimator = "mi_estimator.upper"``      ``estimator = "kde_upper(variance=D)"`` (``lower``:
                                          ``kde_lower``), with D = ``discretization_range``
``callbacks.earlystopping_manual``        ``early_stopping = value``,
(monitor, value)                          ``early_stopping_monitor`` (``val_acc`` → test_accuracy)
``plotters = [["plotter.snr", []]]``      ``plots = ["snr"]`` (informationplane → infoplane,
                                          informationplane_movie → movie,
                                          activations_single_neuron → single_neuron)
========================================  ==============================================

Whatever has no counterpart (``regularization``, which the seed did not read;
the TensorBoard projector callback, which is ``ibsim tensorboard`` on a results
file; keys ibsim does not know) is listed at the top of the TOML file as
``# not converted: key = value — reason``. A dataset, model or estimator ibsim
does not have (``datasets.harmonics_zero_mean``, ``mi_estimator.mine``) is an
error, since the file would describe another experiment. The converted keys are
validated as any config is (:meth:`Config.from_dict`) before anything is written.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ibsim.config.config import Config, schema
from ibsim.toml_text import dumps
from ibsim.errors import ConfigError, OutputError
from ibsim.config.keys import EXPERIMENT_PARAMS
from ibsim.params import validate_value
from ibsim.datasets import DATASETS
from ibsim.estimators import ESTIMATORS
from ibsim.plots import PLOTS
from ibsim.networks.network import Network
from ibsim.paths import check_output_file, os_errors

#: Seed keys that are ibsim keys of the same name and meaning.
SAME_KEYS = ("epochs", "batch_size", "architecture", "optimizer", "learning_rate", "activation_fn",
             "calculate_mi_for", "n_runs", "seed", "initial_bias", "max_norm_weights", "discretization_range")

#: The seed's recording callbacks: ibsim records all of this itself.
RECORDING_CALLBACKS = ("loggingreporter", "metrics_logger", "activity_logger", "gradient_logger")

EARLY_STOPPING_CALLBACKS = ("earlystopping_manual", "early_stopping_manual", "earlystoppingatspecificaccuracy")


@dataclass
class Conversion:
    """A converted seed config.

    Attributes:
        values: The ibsim config keys and values, validated and canonical
            (estimator specs with their parameter spelled out).
        skipped: What was not converted: (seed key or item, its value as JSON, why).
        source: The seed config file, for the header.
    """

    values: dict[str, Any]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    source: str = ""

    def to_toml(self) -> str:
        """The TOML file: a header naming the source and what was not converted, then the keys."""
        origin = f" {self.source}" if self.source else ""
        lines = [f"# Converted from the deep_bottleneck config{origin} by `ibsim import-config`."]
        if self.skipped:
            lines += [f"# not converted: {_one_line(key)} = {_one_line(value)} — {_one_line(reason)}"
                      for key, value, reason in self.skipped]
        else:
            lines.append("# Every key was converted.")
        lines.append("# Keys the seed config left out take ibsim's defaults (docs/configuration.md).")
        return "\n".join(lines) + "\n" + dumps(self.values)


def _one_line(text: str) -> str:
    """Text safe inside a one-line TOML comment."""
    return "".join(c if c >= " " and c != "\x7f" else repr(c)[1:-1] for c in str(text))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _short_name(path: Any, *packages: str) -> str:
    """``"deep_bottleneck.callbacks.earlystopping_manual"`` → ``"earlystopping_manual"``."""
    name = str(path)
    for package in packages:
        for prefix in (f"deep_bottleneck.{package}.", f"{package}."):
            if name.startswith(prefix):
                return name[len(prefix):]
    return name


def _entries(key: str, value: Any, where: str) -> list[tuple[str, Any, str]]:
    """The seed's lists of ``"module"`` or ``["module", [args]]`` as (module, args,
    the entry as ``key[i] = JSON`` for the not-converted list)."""
    if not isinstance(value, list):
        raise ConfigError(f"'{key}' must be a list of module names or [module, [arguments]] pairs, got "
                          f"{_json(value)} ({where})")
    entries = []
    for position, item in enumerate(value):
        label = f"{key}[{position}]"
        if isinstance(item, str):
            entries.append((item, [], label))
        elif isinstance(item, list) and item and isinstance(item[0], str) and len(item) <= 2:
            entries.append((item[0], item[1] if len(item) == 2 else [], label))
        else:
            raise ConfigError(f"'{key}' entry {_json(item)} is neither a module name nor a "
                              f"[module, [arguments]] pair ({where})")
    return entries


def _registered(registry, value: Any, packages: tuple[str, ...], key: str, where: str) -> str:
    """The ibsim name of a seed component (``"datasets.mnist"`` → ``"mnist"``), or a
    ConfigError: without it the file would describe another experiment."""
    if isinstance(value, str):
        for name in (value, _short_name(value, *packages)):
            if name in registry:
                return registry.canonical(name)
    raise ConfigError(
        f"{key} {_json(value)} has no ibsim counterpart (ibsim {registry.kind}s: {', '.join(registry.names())}); "
        f"nothing was written ({where})"
    )


def _early_stopping(args: Any, data: dict[str, Any], skipped: list, label: str, item: str) -> None:
    """The seed's ``earlystopping_manual.load(monitor='val_acc', value=0.94)``."""
    if isinstance(args, dict):
        monitor, value = args.get("monitor", "val_acc"), args.get("value", 0.94)
        extra = sorted(set(args) - {"monitor", "value"})
    elif isinstance(args, list) and len(args) <= 2:
        monitor, value = (list(args) + ["val_acc", 0.94][len(args):])[:2]
        extra = []
    else:
        skipped.append((label, item, "earlystopping_manual takes (monitor, value)"))
        return
    if extra:
        skipped.append((label, item, f"earlystopping_manual takes monitor and value, not {', '.join(extra)}"))
        return
    if "early_stopping" in data:
        skipped.append((label, item, "a second early stop; ibsim has one (early_stopping)"))
        return
    try:
        monitor = validate_value("monitor", monitor, EXPERIMENT_PARAMS["early_stopping_monitor"])
    except ConfigError:
        why = "ibsim's early_stopping watches test_accuracy (val_acc) or training_accuracy (acc), not other metrics"
        skipped.append((label, item, why))
        return
    data["early_stopping"] = value
    data["early_stopping_monitor"] = monitor


def convert(seed: Mapping[str, Any], source: str = "") -> Conversion:
    """Convert a seed config (the JSON object) into ibsim config keys.

    Args:
        seed: The seed's config keys and values.
        source: Where they came from, for messages and the header.

    Raises:
        ConfigError: A dataset, model or estimator without an ibsim counterpart,
            a malformed callbacks or plotters list, or a value ibsim refuses
            (naming the key and ``source``).
    """
    where = source or "the seed config"
    keys = schema()
    data: dict[str, Any] = {}
    skipped: list[tuple[str, str, str]] = []
    for key, value in seed.items():
        if key in SAME_KEYS:
            if key == "max_norm_weights" and not isinstance(value, bool) and value in (0, None):
                value = False  # the seed tested `if max_norm_weights`: 0 and null meant no constraint
            if value is not None:
                data[key] = value
        elif key == "model":
            try:
                data["model"] = validate_value("model", value, Network.PARAMS["model"])
            except ConfigError:
                raise ConfigError(f"model {_json(value)} has no ibsim counterpart (ibsim models: feedforward, "
                                  f"feedforward_batchnorm); nothing was written ({where})") from None
        elif key == "dataset":
            data["dataset"] = _registered(DATASETS, value, ("datasets", "dataset"), "dataset", where)
        elif key == "estimator":
            values = value if isinstance(value, list) and value else [value]
            data["estimator"] = [_registered(ESTIMATORS, v, ("mi_estimator",), "estimator", where) for v in values]
        elif key == "callbacks":
            for module, args, label in _entries(key, value, where):
                name = _short_name(module, "callbacks").lower()
                item = _json([module, args])
                if name in EARLY_STOPPING_CALLBACKS:
                    _early_stopping(args, data, skipped, label, item)
                elif name == "activityprojector":
                    why = "export a results file's activations afterwards: ibsim tensorboard RESULTS.nc --log-dir DIR"
                    skipped.append((label, item, why))
                elif name in RECORDING_CALLBACKS:
                    why = ("not needed: ibsim records activations, loss, accuracy and gradients itself "
                           "(record_schedule, save_activations, record_gradients)")
                    skipped.append((label, item, why))
                else:
                    skipped.append((label, item, "no ibsim counterpart"))
        elif key == "plotters":
            plots: list[str] = []
            for module, args, label in _entries(key, value, where):
                item = _json([module, args])
                name = module if module in PLOTS else _short_name(module, "plotter")
                if name not in PLOTS:
                    why = f"no ibsim plot of that name (ibsim plots: {', '.join(PLOTS.names())})"
                    skipped.append((label, item, why))
                    continue
                canonical = PLOTS.canonical(name)
                if args:
                    why = (f"its arguments: ibsim's plots take named options, e.g. \"{canonical}(...)\" "
                           "(docs/configuration.md, Plots); the plot is drawn with its defaults")
                    skipped.append((label, item, why))
                if canonical not in plots:
                    plots.append(canonical)
            data["plots"] = plots
        elif key == "regularization":
            skipped.append((key, _json(value), "the seed did not use it; ibsim's max-norm constraint is "
                                               "max_norm_weights"))
        elif key in keys:
            data[key] = value  # already an ibsim key (a config written for both)
        else:
            skipped.append((key, _json(value), "not a key ibsim knows (docs/configuration.md lists them)"))
    config = Config.from_dict(data, where=where)
    values: dict[str, Any] = {}
    for key in keys:  # ibsim's order, canonical values
        if key not in data:
            continue
        if key == "discretization_range" and "estimator" in data:
            continue  # spelled out in the estimator specs
        if key == "dataset":
            values[key] = data[key]
        elif key == "estimator":
            values[key] = config.estimator[0] if len(config.estimator) == 1 else list(config.estimator)
        else:
            values[key] = config[key]
    return Conversion(values, skipped, source)


def read_seed_config(path: str | Path) -> dict[str, Any]:
    """The JSON object of a seed config file.

    Raises:
        ConfigError: One line: the file is missing or unreadable, not JSON, or
            not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"seed config {path} does not exist" if not path.exists()
                          else f"seed config {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read seed config {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        seed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"seed config {path} is not valid JSON: {error.msg} (line {error.lineno}, "
                          f"column {error.colno})") from None
    if not isinstance(seed, dict):
        raise ConfigError(f"seed config {path} holds a JSON {type(seed).__name__}, not an object of config keys "
                          "(the seed's configs are {\"epochs\": ..., ...})")
    return seed


def default_output(path: str | Path) -> Path:
    """Where ``ibsim import-config`` writes by default: beside the JSON, as ``.toml``."""
    return Path(path).with_suffix(".toml")


def import_config(path: str | Path, output: str | Path | None = None, *,
                  force: bool = False) -> tuple[Path, Conversion]:
    """Convert the seed config ``path`` and write the TOML file.

    Args:
        path: The seed's JSON config.
        output: The TOML file (default: beside ``path``, ending in ``.toml``).
        force: Replace ``output`` if it exists.

    Returns:
        The file written and the conversion.

    Raises:
        ConfigError: As :func:`read_seed_config` and :func:`convert`.
        OutputError: ``output`` exists (without ``force``), is a folder or
            cannot be written.
    """
    conversion = convert(read_seed_config(path), str(path))
    target = Path(output) if output is not None else default_output(path)
    check_output_file(target, "TOML file")
    if target.exists() and not force:
        raise OutputError(f"{target} exists; pass --force to replace it, or -o to write elsewhere")
    if target.resolve() == Path(path).resolve():
        raise OutputError(f"{target} is the seed config itself; name another output with -o")
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with os_errors(target, "writing"):
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            temporary.write_text(conversion.to_toml(), encoding="utf-8")
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
    return target, conversion
