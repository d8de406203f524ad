"""Configuration: the validated :class:`Config`, TOML files and specs."""
from ibsim.config.config import Config, parse_overrides, read_toml, schema
from ibsim.config.spec import format_spec, parse_spec

__all__ = ["Config", "parse_overrides", "read_toml", "schema", "format_spec", "parse_spec"]
