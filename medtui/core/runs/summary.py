"""Every run of a workspace in one line each: status, final loss, steps, age, failure reason and the
supervisor's diagnosis and live alerts (:mod:`medtui.core.runs.diagnosis`, :mod:`medtui.core.runs.alerts`).

The one place that computes a run's summary: the Runs screen's table, the Home screen's stage
cards (:mod:`medtui.core.lifecycle.overview`) and ``medtui runs`` all read :class:`RunSummary`
rows from :class:`RunsWatcher`. Each run is followed by a :class:`~medtui.core.runs.follow.RunWatch`
that starts near the end of its ``trainer_log.jsonl``, so a poll costs a few ``stat`` calls
and reads only what was appended since the last one.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medtui.core.errors import MedtuiError
from medtui.core.runs.follow import RunDelta, RunWatch
from medtui.core.runs.records import FINAL, RUN_FILE, Run
from medtui.core.workspace import Workspace

SUMMARY_BACKLOG_BYTES = 64 * 1024  # enough of trainer_log.jsonl to find a run's last loss


@dataclass(frozen=True)
class RunSummary:
    """One run, ready to show. ``output_dir`` is as the workspace shows it (relative inside it);
    ``ended`` is None while the run is running."""

    id: str
    stage: str
    status: str
    output_dir: str
    started: float | None
    ended: float | None
    final_loss: float | None
    steps: int
    total_steps: int
    reason: str = ""
    run: Run | None = field(default=None, compare=False, repr=False)
    diagnosis: dict[str, Any] | None = None
    alerts: tuple[dict[str, Any], ...] = ()
    kind: str = "train"  # one of records.RUN_KINDS

    @property
    def why(self) -> str:
        """The diagnosis cause, else the kinds of the open alerts, else what a queued Slurm job waits
        for; "" when there is nothing to say."""
        if self.status == "pending" and self.reason:
            waits = re.search(r"\(([^)]+)\)", self.reason)
            return f"queued: {waits.group(1)}" if waits else "queued"
        if self.diagnosis and self.diagnosis.get("cause"):
            return str(self.diagnosis["cause"])
        return ",".join(dict.fromkeys(str(a.get("kind")) for a in self.alerts if not a.get("resolved")))

    def age(self, now: float) -> float | None:
        """Seconds since the run ended, or since it started while it runs; None when unknown."""
        when = self.ended if self.status in FINAL else self.started
        return now - when if when else None

    def duration(self, now: float) -> float | None:
        """How long the run ran (or has been running); None when unknown."""
        end = self.ended if self.ended is not None else (now if self.status == "running" else None)
        # A Slurm job's time counts from when it left the queue.
        start = (self.run.record.get("job_started") if self.run is not None else None) or self.started
        return max(0.0, end - start) if start and end is not None else None

    @property
    def backend(self) -> str:
        return self.run.backend if self.run is not None else "local"

    def where(self) -> str:
        """``local``, or ``slurm JOBID NODES`` for a Slurm run."""
        if self.run is None or self.run.backend == "local":
            return "local"
        nodes = self.run.record.get("nodes")
        return f"slurm {self.run.job_id}" + (f" {nodes}" if nodes else "")

    def as_json(self) -> dict[str, Any]:
        """``medtui runs --json``: the record's fields (absolute paths, ISO times) and the summary's."""
        record = self.run.record if self.run is not None else {}
        return {"id": self.id, "stage": self.stage, "kind": self.kind, "status": self.status,
                "output_dir": str(self.run.output_dir) if self.run is not None else self.output_dir,
                "started": _iso(self.started), "ended": _iso(self.ended), "exit_code": record.get("exit_code"),
                "pid": record.get("pid"), "run_dir": str(self.run.run_dir) if self.run is not None else None,
                "final_loss": self.final_loss, "steps": self.steps, "total_steps": self.total_steps,
                "reason": self.reason, "diagnosis": self.diagnosis, "alerts": list(self.alerts),
                "signal": record.get("signal"), "pipeline": record.get("pipeline"),
                "pipeline_run": record.get("pipeline_run"), "backend": self.backend,
                "job_id": self.run.job_id if self.run else None, "nodes": record.get("nodes")}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ts))


class _Followed:
    """One run's watch and what its trainer log added up to so far."""

    def __init__(self, watch: RunWatch):
        self.watch = watch
        self.loss: float | None = None
        self.steps = 0
        self.total = 0
        self.delta: RunDelta | None = None

    def poll(self, mtime: int | None) -> None:
        delta = self.delta = self.watch.poll(mtime)
        if delta.reset:
            self.loss, self.steps, self.total = None, 0, 0
        for rec in delta.records:
            if isinstance(rec.get("loss"), (int, float)):
                self.loss = float(rec["loss"])
            if isinstance(rec.get("current_steps"), (int, float)):
                self.steps = int(rec["current_steps"])
            if isinstance(rec.get("total_steps"), (int, float)):
                self.total = int(rec["total_steps"])

    def summary(self, ws: Workspace) -> RunSummary:
        run, delta = self.watch.run, self.delta
        assert delta is not None
        diagnosis = run.record.get("diagnosis")
        alerts = tuple(a for a in run.record.get("alerts") or () if isinstance(a, dict))
        return RunSummary(run.id, run.stage, delta.status, ws.relative(run.output_dir), run.started, delta.ended,
                          self.loss, self.steps, self.total, delta.reason, run,
                          diagnosis if isinstance(diagnosis, dict) else None, alerts, run.kind)


class RunsWatcher:
    """Every run of a workspace (CLI-started ones too), polled incrementally.

    A record that cannot be read is left out of the rows and named in :attr:`unreadable`; one that
    turns unreadable keeps its last good row and is named there too.
    """

    def __init__(self, ws: Workspace):
        self.ws = ws
        self._entries: dict[str, _Followed] = {}
        self._bad: dict[str, tuple[int, str]] = {}  # folder -> (record mtime, reason): not re-read until rewritten
        #: run folders whose record cannot be read, with the one-line reason (for a visible message)
        self.unreadable: dict[str, str] = {}
        self._lock = threading.Lock()

    def poll(self) -> list[RunSummary]:
        """Every run's summary, newest first. Safe to call from several threads (one poll at a time)."""
        with self._lock:
            return self._poll()

    def _poll(self) -> list[RunSummary]:
        runs_dir = self.ws.runs_dir
        seen: set[str] = set()
        self.unreadable = {}
        try:
            children = list(os.scandir(runs_dir))
        except OSError:
            children = []
        for child in children:
            try:
                mtime = os.stat(os.path.join(child.path, RUN_FILE)).st_mtime_ns
            except OSError:
                continue
            entry = self._entries.get(child.name)
            if entry is None:
                bad = self._bad.get(child.name)
                if bad is not None and bad[0] == mtime:
                    self.unreadable[child.name] = bad[1]
                    continue
                try:
                    entry = _Followed(RunWatch(Path(child.path), follow_logs=False,
                                               trainer_backlog=SUMMARY_BACKLOG_BYTES))
                except MedtuiError as exc:
                    self._bad[child.name] = (mtime, str(exc))
                    self.unreadable[child.name] = str(exc)
                    continue
                self._bad.pop(child.name, None)
                self._entries[child.name] = entry
            seen.add(child.name)
            entry.poll(mtime)
            if entry.watch.record_error:
                self.unreadable[child.name] = entry.watch.record_error
        for key in set(self._entries) - seen:
            del self._entries[key]
        self._bad = {key: bad for key, bad in self._bad.items() if key in self.unreadable}
        rows = [entry.summary(self.ws) for entry in self._entries.values()]
        rows.sort(key=lambda r: (r.started or 0, r.id), reverse=True)
        return rows
