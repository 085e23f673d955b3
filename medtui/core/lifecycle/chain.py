"""Detached pipelines: the whole chain of stages runs in a process of its own, supervised like any run.

:func:`start_pipeline` records a run of kind ``pipeline`` under ``.medtui/runs/`` and starts
``python -m medtui.core.lifecycle.chain RUN_DIR`` through :mod:`medtui.core.runs.runner` (its own
session and supervisor), so closing the terminal, losing SSH or quitting medtui never cancels
a stage. The chain writes ``pipeline.json`` beside its ``run.json`` (each stage's status and
run id) and prints progress to its ``stdout.log``; any medtui (CLI or TUI) shows and follows it.
Each stage starts through the launch backends (:mod:`medtui.core.runs.backend`): with ``launch_on:
slurm`` in the spec's ``launch`` every stage is a Slurm job while the chain itself stays here.

Stopping (:func:`stop_pipeline`): by default the chain stops after the current stage; ``now``
also stops the current stage's run gracefully; ``kill`` kills both. ``resume`` skips the stages
that already succeeded with the same configuration (:func:`medtui.core.lifecycle.pipeline.stage_identity`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from medtui.core.atomic import atomic_write_text
from medtui.core.errors import MedtuiError
from medtui.core.lifecycle.pipeline import BUILTIN, Pipeline, PipelineStage, load_pipeline, run_pipeline
from medtui.core.lifecycle.wiring import workspace_outputs
from medtui.core.runs import backend, runner
from medtui.core.runs.plan import RunPlan
from medtui.core.runs.records import Run, list_runs, load_run
from medtui.core.runs.states import PIPELINE_STATE, request_stop, stop_mode
from medtui.core.stages.builder import new_run_id
from medtui.core.workspace import Workspace

#: Stage statuses in ``pipeline.json``: pending, running, a run status, or skipped (resume).
DONE = ("succeeded", "skipped")


def pipeline_ref(ref: str | Path) -> str:
    """The reference a chain records: a built-in name, or the pipeline file's absolute path."""
    return str(ref) if str(ref) in BUILTIN else str(Path(ref).expanduser().resolve())


def check_request(ws: Workspace, pipeline: Pipeline, only: list[str] | None) -> None:
    """Refuse what cannot run: an unknown ``only`` stage, the demo pipeline outside a demo workspace."""
    if only is not None:
        if not only:
            raise MedtuiError(f"--only names no stage; this pipeline has {', '.join(pipeline.stage_names())}")
        unknown = [s for s in only if s not in pipeline.stage_names()]
        if unknown:
            raise MedtuiError(f"unknown stage(s) {', '.join(unknown)}; this pipeline has "
                              f"{', '.join(pipeline.stage_names())}")
    if pipeline.name == "demo":
        from medtui.core.demo import is_demo_workspace

        if not is_demo_workspace(ws.root):
            raise MedtuiError(f"{ws.root} is not a demo workspace; create one with: medtui demo init DIR")


def running_pipeline(ws: Workspace) -> Run | None:
    """The workspace's pipeline run still going, if any (one chain per workspace at a time)."""
    return next((r for r in list_runs(ws.runs_dir) if r.kind == "pipeline" and r.is_running), None)


def start_pipeline(ws: Workspace, ref: str | Path, *, only: list[str] | None = None, resume: bool = False,
                   launch: dict[str, Any] | None = None) -> Run:
    """Start the chain detached and return its run (kind ``pipeline``). Raises MedtuiError on bad input.

    ``launch`` keys (``launch_on: slurm`` and ``slurm_*``) go into every stage's config, so each stage
    starts through its backend (a Slurm job, say) while the chain itself runs here."""
    pipeline = load_pipeline(ref)
    check_request(ws, pipeline, only)
    busy = running_pipeline(ws)
    if busy is not None:
        raise MedtuiError(f"pipeline run {busy.id} is already running in this workspace; follow it with "
                          f"`medtui logs {busy.id} -f` or stop it with `medtui stop {busy.id}`")
    run_id = new_run_id("pipeline")
    run_dir = ws.runs_dir / run_id
    plan = RunPlan(run_id=run_id, stage="pipeline", run_dir=run_dir, yaml_config={},
                   argv=[sys.executable, "-m", "medtui.core.lifecycle.chain", str(run_dir)], env={},
                   cwd=ws.root, output_dir=run_dir)
    spec = {"ref": pipeline_ref(ref), "name": pipeline.name, "only": only, "resume": resume,
            "launch": dict(launch or {})}
    return runner.start(plan, ws, kind="pipeline", extra={"pipeline_spec": spec})


# -- what the chain writes, what readers see ------------------------------------------------------------------
def read_state(run_dir: Path) -> dict[str, Any]:
    """``pipeline.json`` of a pipeline run (empty before the chain has written it)."""
    try:
        data = json.loads((run_dir / PIPELINE_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("stages"), list) else {}


def current_stage_run(run: Run) -> Run | None:
    """The stage run the chain is waiting for, if any."""
    for entry in read_state(run.run_dir).get("stages", []):
        if isinstance(entry, dict) and entry.get("status") == "running" and entry.get("run_id"):
            try:
                return load_run(run.run_dir.parent / str(entry["run_id"]))
            except MedtuiError:
                return None
    return None


class ChainState:
    """The chain's ``pipeline.json``: every selected stage with its status, run id and reason."""

    def __init__(self, run_dir: Path, pipeline: Pipeline, spec: dict[str, Any]):
        self.path = run_dir / PIPELINE_STATE
        only = spec.get("only")
        self.data: dict[str, Any] = {
            "name": pipeline.name, "ref": spec.get("ref"), "resume": bool(spec.get("resume")),
            "stages": [{"name": s.name, "stage": s.stage, "status": "pending", "run_id": None, "reason": ""}
                       for s in pipeline.stages if only is None or s.name in only],
        }
        self.save()

    def entry(self, name: str) -> dict[str, Any]:
        return next(e for e in self.data["stages"] if e["name"] == name)

    def update(self, name: str, **values: Any) -> None:
        self.entry(name).update(values)
        self.save()

    def save(self) -> None:
        try:
            atomic_write_text(self.path, json.dumps(self.data, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:  # a full disk: the chain goes on; the stage records still tell
            print(f"chain: cannot write {self.path}: {exc}", file=sys.stderr, flush=True)


# -- the chain process ------------------------------------------------------------------------------------------
def _reusable(ws: Workspace) -> Callable[[PipelineStage, str], Run | None]:
    runs = list_runs(ws.runs_dir)

    def reuse(stage: PipelineStage, identity: str) -> Run | None:
        for run in runs:  # newest first
            tag = run.record.get("pipeline_stage")
            if (isinstance(tag, dict) and tag.get("name") == stage.name and tag.get("identity") == identity
                    and run.status == "succeeded" and run.output_dir.exists()):
                return run
        return None

    return reuse


def _wait_printing(run: Run, stopping: Callable[[], bool], poll: float = 0.5) -> Run:
    """Block until ``run`` ends, printing its progress line whenever it changes."""
    from medtui.core.runs.follow import RunReader

    reader = RunReader(run.trainer_log)
    last = shown = ""
    while True:
        fresh = load_run(run.run_dir)
        queued = backend.queue_line(fresh)  # a Slurm job: what it waits for, and where it runs
        if queued and queued != shown:
            print(f"[{run.stage}] {run.id}: {queued}", flush=True)
            shown = queued
        if reader.poll():
            line = reader.progress.line()
            if line != last:
                print(f"[{run.stage}] {line}", flush=True)
                last = line
        if not fresh.is_running:
            return fresh
        time.sleep(poll)


def run_chain(run_dir: Path) -> int:
    """The body of the chain process: 0 when every stage succeeded (or it was asked to stop), 1 otherwise."""
    from medtui.core.stages.launch import PreflightFailed, launch

    me = load_run(run_dir)
    spec = me.record.get("pipeline_spec") or {}
    ws = Workspace.open(me.record.get("workspace") or me.record.get("cwd"))
    pipeline = load_pipeline(spec["ref"])
    only = spec.get("only")
    state = ChainState(run_dir, pipeline, spec)
    stopping = lambda: stop_mode(run_dir) is not None  # noqa: E731
    print(f"pipeline {pipeline.name}: {' → '.join(e['name'] for e in state.data['stages'])}"
          + (" (resuming)" if spec.get("resume") else ""), flush=True)

    on = spec.get("launch") if isinstance(spec.get("launch"), dict) else {}

    def start_stage(stage: PipelineStage, config: dict[str, Any], identity: str) -> Run:
        try:
            run = launch({**config, **on}, ws, pipeline=pipeline.name,
                         extra={"pipeline_run": me.id, "pipeline_stage": {"name": stage.name, "identity": identity}})
        except PreflightFailed as exc:
            raise MedtuiError("; ".join(str(p) for p in exc.problems if p.level == "error")) from None
        state.update(stage.name, status="running", run_id=run.id)
        print(f"started {run.id} ({run.stage}) → {run.output_dir}", flush=True)
        return run

    def on_event(kind: str, payload: Any) -> None:
        if kind == "stage_start":
            print(f"== {payload.name} ({payload.stage})", flush=True)
        elif kind == "stage_skip":
            state.update(payload.name, status="skipped", run_id=payload.run.id, reason=payload.reason)
            print(f"== {payload.name}: skipped, {payload.reason}", flush=True)
        elif kind == "stage_end":
            run_id = payload.run.id if payload.run is not None else None
            state.update(payload.name, status=payload.status, run_id=run_id, reason=payload.reason)
            print(f"[{payload.name}] {run_id or 'not started'}: {payload.status}"
                  + (f" ({payload.reason})" if payload.reason else ""), flush=True)
        elif kind == "stopping":
            print(f"stop requested: not starting {payload.name}", flush=True)

    produced = workspace_outputs(ws.runs_dir) if only else None
    reuse = _reusable(ws) if spec.get("resume") else (lambda _s, _i: None)
    results = run_pipeline(pipeline, start_stage, lambda r: _wait_printing(r, stopping), produced=produced,
                           only=only, on_event=on_event, should_stop=stopping, reuse=reuse)
    bad = next((r for r in results if not r.ok), None)
    if stopping() and (bad is None or bad.status == "stopped"):
        print(f"pipeline {pipeline.name} stopped on request", flush=True)
        return 0
    if bad is not None:  # a stage that failed while a stop was pending is still a failure
        print(f"pipeline {pipeline.name} stopped at stage {bad.name}: {bad.status}"
              + (f": {bad.reason}" if bad.reason else ""), flush=True)
        return 1
    skipped = sum(r.status == "skipped" for r in results)
    print(f"pipeline {pipeline.name} finished: {len(results)} stage(s) succeeded"
          + (f" ({skipped} skipped: they had succeeded before)" if skipped else ""), flush=True)
    return 0


# -- stopping --------------------------------------------------------------------------------------------------
def stop_pipeline(run: Run, *, now: bool = False, kill: bool = False, grace: float | None = None,
                  on_phase: Callable[[str], None] | None = None) -> Run:
    """Stop a pipeline run: after its current stage (default), with that stage stopped gracefully
    (``now``), or killed together with it (``kill``). Returns the pipeline run as it is then."""
    say = on_phase or (lambda _m: None)
    if not run.is_running:
        raise MedtuiError(f"pipeline run {run.id} is not running (status: {run.status})")
    current = current_stage_run(run)
    if kill:
        request_stop(run.run_dir, "kill")
        if current is not None and current.is_running:
            say(f"killing the running stage {current.stage} ({current.id})")
            backend.stop(current, kill=True)
        chain = load_run(run.run_dir)
        if not chain.is_running:  # the chain saw its stage end and finished first
            return chain
        try:
            return runner.stop(chain, kill=True, on_phase=say)
        except MedtuiError:
            chain = load_run(run.run_dir)
            if chain.is_running:
                raise
            return chain  # it ended between the check and the kill
    request_stop(run.run_dir, "graceful")
    if not now:
        if current is not None and current.is_running:
            say(f"no further stage will start; {current.stage} ({current.id}) runs to its end "
                f"(stop it now with: medtui stop {run.id} --now)")
        return load_run(run.run_dir)
    if current is not None and current.is_running:
        say(f"stopping the running stage {current.stage} ({current.id}) gracefully")
        backend.stop(current, grace=grace, on_phase=say)
    try:
        return runner.wait(load_run(run.run_dir), poll=0.2, timeout=60)
    except TimeoutError:
        return load_run(run.run_dir)


def stop_any(run: Run, *, now: bool = False, kill: bool = False, grace: float | None = None,
             on_phase: Callable[[str], None] | None = None) -> Run:
    """:func:`stop_pipeline` for a pipeline run, :func:`medtui.core.runs.backend.stop` (local or Slurm) for any
    other; ``grace`` None is the backend's default (120 s, or the Slurm profile's grace)."""
    if run.kind == "pipeline":
        return stop_pipeline(run, now=now, kill=kill, grace=grace, on_phase=on_phase)
    return backend.stop(run, kill=kill, grace=grace, on_phase=on_phase)


def main(argv: list[str]) -> int:
    try:
        return run_chain(Path(argv[0]))
    except MedtuiError as exc:
        print(f"pipeline: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
