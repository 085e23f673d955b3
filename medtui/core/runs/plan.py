"""What the runner starts: one run's YAML, argv, environment and folder, before anything is on disk.

:func:`medtui.core.stages.builder.build_plan` makes a :class:`RunPlan` from a stage config;
:func:`medtui.core.runs.runner.start` writes its files and starts it.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medtui.core.atomic import atomic_write_text

CONFIG_NAME = "config.yaml"


def kind_of(stage: str, config: dict[str, Any]) -> str:
    """What a run of ``stage`` with ``config`` is: ``export``, ``benchmark`` (stage eval), ``predict`` or
    ``evaluate`` (do_train false with do_predict / do_eval), else ``train``. Pipelines are ``pipeline``."""
    if stage == "export":
        return "export"
    if stage == "eval":
        return "benchmark"
    if config.get("do_train") is False and config.get("do_predict"):
        return "predict"
    if config.get("do_train") is False and config.get("do_eval"):
        return "evaluate"
    return "train"


@dataclass
class RunPlan:
    """Everything needed to start one run; nothing has touched the disk yet."""

    run_id: str
    stage: str
    run_dir: Path
    yaml_config: dict[str, Any]
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    output_dir: Path
    deepspeed: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    #: known keys left out because they do not apply to the stage or method (key -> why)
    dropped: dict[str, str] = field(default_factory=dict)
    #: launch and environment settings as the user gave them (devices, deepspeed_stage ...)
    launch_values: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """Recorded in run.json (see :func:`kind_of`)."""
        return kind_of(self.stage, self.yaml_config)

    @property
    def yaml_path(self) -> Path:
        return self.run_dir / CONFIG_NAME

    @property
    def deepspeed_path(self) -> Path | None:
        if self.deepspeed is None:
            return None
        return Path(self.yaml_config["deepspeed"])

    def yaml_text(self) -> str:
        return yaml.safe_dump(self.yaml_config, sort_keys=False, allow_unicode=True)

    def command_line(self) -> str:
        """The shlex-quoted environment and argv that will actually run."""
        env = [f"{k}={shlex.quote(v)}" for k, v in self.env.items()]
        return " ".join(env + [shlex.join(self.argv)])

    def preview(self) -> str:
        parts = [f"# cwd: {shlex.quote(str(self.cwd))}", self.command_line(), "", f"# {self.yaml_path}", self.yaml_text()]
        if self.deepspeed is not None:
            parts += [f"# {self.deepspeed_path}", json.dumps(self.deepspeed, indent=2)]
        return "\n".join(parts)

    def write_files(self) -> None:
        """Write the YAML (and DeepSpeed JSON) into the run folder, atomically."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.yaml_path, self.yaml_text())
        if self.deepspeed is not None and self.deepspeed_path is not None:
            atomic_write_text(self.deepspeed_path, json.dumps(self.deepspeed, indent=2) + "\n")
