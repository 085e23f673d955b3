"""The cluster profile: default Slurm options, per user and per workspace.

The user's profile is the ``"slurm"`` object of the settings file (``$XDG_CONFIG_HOME/medtui/
config.json``); a workspace may have its own in ``.medtui/config.json`` (same shape), which wins
field by field. A run's own values (``--nodes``, the Train form, ``slurm_*`` keys of a config)
win over both. Keys medtui does not know are kept when a profile is saved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medtui.core import jsonfile
from medtui.core.atomic import atomic_write_text
from medtui.core.errors import MedtuiError
from medtui.core.settings import config_path
from medtui.core.slurm.script import SlurmOptions

KEY = "slurm"
FIELDS = ("partition", "nodes", "gpus_per_node", "time", "account", "cpus_per_task", "sbatch_args", "grace")
WORKSPACE_FILE = "config.json"


def user_path() -> Path:
    return config_path()


def workspace_path(ws) -> Path:
    return ws.state_dir / WORKSPACE_FILE


def _read_file(path: Path) -> dict[str, Any]:
    return jsonfile.read_object(path)


def _profile_of(path: Path) -> dict[str, Any]:
    profile = _read_file(path).get(KEY) or {}
    if not isinstance(profile, dict):
        raise MedtuiError(f"{path}: \"{KEY}\" must be an object of Slurm options")
    return {k: v for k, v in profile.items() if k in FIELDS and v not in (None, "")}


def load_profile(ws=None) -> dict[str, Any]:
    """The merged profile (user, then workspace); a malformed file raises MedtuiError naming it."""
    merged = _profile_of(user_path())
    if ws is not None:
        merged.update(_profile_of(workspace_path(ws)))
    return merged


def profile_sources(ws=None) -> dict[str, str]:
    """Which file each profile field comes from (for ``medtui slurm profile``)."""
    out = {k: str(user_path()) for k in _profile_of(user_path())}
    if ws is not None:
        out.update({k: str(workspace_path(ws)) for k in _profile_of(workspace_path(ws))})
    return out


def options_for(ws=None, overrides: dict[str, Any] | None = None) -> SlurmOptions:
    """The Slurm options of a run: profile, then ``overrides`` (None values leave the profile's)."""
    values = load_profile(ws)
    values.update({k: v for k, v in (overrides or {}).items() if v not in (None, "", [])})
    return SlurmOptions.from_mapping(values, "Slurm options")


def save_profile(values: dict[str, Any], *, ws=None) -> Path:
    """Set fields of the user's profile (or the workspace's with ``ws``); a None value removes a field.

    The values are checked first; the rest of the file is kept as it was.
    """
    unknown = [k for k in values if k not in FIELDS]
    if unknown:
        raise MedtuiError(f"unknown Slurm profile field(s): {', '.join(unknown)} (known: {', '.join(FIELDS)})")
    path = workspace_path(ws) if ws is not None else user_path()
    data = _read_file(path)  # a malformed file is never overwritten
    profile = data.get(KEY) if isinstance(data.get(KEY), dict) else {}
    profile = dict(profile)
    for key, value in values.items():
        if value is None:
            profile.pop(key, None)
        else:
            profile[key] = value
    checked = SlurmOptions.from_mapping({k: v for k, v in profile.items() if k in FIELDS}, str(path))
    for key in values:
        if values[key] is not None and key in FIELDS:
            profile[key] = getattr(checked, key)
    data[KEY] = profile
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path
