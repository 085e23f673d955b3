"""Pipelines: a chain of stages run unattended with lifecycle wiring.

A pipeline file is YAML: ``name``, optional ``defaults`` applied to every training stage, and
``stages``, each a stage config plus a ``name``. An export stage names the run it merges with
``export_from``. The chain stops at the first failure, naming the stage and the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

from medtui.core.errors import MedtuiError
from medtui.core.lifecycle.wiring import Produced, sources, wire
from medtui.core.runs.records import Run

BUILTIN = ("demo",)
PIPELINE_KEYS = ("name", "export_from")


@dataclass
class PipelineStage:
    name: str
    stage: str
    config: dict[str, Any]
    export_from: str | None = None


@dataclass
class Pipeline:
    name: str
    stages: list[PipelineStage]
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)

    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]


def builtin_path(name: str) -> Path:
    return Path(str(resources.files("medtui.resources").joinpath("pipelines", f"{name}.yaml")))


def load_pipeline(ref: str | os.PathLike) -> Pipeline:
    """Load a built-in pipeline by name or a pipeline YAML file."""
    path = builtin_path(str(ref)) if str(ref) in BUILTIN else Path(ref).expanduser()
    if not path.is_file():
        raise MedtuiError(f"pipeline not found: {ref} (built-in: {', '.join(BUILTIN)})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise MedtuiError(f"{path}: invalid pipeline file{where}: {problem}") from None
    except OSError as exc:
        raise MedtuiError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return parse_pipeline(data, str(path))


def parse_pipeline(data: Any, where: str = "pipeline") -> Pipeline:
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list) or not data["stages"]:
        raise MedtuiError(f"{where}: expected a mapping with a non-empty 'stages' list")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise MedtuiError(f"{where}: 'defaults' must be a mapping")
    stages: list[PipelineStage] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["stages"]):
        if not isinstance(raw, dict) or "stage" not in raw:
            raise MedtuiError(f"{where}: stage #{i + 1} must be a mapping with a 'stage' key")
        name = str(raw.get("name") or raw["stage"])
        if name in seen:
            raise MedtuiError(f"{where}: duplicate stage name {name!r}")
        seen.add(name)
        config = {k: v for k, v in raw.items() if k not in PIPELINE_KEYS}
        if raw["stage"] != "export":
            config = {**defaults, **config}
        else:
            config = {k: v for k, v in config.items() if k != "stage"}
            if "template" in defaults:
                config.setdefault("template", defaults["template"])
        export_from = raw.get("export_from")
        if export_from is not None and export_from not in seen:
            raise MedtuiError(f"{where}: stage {name!r} exports {export_from!r}, which does not come before it")
        stages.append(PipelineStage(name=name, stage=str(raw["stage"]), config=config, export_from=export_from))
    return Pipeline(name=str(data.get("name") or where), stages=stages, description=str(data.get("description", "")),
                    defaults=defaults)


@dataclass
class StageResult:
    name: str
    run: Run | None
    status: str  # a run status, or "skipped" (succeeded earlier with the same configuration)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "skipped")


def stage_identity(stage: PipelineStage, produced: dict[str, Produced]) -> str:
    """What makes a stage's result reusable: its own config and the runs whose outputs it builds on.

    Two runs of a stage with the same identity trained the same thing on the same inputs, so
    ``--resume`` may skip the second; when an earlier stage re-ran, every stage after it differs.
    """
    inputs = [p.run_id for p in sources(stage.stage, produced, export_from=stage.export_from)]
    blob = json.dumps({"stage": stage.stage, "config": stage.config, "export_from": stage.export_from,
                       "inputs": inputs}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def run_pipeline(pipeline: Pipeline, start_stage: Callable[[PipelineStage, dict[str, Any], str], Run],
                 wait_run: Callable[[Run], Run], *, produced: dict[str, Produced] | None = None,
                 only: list[str] | None = None, on_event: Callable[[str, Any], None] = lambda *_: None,
                 should_stop: Callable[[], bool] = lambda: False,
                 reuse: Callable[[PipelineStage, str], Run | None] = lambda _s, _i: None) -> list[StageResult]:
    """Run the stages in order; stop at the first that does not succeed, or when ``should_stop()``.

    ``start_stage(stage, wired_config, identity)`` plans, pre-flights and starts a run (raising
    MedtuiError on bad input); ``wait_run`` blocks until it ends. ``reuse(stage, identity)`` returns
    an earlier succeeded run to skip the stage with (``--resume``). All are injected so the CLI, the
    detached chain and tests share this loop.
    """
    produced = dict(produced or {})
    by_name: dict[str, Produced] = {}
    results: list[StageResult] = []
    for stage in pipeline.stages:
        if only is not None and stage.name not in only:
            continue
        if should_stop():
            on_event("stopping", stage)
            break
        source = dict(produced)
        if stage.export_from and stage.export_from in by_name:
            source[stage.export_from] = by_name[stage.export_from]
        identity = stage_identity(stage, source)
        earlier = reuse(stage, identity)
        if earlier is not None:
            result = StageResult(stage.name, earlier, "skipped", f"succeeded earlier in run {earlier.id}")
        else:
            config = wire(stage.stage, {**stage.config, "stage": stage.stage} if stage.stage != "export"
                          else stage.config, source, export_from=stage.export_from)
            on_event("stage_start", stage)
            try:
                run = start_stage(stage, config, identity)
            except MedtuiError as exc:
                results.append(StageResult(stage.name, None, "failed", str(exc)))
                on_event("stage_end", results[-1])
                break
            run = wait_run(run)
            result = StageResult(stage.name, run, run.status, run.reason())
        results.append(result)
        on_event("stage_skip" if result.status == "skipped" else "stage_end", result)
        if not result.ok:
            break
        if stage.stage != "export":
            out = Produced.from_run(result.run)
            produced[stage.stage] = out
            by_name[stage.name] = out
    return results
