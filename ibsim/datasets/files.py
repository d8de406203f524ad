"""Where downloadable datasets live: the data directory."""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "IBSIM_DATA_DIR"


def data_dir(explicit: str | Path | None = None) -> Path:
    """The data directory: ``explicit`` (``--data-dir``), else ``$IBSIM_DATA_DIR``,
    else ``$XDG_CACHE_HOME/ibsim/data`` (default ``~/.cache/ibsim/data``)."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "ibsim" / "data"
