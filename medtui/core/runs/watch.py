"""Follow runs incrementally for the Runs and Monitor screens (plain Python, no Textual).

Readers (:class:`RunWatch`, :class:`RunsWatcher`) live in one worker thread and return only
what changed since the last poll: ``run.json`` is re-read only when its mtime changes, and
``trainer_log.jsonl`` and the output logs are followed from their last offset (JsonlTail /
TextTail). LlamaBoard re-reads the whole trainer_log.jsonl every 2 s; a poll here costs a few
``stat`` calls when nothing was written. :class:`RunState` folds the deltas on the UI side into
a :class:`Progress` with bounded history.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medtui.core.errors import MedtuiError
from medtui.core.runs.progress import JsonlTail, Progress, TextTail
from medtui.core.runs.records import FINAL, RUN_FILE, Run, load_run
from medtui.core.workspace import Workspace

LOG_BACKLOG_BYTES = 256 * 1024  # how much of an existing stdout/stderr a new monitor shows
SUMMARY_BACKLOG_BYTES = 64 * 1024  # enough of trainer_log.jsonl to find a run's last loss
MAX_POINTS = 20_000  # per metric; older points are thinned to every other one beyond this
STAGE_METRIC = {"dpo": "accuracy", "kto": "accuracy", "ppo": "reward", "rm": "accuracy"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def clean_line(line: str) -> str:
    """What a terminal would show: the last carriage-return segment, without colour codes."""
    return _ANSI.sub("", line.rsplit("\r", 1)[-1])


def _from_end(tail, backlog: int):
    """Start ``tail`` ``backlog`` bytes before the end; the cut first line is dropped."""
    try:
        size = os.path.getsize(tail.path)
    except OSError:
        return tail, False
    if size > backlog:
        tail.offset = size - backlog
        return tail, True
    return tail, False


def _mtime(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


@dataclass
class RunDelta:
    """What one poll of a run found: the record (when it changed), status and new data."""

    run_id: str
    status: str
    ended: float | None
    reason: str
    record: dict[str, Any] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    reset: bool = False
    lines: list[str] = field(default_factory=list)


class RunWatch:
    """Follows one run: its record, its trainer_log.jsonl (from the start) and its logs (recent part)."""

    def __init__(self, run_dir: str | os.PathLike, *, follow_logs: bool = True,
                 log_backlog: int = LOG_BACKLOG_BYTES):
        self.run_dir = Path(run_dir)
        self.run: Run = load_run(self.run_dir)
        self._record_mtime = _mtime(self.run_dir / RUN_FILE)
        self._fresh = True
        self._reason: str | None = None
        self.trainer = JsonlTail(self.run.trainer_log)
        from medtui.core.runs.resume import history_before

        self._history, self.trainer.offset = history_before(self.run.record)  # a resumed run's earlier steps
        self._logs: list[tuple[TextTail, bool]] = []
        if follow_logs:
            for path in (self.run.stdout_path, self.run.stderr_path):
                self._logs.append(_from_end(TextTail(path), log_backlog))

    def poll(self) -> RunDelta:
        changed = self._fresh
        mtime = _mtime(self.run_dir / RUN_FILE)
        if mtime != self._record_mtime:
            try:
                self.run = load_run(self.run_dir)
                changed = True
                self._reason = None
            except MedtuiError:
                pass  # a torn read cannot happen (atomic writes), but a vanished folder can
            self._record_mtime = mtime
        self._fresh = False
        status = self.run.status
        records = self.trainer.read_new()
        if self._history:
            records, self._history = self._history + records, []
        reset = self.trainer.reset
        lines: list[str] = []
        for i, (tail, cut) in enumerate(self._logs):
            new = tail.read_new()
            if cut and new:
                new = new[1:]
                self._logs[i] = (tail, False)
            lines.extend(clean_line(ln) for ln in new)
        if status == "failed" and self._reason is None:
            self._reason = self.run.reason()
        return RunDelta(self.run.id, status, self.run.ended if status in FINAL else None,
                        self._reason if status == "failed" else "",
                        dict(self.run.record) if changed else None, records, reset, lines)


def _thin(progress: Progress, max_points: int) -> None:
    for metric, (xs, ys) in progress.series.items():
        if len(xs) > max_points:
            progress.series[metric] = (xs[::2], ys[::2])


class RunState:
    """The UI-side view of one run, folded from :class:`RunDelta` s (owned by the UI thread)."""

    def __init__(self, run_id: str, *, max_points: int = MAX_POINTS):
        self.run_id = run_id
        self.record: dict[str, Any] = {}
        self.status = "running"
        self.ended: float | None = None
        self.reason = ""
        self.progress = Progress()
        self.max_points = max_points

    @property
    def stage(self) -> str:
        return self.record.get("stage", "?")

    @property
    def started(self) -> float | None:
        return self.record.get("started")

    @property
    def stage_metric(self) -> str | None:
        return STAGE_METRIC.get(self.stage)

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        end = self.ended if self.ended is not None else (now if self.status == "running" else None)
        return max(0.0, end - self.started) if end is not None else None

    def apply(self, delta: RunDelta) -> bool:
        """Fold a delta in; True when the metric series changed (the charts need a redraw)."""
        if delta.record is not None:
            self.record = delta.record
        self.status, self.ended, self.reason = delta.status, delta.ended, delta.reason
        if delta.reset:
            self.progress = Progress()
        if delta.records:
            self.progress.add(delta.records)
            _thin(self.progress, self.max_points)
        return bool(delta.records) or delta.reset


@dataclass(frozen=True)
class RunRow:
    """One line of the Runs table."""

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


class _Entry:
    def __init__(self, run: Run, mtime: int | None):
        self.run = run
        self.mtime = mtime
        self.trainer, _ = _from_end(JsonlTail(run.trainer_log), SUMMARY_BACKLOG_BYTES)
        self.reason: tuple[int | None, str] | None = None
        self.loss: float | None = None
        self.steps = 0
        self.total = 0

    def failure(self) -> str:
        """The run's failure reason, read from stderr once per record version."""
        if self.reason is None or self.reason[0] != self.mtime:
            self.reason = (self.mtime, self.run.reason())
        return self.reason[1]

    def read_trainer_log(self) -> None:
        records = self.trainer.read_new()
        if self.trainer.reset:
            self.loss, self.steps, self.total = None, 0, 0
        for rec in records:
            if isinstance(rec.get("loss"), (int, float)):
                self.loss = float(rec["loss"])
            if isinstance(rec.get("current_steps"), (int, float)):
                self.steps = int(rec["current_steps"])
            if isinstance(rec.get("total_steps"), (int, float)):
                self.total = int(rec["total_steps"])


class RunsWatcher:
    """Every run of a workspace (CLI-started ones too), polled incrementally."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self._entries: dict[str, _Entry] = {}

    def poll(self) -> list[RunRow]:
        runs_dir = self.ws.runs_dir
        seen: set[str] = set()
        try:
            children = list(runs_dir.iterdir()) if runs_dir.is_dir() else []
        except OSError:
            children = []
        for child in children:
            mtime = _mtime(child / RUN_FILE)
            if mtime is None:
                continue
            key = child.name
            seen.add(key)
            entry = self._entries.get(key)
            if entry is None or entry.mtime != mtime:
                try:
                    run = load_run(child)
                except MedtuiError:
                    continue
                if entry is None or entry.run.output_dir != run.output_dir:
                    entry = self._entries[key] = _Entry(run, mtime)
                else:
                    entry.run, entry.mtime = run, mtime
            entry.read_trainer_log()
        for key in set(self._entries) - seen:
            del self._entries[key]
        rows = []
        for entry in self._entries.values():
            run = entry.run
            status = run.status
            rows.append(RunRow(run.id, run.stage, status, self.ws.relative(run.output_dir), run.started,
                               run.ended if status in FINAL else None, entry.loss, entry.steps, entry.total,
                               entry.failure() if status == "failed" else ""))
        rows.sort(key=lambda r: (r.started or 0, r.id), reverse=True)
        return rows
