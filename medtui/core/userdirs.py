"""medtui's per-user folders, following the XDG base directory rules.

``config_dir()`` holds settings, run variables and notification settings; ``cache_dir()``
holds what can be rebuilt (crash log, notification outbox, llamafactory field index, the
doctor's last torch answers); ``data_dir()`` holds the built-in demo workspace.
"""

from __future__ import annotations

import os
from pathlib import Path


def _base(variable: str, *default: str) -> Path:
    return Path(os.environ.get(variable) or os.path.join(os.path.expanduser("~"), *default)) / "medtui"


def config_dir() -> Path:
    return _base("XDG_CONFIG_HOME", ".config")


def cache_dir() -> Path:
    return _base("XDG_CACHE_HOME", ".cache")


def data_dir() -> Path:
    return _base("XDG_DATA_HOME", ".local", "share")
