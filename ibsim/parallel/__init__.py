"""Backends that map work units over cores and nodes."""
from ibsim.parallel.base import Backend
from ibsim.parallel.serial import SerialBackend
from ibsim.errors import ConfigError

BACKENDS = ("serial",)


def make_backend(name: str = "serial", jobs: int | None = None) -> Backend:
    """The backend called ``name``."""
    if name == "serial":
        return SerialBackend()
    raise ConfigError(f"unknown backend '{name}'; valid: {', '.join(BACKENDS)}")


__all__ = ["Backend", "SerialBackend", "make_backend", "BACKENDS"]
