"""Extra environment variables for every run medtui starts, e.g. ``USE_TF=0`` for the Keras 3 clash.

They live in ``run-env.json`` files: one per user (``$XDG_CONFIG_HOME/medtui/``, default
``~/.config/medtui/``) and optionally one per workspace (``.medtui/run-env.json``), which wins.
:func:`builder.build_plan` puts them into ``RunPlan.env``; the workers that import transformers
(chat, model check, token counts, the doctor's probe) get them from :func:`medtui.core.env.child.child_env`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from medtui.core import jsonfile
from medtui.core.atomic import atomic_write_text
from medtui.core.errors import MedtuiError
from medtui.core.userdirs import config_dir

FILE_NAME = "run-env.json"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def user_path() -> Path:
    return config_dir() / FILE_NAME


def workspace_path(ws) -> Path:
    return ws.state_dir / FILE_NAME


def _read(path: Path) -> dict[str, str]:
    """The variables in ``path``; raises MedtuiError naming the file when it is malformed."""
    data = jsonfile.read_object(path)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise MedtuiError(f"{path}: expected a JSON object of NAME: \"value\" strings")
    return data


def load(ws=None, *, strict: bool = False) -> dict[str, str]:
    """User variables overlaid with the workspace's. A malformed file is skipped unless ``strict``."""
    merged: dict[str, str] = {}
    for path in [user_path()] + ([workspace_path(ws)] if ws is not None else []):
        try:
            merged.update(_read(path))
        except MedtuiError:
            if strict:
                raise
    return merged


def set_var(name: str, value: str | None, *, ws=None) -> Path:
    """Set (or with ``None`` remove) one variable, in the workspace file if ``ws`` else the user's."""
    if not _NAME.match(name or ""):
        raise MedtuiError(f"not an environment variable name: {name!r}")
    path = workspace_path(ws) if ws is not None else user_path()
    data = _read(path)  # a malformed file is never overwritten
    if value is None:
        if name not in data:
            return path
        data.pop(name)
    else:
        data[name] = str(value)
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path
