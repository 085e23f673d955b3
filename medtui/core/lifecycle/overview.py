"""The lifecycle at a glance: each stage's latest run with status, output folder, final loss and age.

The TUI's Home screen shows this; it is plain Python so it can run in a worker thread. The runs
are summarised by :class:`medtui.core.runs.summary.RunsWatcher` (the same rows as the Runs screen
and ``medtui runs``), incrementally between polls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

from medtui.core.lifecycle.wiring import LIFECYCLE, export_branch
from medtui.core.runs.alerts import KINDS as _KINDS
from medtui.core.runs.alerts import URGENT
from medtui.core.runs.summary import RunSummary, RunsWatcher
from medtui.core.workspace import Workspace

#: the most telling alert first
ALERT_ORDER = tuple(URGENT) + tuple(k for k in _KINDS if k not in URGENT)


@dataclass(frozen=True)
class StageSummary:
    """The latest run of one stage, ready to show; ``run_id`` None means never run."""

    stage: str
    run_id: str | None = None
    status: str | None = None
    output_dir: str | None = None
    loss: float | None = None
    age: float | None = None  # seconds since the run ended (or started, while running)
    reason: str = ""
    cause: str = ""  # the supervisor's diagnosis (medtui.core.runs.diagnosis), when the run ended badly
    cause_reason: str = ""
    alerts: tuple[str, ...] = ()  # kinds of the run's open live alerts, the most telling first
    branch: str = ""  # for an export: the stage whose adapter it merged (ppo, dpo, kto...)

    @classmethod
    def of(cls, stage: str, run: RunSummary | None, now: float) -> "StageSummary":
        if run is None:
            return cls(stage)
        diagnosis = run.diagnosis or {}
        kinds = dict.fromkeys(str(a.get("kind")) for a in run.alerts if not a.get("resolved"))
        alerts = tuple(sorted(kinds, key=lambda k: ALERT_ORDER.index(k) if k in ALERT_ORDER else len(ALERT_ORDER)))
        return cls(stage, run.id, run.status, run.output_dir, run.final_loss, run.age(now), run.reason,
                   str(diagnosis.get("cause") or ""), str(diagnosis.get("reason") or ""), alerts)


@dataclass(frozen=True)
class PipelineView:
    """The workspace's newest pipeline run: its stages' statuses and the one running now."""

    run_id: str
    name: str
    status: str
    stages: tuple[tuple[str, str], ...]  # (stage name, status) in pipeline order
    reason: str = ""

    @property
    def current(self) -> str | None:
        return next((name for name, status in self.stages if status == "running"), None)

    @property
    def done(self) -> int:
        return sum(status in ("succeeded", "skipped") for _, status in self.stages)


class Overview:
    """Summaries of every lifecycle stage, refreshed by :meth:`poll`; :attr:`pipeline` is the newest
    pipeline run (detached chains started by Home's queue or ``medtui pipeline``), or None."""

    def __init__(self, ws: Workspace, clock: Callable[[], float] = time.time):
        self.ws = ws
        self.clock = clock
        self.runs = RunsWatcher(ws)
        self.pipeline: PipelineView | None = None

    def poll(self) -> dict[str, StageSummary]:
        """Each lifecycle stage's latest run (ages as of now)."""
        latest: dict[str, RunSummary] = {}
        rows = self.runs.poll()
        pipeline: RunSummary | None = None
        for run in rows:  # newest first; predict runs (stage sft) and pipelines have no card
            if run.kind in ("train", "export"):
                latest.setdefault(run.stage, run)
            elif run.kind == "pipeline" and pipeline is None:
                pipeline = run
        self.pipeline = _pipeline_view(pipeline)
        now = self.clock()
        out = {stage: StageSummary.of(stage, latest.get(stage), now) for stage in LIFECYCLE}
        export = latest.get("export")
        if export is not None and export.run is not None:
            branch = export_branch(export.run.record.get("config") or {}, [r.run for r in rows if r.run is not None])
            if branch:
                out["export"] = replace(out["export"], branch=branch)
        return out


def _pipeline_view(row: RunSummary | None) -> PipelineView | None:
    if row is None or row.run is None:
        return None
    from medtui.core.lifecycle.chain import read_state

    state = read_state(row.run.run_dir)
    stages = tuple((str(s.get("name")), str(s.get("status"))) for s in state.get("stages", []) if isinstance(s, dict))
    spec = row.run.record.get("pipeline_spec") or {}
    return PipelineView(row.id, str(state.get("name") or spec.get("name") or "pipeline"), row.status, stages,
                        row.reason)
