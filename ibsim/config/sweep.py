"""Sweeps and folders: one TOML file or folder in, several experiments out.

A config file may hold a ``[sweep]`` table of key → list of values; the
experiments are the grid of all combinations (the seed's cohorts). A folder
stands for every ``*.toml`` below it (recursively, as the seed's
``run_experiments_local.py -d configs/mnist``). Each experiment is named after
its file and, for a sweep point, the swept values, so each gets its own
results file.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterable

from ibsim.config.config import Config, parse_overrides, read_toml, schema
from ibsim.errors import ConfigError
from ibsim.paths import point_name
from ibsim.registry import did_you_mean

def expand(data: dict[str, Any], where: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The grid points of a config's ``[sweep]`` table as (config data, swept values).

    A config without a sweep is one point with no swept values.
    """
    data = dict(data)
    sweep = data.pop("sweep", None)
    if sweep is None:
        return [(data, {})]
    if not isinstance(sweep, dict) or not sweep:
        raise ConfigError(f"[sweep] must be a table of key = [values, ...] ({where})")
    keys = schema()
    for key, values in sweep.items():
        if key not in keys:
            raise ConfigError(f"[sweep] names unknown config key '{key}'.{did_you_mean(key, list(keys))} ({where})")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"[sweep] key '{key}' must be a non-empty list of values ({where})")
        if key in data:
            raise ConfigError(f"config key '{key}' is set and swept at once; keep one ({where})")
    points = []
    for combination in itertools.product(*sweep.values()):
        values = dict(zip(sweep, combination))
        points.append(({**data, **values}, values))
    return points


def config_files(path: Path) -> list[Path]:
    """The TOML files a path stands for (itself, or every ``*.toml`` below a folder)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.toml") if p.is_file())
        if not files:
            raise ConfigError(f"folder {path} holds no .toml config files")
        return files
    return [path]


def load_configs(path: str | Path, overrides: Iterable[str] = ()) -> list[Config]:
    """Every experiment a file or folder describes, validated, with ``--set`` overrides.

    Raises:
        ConfigError: A file, key or value is wrong (named), an override sets a
            swept key, or two experiments would share a name.
    """
    path = Path(path)
    changes = parse_overrides(overrides)
    configs: list[Config] = []
    for file in config_files(path):
        data = read_toml(file)
        base = changes.get("name", data.get("name")) or file.stem  # --set name=... wins over the file
        swept = set((data.get("sweep") or {}) if isinstance(data.get("sweep"), dict) else ())
        clash = sorted(swept & set(changes))
        if clash:
            raise ConfigError(f"--set {clash[0]}=... overrides a swept key of {file}; edit its [sweep] table")
        for point, values in expand(data, str(file)):
            name = point_name(base, values) if values and isinstance(base, str) else base
            point = {**point, **changes, "name": name}
            where = f"{file}" + (f", sweep point {values}" if values else "")
            configs.append(Config.from_dict(point, where=where, source=str(file)))
    names = [c.name for c in configs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"several experiments are named {duplicates[0]!r}; give the configs distinct names")
    return configs
