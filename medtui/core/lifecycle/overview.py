"""The lifecycle at a glance: each stage's latest run with status, output folder, final loss and age.

The TUI's Home screen shows this; it is plain Python so it can run in a worker thread. Loss is
read incrementally from each run's ``trainer_log.jsonl`` (one reader per run, kept between polls).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable

from medtui.core.lifecycle.wiring import LIFECYCLE
from medtui.core.runs.progress import RunReader
from medtui.core.runs.records import RUN_FILE, Run, list_runs
from medtui.core.workspace import Workspace


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


def format_age(seconds: float | None) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: how long ago, coarse on purpose."""
    if seconds is None:
        return "?"
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class Overview:
    """Summaries of every lifecycle stage, refreshed by :meth:`poll`."""

    def __init__(self, ws: Workspace, clock: Callable[[], float] = time.time):
        self.ws = ws
        self.clock = clock
        self._readers: dict[str, RunReader] = {}
        self._quiet: tuple[frozenset, dict[str, StageSummary]] | None = None
        self._ended: dict[str, float] = {}

    def _runs_stamp(self) -> frozenset[tuple[str, int]]:
        """Each run folder with its record's mtime: any new, removed or rewritten record changes it."""
        stamp = set()
        try:
            entries = list(os.scandir(self.ws.runs_dir))
        except OSError:
            return frozenset()
        for entry in entries:
            try:
                stamp.add((entry.name, os.stat(os.path.join(entry.path, RUN_FILE)).st_mtime_ns))
            except OSError:
                stamp.add((entry.name, 0))
        return frozenset(stamp)

    def poll(self) -> dict[str, StageSummary]:
        """Fresh summaries; when nothing runs and no run record changed, the last ones (ages updated)."""
        stamp = self._runs_stamp()
        if self._quiet is not None and self._quiet[0] == stamp:
            return {stage: self._aged(s) for stage, s in self._quiet[1].items()}
        runs = list_runs(self.ws.runs_dir)
        latest: dict[str, Run] = {}
        for run in runs:  # newest first; predict runs (stage sft) and pipelines have no card
            if run.kind in ("train", "export"):
                latest.setdefault(run.stage, run)
        summaries = {stage: self._summary(stage, latest.get(stage)) for stage in LIFECYCLE}
        quiet = not any(r.status == "running" for r in runs)
        self._quiet = (stamp, summaries) if quiet else None
        return summaries

    def _aged(self, s: StageSummary) -> StageSummary:
        when = self._ended.get(s.run_id) if s.run_id else None
        if when is None:
            return s
        return StageSummary(s.stage, s.run_id, s.status, s.output_dir, s.loss, self.clock() - when, s.reason)

    def _summary(self, stage: str, run: Run | None) -> StageSummary:
        if run is None:
            return StageSummary(stage)
        status = run.status
        loss = None
        if stage != "export":
            reader = self._readers.get(run.id)
            if reader is None:
                reader = self._readers[run.id] = RunReader(run.trainer_log)
            reader.poll()
            loss = reader.progress.loss
        when = run.ended if status != "running" else run.started
        if when:
            self._ended[run.id] = when
        age = self.clock() - when if when else None
        return StageSummary(stage, run.id, status, self.ws.relative(run.output_dir), loss, age,
                            run.reason() if status in ("failed", "killed", "stopped") else "")
