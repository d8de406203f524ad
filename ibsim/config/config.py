"""The one validated configuration every experiment runs from.

Python keyword arguments (``Experiment(...)``), TOML files and ``--set
key=value`` overrides all end here, in :meth:`Config.from_dict`, which checks
every key against its declaration (each class declares its own parameters once),
fills defaults and resolves names: the stored config is complete, so a results
file alone says how it was made. Keys keep the seed's names (epochs,
batch_size, architecture, optimizer, learning_rate, calculate_mi_for,
activation_fn, model, dataset, estimator, discretization_range, n_runs, seed).
"""
from __future__ import annotations

import hashlib
import importlib
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ibsim.config.components import Components
from ibsim.config.keys import EXPERIMENT_PARAMS
from ibsim.config.network_noise import with_network_noise
from ibsim.datasets import DATASETS, Dataset
from ibsim.errors import ConfigError, DataError
from ibsim.estimators import Estimator, make_estimator, parse_estimator
from ibsim.networks.layers import input_shape
from ibsim.networks.network import Network
from ibsim.params import Param, validate_value
from ibsim.recording.recorder import Recorder
from ibsim.registry import did_you_mean
from ibsim.spec import format_spec, parse_spec
from ibsim.toml_text import dumps, parse_value

#: Tables a config file may hold besides the keys (handled by the sweep loader).
TABLES = ("sweep",)


def schema() -> dict[str, tuple[str, Param]]:
    """Every config key → (owner, declaration), in the order configs are written."""
    table: dict[str, tuple[str, Param]] = {}
    for owner, params in (("Experiment", EXPERIMENT_PARAMS), ("Network", Network.PARAMS), ("Recorder", Recorder.PARAMS)):
        for key, param in params.items():
            table[key] = (owner, param)
    return table


def load_plugin_modules(modules: Iterable[str] | None, where: str = "") -> None:
    """Import the modules of a config's ``plugins`` key (registering their components).

    Raises:
        ConfigError: A module cannot be imported: naming it and the error.
    """
    for module in modules or ():
        try:
            importlib.import_module(module)
        except Exception as error:  # noqa: BLE001 - whatever the plug-in raised, name it
            suffix = f" ({where})" if where else ""
            raise ConfigError(f"config key 'plugins': cannot import module '{module}': "
                              f"{type(error).__name__}: {error}{suffix}") from None


def _make_dataset(value: str | Dataset, folder: Path | None) -> Dataset:
    """The dataset of the ``dataset`` key: an instance as it is, or built from a
    name or spec (paths in it taken from ``folder``, the config file's)."""
    if isinstance(value, Dataset):
        return value
    name, params = parse_spec(value)
    cls = DATASETS.get(name)
    return cls(**cls.resolve_params(params, folder))


def _normalise(values: dict[str, Any], where: str, folder: Path | None) -> tuple[Dataset, tuple[Estimator, ...]]:
    """Resolve names into canonical specs and check keys against each other;
    return the dataset and the estimators (kept by the config: built once, the
    dataset may hold the data)."""
    def context(key: str) -> str:
        return f"config key '{key}'" + (f", {where}" if where else "")

    try:
        dataset = _make_dataset(values["dataset"], folder)
    except (ConfigError, DataError) as error:
        raise type(error)(f"{error} ({context('dataset')})") from None
    values["dataset"] = dataset.spec
    try:  # conv and pooling layers need the dataset's images, and windows that fit them
        input_shape(values["architecture"], 0, dataset.image_shape, f"dataset {dataset.spec}")
    except ConfigError as error:
        raise ConfigError(f"{error} ({context('architecture')})") from None
    specs = values["estimator"] if isinstance(values["estimator"], list) else [values["estimator"]]
    try:  # each spec parsed once, here, for the steps below
        parsed = [s if isinstance(s, Estimator) else parse_estimator(s) for s in specs]
    except ConfigError as error:
        raise ConfigError(f"{error} ({context('estimator')})") from None
    # discretization_range (the seed's key) sets the main parameter of the estimators
    # that do not set it themselves. Its meaning depends on the estimator's kind: a
    # bin size for binning, a noise variance for the KDE bounds and k-NN. When it
    # would reach estimators of more than one kind, no value can be right for all:
    # refuse, asking for each estimator's own parameter.
    if values["discretization_range"] is not None:
        meanings = {"bin_size": "bin size", "variance": "noise variance", "noise_variance": "noise variance"}
        takers: dict[str, list[tuple[str, str, Any]]] = {}  # kind → (name, parameter, its default)
        for spec in parsed:
            if isinstance(spec, Estimator):
                continue  # an instance sets its own parameters
            _, cls, params = spec
            main = cls.main_parameter
            if main and main not in params:
                takers.setdefault(meanings.get(main, main), []).append((cls.name, main, cls.PARAMS[main].default))
        if len(takers) > 1:
            reached = " and ".join(
                f"the {kind} of {', '.join(name for name, _, _ in taken)}" for kind, taken in takers.items()
            )
            example = ", ".join(
                f'"{format_spec(name, {main: default})}"' for taken in takers.values() for name, main, default in taken
            )
            raise ConfigError(
                f"discretization_range = {values['discretization_range']} would set {reached}; give each "
                f"estimator its own value instead and leave discretization_range out, e.g. estimator = [{example}] "
                f"(the defaults) ({context('discretization_range')})"
            )
    try:
        estimators = tuple(make_estimator(with_network_noise(s, values["noise_std"]), values["discretization_range"])
                           for s in parsed)
    except ConfigError as error:
        raise ConfigError(f"{error} ({context('estimator')})") from None
    resolved = [estimator.spec for estimator in estimators]
    if len(set(resolved)) != len(resolved):
        raise ConfigError(f"the same estimator is listed twice: {resolved} ({context('estimator')})")
    values["estimator"] = resolved
    runs = values["runs"]
    if runs is not None:
        outside = [r for r in runs if r >= values["n_runs"]]
        if outside:
            raise ConfigError(
                f"runs {outside} are outside 0..{values['n_runs'] - 1} (n_runs = {values['n_runs']}) "
                f"({context('runs')})"
            )
        values["runs"] = sorted(runs)
    if values["name"] is None:
        values["name"] = "experiment"
    return dataset, estimators


class Config(Mapping[str, Any]):
    """A complete, validated experiment configuration (read-only).

    Build it with :meth:`from_dict`, :meth:`from_toml` or :meth:`replace`; read
    values as items (``cfg["epochs"]``) or attributes (``cfg.epochs``).
    """

    def __init__(self, values: Mapping[str, Any], source: str = "", dataset: Dataset | None = None,
                 estimators: tuple[Estimator, ...] | None = None) -> None:
        self._values = dict(values)
        self.source = source
        #: The dataset, network, recorder and estimators, built once (``dataset``
        #: and ``estimators`` when given: the instances whose specs the values name).
        self.components = Components.of(self._values, dataset, estimators)

    # ----------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "", source: str = "", *,
                  import_plugins: bool = True) -> "Config":
        """Validate ``data`` (flat key → value); defaults fill the rest.

        The ``plugins`` modules are imported first, so that the names they
        register resolve. A relative ``file(path=...)`` dataset is taken from
        the folder of ``source`` (a config file), else the working directory.

        Args:
            data: Config keys and values (``dataset`` may be a Dataset instance,
                which the config keeps).
            where: Where the values came from, for error messages (a file name).
            source: Recorded as the config's origin (e.g. the TOML path).
            import_plugins: Whether to import the ``plugins`` modules. False for
                configs read back from files (a results file must not make ibsim
                run code): a name that only such a module registers is then an
                error saying which module to import.

        Raises:
            ConfigError: Naming the key (and ``where``) for an unknown key, a
                wrong type or an out-of-range value, or a plug-in that cannot
                be imported.
            DataError: A ``file`` dataset's file cannot be read or its data are refused.
        """
        table = schema()
        for key in data:
            if key not in table:
                hint = did_you_mean(key, list(table))
                suffix = f" ({where})" if where else ""
                if key in TABLES:
                    raise ConfigError(
                        f"a [{key}] table describes several experiments; run the file with "
                        f"`ibsim run`, or load them with ibsim.config.load_configs{suffix}"
                    )
                raise ConfigError(f"unknown config key '{key}'.{hint}{suffix}")
        def value(key: str) -> Any:
            if key in data and data[key] is not None:
                return validate_value(f"Config key '{key}'", data[key], table[key][1], where)
            return table[key][1].default

        plugins = value("plugins")
        if import_plugins:
            load_plugin_modules(plugins, where)
        try:
            values = {key: value(key) for key in table}
            dataset, estimators = _normalise(values, where, Path(source).parent if source else None)
        except ConfigError as error:
            absent = [m for m in plugins or () if m not in sys.modules]
            if import_plugins or not absent:
                raise
            raise ConfigError(
                f"{error}; this config names plug-in module(s) {', '.join(absent)}, which a config read back "
                f"from a file does not import by itself: import them first (import {absent[0]}; or install "
                "them with an ibsim entry point)"
            ) from None
        return cls(values, source=source, dataset=dataset, estimators=estimators)

    @classmethod
    def from_toml(cls, path: str | Path, overrides: Iterable[str] = ()) -> "Config":
        """Read a TOML experiment file, then apply ``key=value`` overrides.

        Raises:
            ConfigError: The file is missing or not valid TOML, or a key is wrong.
        """
        data = read_toml(path)
        config_name = data.get("name") or Path(path).stem
        data = {**data, "name": config_name}
        data.update(parse_overrides(overrides))
        return cls.from_dict(data, where=str(path), source=str(path))

    def replace(self, **changes: Any) -> "Config":
        """A copy with some keys changed (validated again)."""
        data = {**self.raw(), "dataset": self.components.dataset, **changes}
        return Config.from_dict(data, where="replace()", source=self.source)

    def with_overrides(self, overrides: Iterable[str]) -> "Config":
        """A copy with ``key=value`` overrides (TOML values) applied."""
        changes = parse_overrides(overrides)
        return Config.from_dict({**self.raw(), "dataset": self.components.dataset, **changes}, where="--set",
                                source=self.source)

    # ----------------------------------------------------------------- access
    def raw(self) -> dict[str, Any]:
        """The values as a plain dict (``None`` for unset optional keys)."""
        return dict(self._values)

    def to_toml(self) -> str:
        """The config as TOML text (keys whose value is unset are left out)."""
        return dumps(self._values)

    def fingerprint(self) -> str:
        """A SHA-256 of the complete config: tells whether a part folder or a
        checkpoint belongs to this config."""
        return hashlib.sha256(self.to_toml().encode()).hexdigest()

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __getattr__(self, key: str) -> Any:
        values = self.__dict__.get("_values", {})
        if key in values:
            return values[key]
        raise AttributeError(f"config has no key '{key}'")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Config({self._values!r})"


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file with errors that name it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``["epochs=10", "architecture=[10,7]"]`` → ``{"epochs": 10, "architecture": [10, 7]}``.

    Values are TOML; text that is not valid TOML is taken as a string, so
    ``estimator=kde_upper`` works without quotes.
    """
    changes: dict[str, Any] = {}
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, _, text = item.partition("=")
        key = key.strip()
        if not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        changes[key] = parse_value(text.strip())
    return changes
