"""Configuration: the validated :class:`Config`, TOML files and specs."""
from ibsim.config.config import Config, parse_overrides, read_toml, schema
from ibsim.spec import format_spec, parse_spec
from ibsim.config.sweep import load_configs

__all__ = ["load_configs", "Config", "parse_overrides", "read_toml", "schema", "format_spec", "parse_spec"]
