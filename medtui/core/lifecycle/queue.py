"""Queue the lifecycle stages that have not succeeded yet, as a detached pipeline run.

Home's ``p`` starts the workspace's pipeline with ``only`` = the remaining stages through
:func:`medtui.core.lifecycle.chain.start_pipeline`: the chain runs in a supervised process of its
own, so quitting medtui or losing SSH never cancels a stage; Home (and ``medtui runs``) follow it
through its run record.
"""

from __future__ import annotations

from medtui.core.lifecycle.chain import start_pipeline
from medtui.core.lifecycle.pipeline import Pipeline, load_pipeline
from medtui.core.runs.records import Run, list_runs
from medtui.core.workspace import Workspace

PIPELINE_FILE = "pipeline.yaml"


def workspace_pipeline_ref(ws: Workspace) -> str | None:
    """The workspace's ``pipeline.yaml``, else ``demo`` on a demo workspace, else None."""
    custom = ws.root / PIPELINE_FILE
    if custom.is_file():
        return str(custom)
    from medtui.core.demo import is_demo_workspace

    return "demo" if is_demo_workspace(ws.root) else None


def workspace_pipeline(ws: Workspace) -> Pipeline | None:
    """The pipeline :func:`workspace_pipeline_ref` names, loaded (MedtuiError when it is invalid)."""
    ref = workspace_pipeline_ref(ws)
    return load_pipeline(ref) if ref is not None else None


def remaining_stages(pipeline: Pipeline, runs: list[Run]) -> list[str]:
    """Names of the pipeline's stages whose stage has no succeeded run yet, in pipeline order."""
    done = {r.stage for r in runs if r.status == "succeeded" and r.kind in ("train", "export")}
    return [s.name for s in pipeline.stages if s.stage not in done]


def start_remaining(ws: Workspace, names: list[str]) -> Run:
    """Start the workspace pipeline's ``names`` as a detached chain; its run (kind ``pipeline``)."""
    ref = workspace_pipeline_ref(ws)
    if ref is None:
        from medtui.core.errors import MedtuiError

        raise MedtuiError(f"no pipeline for {ws.root} (add {PIPELINE_FILE})")
    return start_pipeline(ws, ref, only=names)


def pending_runs(ws: Workspace) -> list[Run]:
    """Runs of this workspace still going (the queue starts none while one runs)."""
    return [r for r in list_runs(ws.runs_dir) if r.is_running]
