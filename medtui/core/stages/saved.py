"""A config saved as a standalone llamafactory YAML, and read back.

:func:`standalone` builds the same YAML a run would execute (:func:`medtui.core.stages.builder.build_plan`:
``stage``, ``do_train``, ``dataset_dir``, every default, eval settings, only the keys of the chosen
method), so ``llamafactory-cli train FILE`` trains exactly what medtui would. Paths are written as
the user typed them: an absolute path stays absolute, anything else becomes workspace-relative
(``my_run`` -> ``saves/my_run``), or all absolute with ``absolute=True``. Relative paths resolve
against the folder llamafactory-cli starts in, so the header says to run it from the workspace.

medtui's launch settings (devices, DeepSpeed, nodes) are not llamafactory arguments, and
llamafactory rejects unknown keys; they go into the header as the environment to run with, plus
a ``# medtui-launch: {...}`` line that :func:`~medtui.core.stages.builder.load_config_file` reads back. A DeepSpeed
config is written next to the YAML.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from medtui.core.stages.builder import LAUNCH_PREFIX, PATH_KEYS, build_plan, launch_header
from medtui.core.workspace import Workspace

#: Environment entries the builder adds for medtui's own monitoring; not needed to train.
INTERNAL_ENV = ("LLAMABOARD_ENABLED", "LLAMABOARD_WORKDIR", "PYTHONUNBUFFERED")
MODEL_KEYS = ("model_name_or_path", "adapter_name_or_path")


@dataclass
class SavedConfig:
    """What :func:`standalone` writes: the YAML text, its mapping and an optional DeepSpeed file."""

    path: Path
    yaml_config: dict[str, Any]
    text: str
    deepspeed_path: Path | None = None
    deepspeed: dict[str, Any] | None = None
    dropped: dict[str, str] | None = None

    def write(self) -> None:
        from medtui.core.atomic import atomic_write_text

        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.deepspeed is not None and self.deepspeed_path is not None:
            atomic_write_text(self.deepspeed_path, json.dumps(self.deepspeed, indent=2) + "\n")
        atomic_write_text(self.path, self.text)


def _as_typed(ws: Workspace, typed: Any, resolved: str, absolute: bool) -> str:
    """``resolved`` (absolute) written the way the user gave it: absolute, or relative to the workspace."""
    if absolute or typed is None:
        return resolved if absolute else _relative(ws, resolved)
    text = str(typed).strip()
    if os.path.isabs(os.path.expanduser(text)):
        return resolved
    return _relative(ws, resolved)


def _relative(ws: Workspace, value: str) -> str:
    path = Path(value)
    if not path.is_absolute():
        return value  # a hub id
    try:
        return path.relative_to(ws.root).as_posix() or "."
    except ValueError:
        return value


def standalone(config: dict[str, Any], ws: Workspace, target: str | os.PathLike, *, absolute: bool = False
               ) -> SavedConfig:
    """The standalone YAML for ``config``, to be written at ``target`` (resolved against the workspace)."""
    path = ws.resolve(str(target))
    plan = build_plan(config, ws, run_id="saved")
    body = dict(plan.yaml_config)
    for key in (*PATH_KEYS, *MODEL_KEYS):
        if not body.get(key):
            continue
        if key == "adapter_name_or_path":
            typed = [p.strip() for p in str(config.get(key) or "").split(",") if p.strip()]
            parts = str(body[key]).split(",")
            body[key] = ",".join(_as_typed(ws, typed[i] if i < len(typed) else None, p, absolute)
                                 for i, p in enumerate(parts))
        else:
            body[key] = _as_typed(ws, config.get(key), str(body[key]), absolute)
    deepspeed_path = None
    if plan.deepspeed is not None:
        deepspeed_path = path.with_name(f"{path.stem}_{Path(body['deepspeed']).name}")
        body["deepspeed"] = str(deepspeed_path) if absolute else _relative(ws, str(deepspeed_path))
    text = _header(plan, ws, path, absolute) + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
    return SavedConfig(path, body, text, deepspeed_path, plan.deepspeed, plan.dropped)


def _header(plan, ws: Workspace, path: Path, absolute: bool) -> str:
    env = {k: v for k, v in plan.env.items() if k not in INTERNAL_ENV}
    verb = "export" if plan.stage == "export" else "train"
    command = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()),
                        "llamafactory-cli", verb, shlex.quote(_relative(ws, str(path)) if not absolute else str(path))])
    lines = ["# Saved by medtui: a standalone llamafactory config.",
             f"# Run it from the workspace folder: cd {shlex.quote(str(ws.root))} && {command}"]
    if plan.launch_values:
        lines.append(LAUNCH_PREFIX + json.dumps(plan.launch_values, ensure_ascii=False, sort_keys=True))
    return "\n".join(lines) + "\n"


__all__ = ["LAUNCH_PREFIX", "SavedConfig", "launch_header", "standalone"]
