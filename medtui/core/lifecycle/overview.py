"""The lifecycle at a glance: each stage's latest run with status, output folder, final loss and age.

The TUI's Home screen shows this; it is plain Python so it can run in a worker thread. The runs
are summarised by :class:`medtui.core.runs.summary.RunsWatcher` (the same rows as the Runs screen
and ``medtui runs``), incrementally between polls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from medtui.core.lifecycle.wiring import LIFECYCLE
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

    @classmethod
    def of(cls, stage: str, run: RunSummary | None, now: float) -> "StageSummary":
        if run is None:
            return cls(stage)
        diagnosis = run.diagnosis or {}
        kinds = dict.fromkeys(str(a.get("kind")) for a in run.alerts if not a.get("resolved"))
        alerts = tuple(sorted(kinds, key=lambda k: ALERT_ORDER.index(k) if k in ALERT_ORDER else len(ALERT_ORDER)))
        return cls(stage, run.id, run.status, run.output_dir, run.final_loss, run.age(now), run.reason,
                   str(diagnosis.get("cause") or ""), str(diagnosis.get("reason") or ""), alerts)


class Overview:
    """Summaries of every lifecycle stage, refreshed by :meth:`poll`."""

    def __init__(self, ws: Workspace, clock: Callable[[], float] = time.time):
        self.ws = ws
        self.clock = clock
        self.runs = RunsWatcher(ws)

    def poll(self) -> dict[str, StageSummary]:
        """Each lifecycle stage's latest run (ages as of now)."""
        latest: dict[str, RunSummary] = {}
        for run in self.runs.poll():  # newest first
            latest.setdefault(run.stage, run)
        now = self.clock()
        return {stage: StageSummary.of(stage, latest.get(stage), now) for stage in LIFECYCLE}
