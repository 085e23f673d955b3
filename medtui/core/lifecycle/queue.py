"""Queue the lifecycle stages that have not succeeded yet, as a pipeline.

The same loop as ``medtui pipeline`` (:func:`medtui.core.lifecycle.pipeline.run_pipeline` with
:func:`medtui.core.stages.launch.launch`), with a wait that can be cancelled: cancelling stops the queue,
never the run in progress (it is detached and keeps going).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from medtui.core.demo import is_demo_workspace
from medtui.core.lifecycle.pipeline import Pipeline, StageResult, load_pipeline, run_pipeline
from medtui.core.lifecycle.wiring import workspace_outputs
from medtui.core.runs.records import Run, list_runs, load_run
from medtui.core.stages.launch import launch
from medtui.core.workspace import Workspace

PIPELINE_FILE = "pipeline.yaml"


def workspace_pipeline(ws: Workspace) -> Pipeline | None:
    """The workspace's ``pipeline.yaml``, else the demo pipeline on a demo workspace, else None."""
    custom = ws.root / PIPELINE_FILE
    if custom.is_file():
        return load_pipeline(custom)
    if is_demo_workspace(ws.root):
        return load_pipeline("demo")
    return None


def remaining_stages(pipeline: Pipeline, runs: list[Run]) -> list[str]:
    """Names of the pipeline's stages whose stage has no succeeded run yet, in pipeline order."""
    done = {r.stage for r in runs if r.status == "succeeded"}
    return [s.name for s in pipeline.stages if s.stage not in done]


def run_remaining(ws: Workspace, pipeline: Pipeline, names: list[str], *,
                  on_event: Callable[[str, Any], None] = lambda *_: None,
                  cancelled: Callable[[], bool] = lambda: False, poll: float = 0.5) -> list[StageResult]:
    """Run the named stages in order, wired to the workspace's earlier outputs; blocks until done."""

    def start_stage(stage, config):
        return launch(config, ws, pipeline=pipeline.name)

    def wait_run(run: Run) -> Run:
        while True:
            fresh = load_run(run.run_dir)
            if not fresh.is_running or cancelled():
                return fresh
            time.sleep(poll)

    produced = workspace_outputs(ws.runs_dir)
    return run_pipeline(pipeline, start_stage, wait_run, produced=produced, only=names, on_event=on_event)


def pending_runs(ws: Workspace) -> list[Run]:
    """Runs of this workspace still going (the queue waits for none of them)."""
    return [r for r in list_runs(ws.runs_dir) if r.is_running]
