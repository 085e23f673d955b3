"""Following a run's files as they grow: the one module that reads a run folder's logs.

- :class:`JsonlTail` and :class:`TextTail` remember their offset and return only what is new. A
  partial last line waits for its newline; a file that shrinks or is replaced (new inode) is read
  again from the start and the reader's ``reset`` flag tells the caller to drop what it had.
- :class:`RunReader` folds one ``trainer_log.jsonl`` into a :class:`~medtui.core.runs.progress.Progress`
  (``medtui train``'s progress line, the Predict screen).
- :class:`RunWatch` follows one run: ``run.json`` (re-read only when its mtime changes), its status
  and failure reason, its ``trainer_log.jsonl`` and its stdout/stderr; each poll returns a
  :class:`RunDelta` of what changed. :class:`RunState` folds deltas on the UI side (the Monitor).
  :mod:`medtui.core.runs.summary` builds every run's one-line summary on the same watch.

LlamaBoard re-reads the whole trainer_log.jsonl every 2 s; a poll here costs a few ``stat``
calls when nothing was written.
"""

from __future__ import annotations

import gc
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medtui.core.errors import MedtuiError
from medtui.core.runs.progress import Progress
from medtui.core.runs.records import FINAL, RUN_FILE, Run, load_run
from medtui.core.runs.resume import history_before

LOG_BACKLOG_BYTES = 256 * 1024  # how much of an existing stdout/stderr a new monitor shows
MAX_POINTS = 20_000  # per metric; older points are thinned to every other one beyond this
STAGE_METRIC = {"dpo": "accuracy", "kto": "accuracy", "ppo": "reward", "rm": "accuracy"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# -- incremental readers ----------------------------------------------------------------------
class _Tail:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.offset = 0
        self._inode: tuple[int, int] | None = None
        self._partial = b""
        self.reset = False

    def _read_complete_lines(self) -> list[bytes]:
        self.reset = False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self.offset:
                self._restart()
            return []
        inode = (st.st_dev, st.st_ino)
        if self._inode is not None and (inode != self._inode or st.st_size < self.offset):
            self._restart()
        self._inode = inode
        if st.st_size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        self.offset += len(chunk)
        data = self._partial + chunk if self._partial else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return []
        self._partial = data[cut + 1 :]
        return data[:cut].split(b"\n")

    def _restart(self) -> None:
        self.offset = 0
        self._partial = b""
        self._inode = None
        self.reset = True


class JsonlTail(_Tail):
    """New JSON objects appended to a JSON-lines file. Lines that do not parse are skipped."""

    def read_new(self) -> list[dict[str, Any]]:
        return _parse_lines(self._read_complete_lines())


def _parse_lines(raw: list[bytes]) -> list[dict[str, Any]]:
    """Parse JSON lines, skipping bad ones. The cyclic GC is paused for big batches: a million
    fresh dicts would otherwise trigger it over and over for nothing."""
    paused = len(raw) > 10000 and gc.isenabled()
    if paused:
        gc.disable()
    try:
        records = []
        for line in raw:
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(record, dict):
                records.append(record)
        return records
    finally:
        if paused:
            gc.enable()


class TextTail(_Tail):
    """New complete lines of a text log, decoded leniently."""

    def read_new(self) -> list[str]:
        return [ln.decode("utf-8", "replace").rstrip("\r") for ln in self._read_complete_lines()]


def clean_line(line: str) -> str:
    """What a terminal would show: the last carriage-return segment, without colour codes."""
    return _ANSI.sub("", line.rsplit("\r", 1)[-1])


def start_near_end(tail: _Tail, backlog: int) -> bool:
    """Start ``tail`` ``backlog`` bytes before the end; True when that cut into the file (the first
    line read is then partial: a JSONL tail skips it as unparsable, a text reader should drop it)."""
    try:
        size = os.path.getsize(tail.path)
    except OSError:
        return False
    if size > backlog:
        tail.offset = size - backlog
        return True
    return False


# -- one trainer log ----------------------------------------------------------------------------
class RunReader:
    """Follows one run's ``trainer_log.jsonl`` and folds it into a :class:`Progress`.

    A first read of a large backlog (over ``SAMPLE_ABOVE`` bytes) parses the last ``TAIL_BYTES``
    in full and an even sample of ``SAMPLES`` lines from the rest, so reopening a monitor on a
    month-long run stays instant; ``progress.sampled`` then says so. Later reads are incremental.
    """

    SAMPLE_ABOVE = 32 * 1024 * 1024
    SAMPLES = 5000
    TAIL_BYTES = 2 * 1024 * 1024

    def __init__(self, trainer_log: str | os.PathLike):
        self.tail = JsonlTail(trainer_log)
        self.progress = Progress()

    def poll(self) -> list[dict[str, Any]]:
        if self.tail.offset == 0:
            sampled = self._sampled_backlog()
            if sampled is not None:
                self.progress = Progress(sampled=True)
                self.progress.add(sampled)
                return sampled
        records = self.tail.read_new()
        if self.tail.reset:
            self.progress = Progress()
        self.progress.add(records)
        return records

    def _sampled_backlog(self) -> list[dict[str, Any]] | None:
        path = self.tail.path
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        if st.st_size <= self.SAMPLE_ABOVE:
            return None
        tail_start = st.st_size - self.TAIL_BYTES
        records: list[dict[str, Any]] = []
        with open(path, "rb") as fh:
            step = tail_start / self.SAMPLES
            for i in range(self.SAMPLES):
                fh.seek(int(i * step))
                if i:
                    fh.readline()  # finish the line we landed in
                line = fh.readline()
                if fh.tell() > tail_start:
                    break
                records.extend(_parse_lines([line]))
            fh.seek(tail_start)
            fh.readline()
            chunk = fh.read(st.st_size - fh.tell())
        cut = chunk.rfind(b"\n")
        records.extend(_parse_lines(chunk[:cut].split(b"\n")))
        self.tail.offset = st.st_size
        self.tail._inode = (st.st_dev, st.st_ino)
        self.tail._partial = chunk[cut + 1 :]
        return records


# -- one run --------------------------------------------------------------------------------------
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
    """Follows one run: its record, its trainer_log.jsonl and (with ``follow_logs``) its stdout/stderr.

    ``trainer_backlog`` None reads the trainer log from the start (the Monitor's charts); a number
    starts that many bytes before its end (enough for a summary's last loss and step).
    """

    def __init__(self, run_dir: str | os.PathLike, *, follow_logs: bool = True,
                 log_backlog: int = LOG_BACKLOG_BYTES, trainer_backlog: int | None = None):
        self.run_dir = Path(run_dir)
        self.run: Run = load_run(self.run_dir)
        self.record_mtime = _mtime(self.run_dir / RUN_FILE)
        self.record_error = ""  # why the latest rewrite of run.json could not be read (the last good one is kept)
        self._fresh = True
        self._reason: str | None = None
        self._trainer_backlog = trainer_backlog
        self.trainer = self._trainer_tail()
        self._logs: list[tuple[TextTail, bool]] = []
        if follow_logs:
            for path in (self.run.stdout_path, self.run.stderr_path):
                tail = TextTail(path)
                self._logs.append((tail, start_near_end(tail, log_backlog)))

    def _trainer_tail(self) -> JsonlTail:
        tail = JsonlTail(self.run.trainer_log)
        self._history: list[dict[str, Any]] = []
        if self._trainer_backlog is not None:
            start_near_end(tail, self._trainer_backlog)
        else:  # a resumed run: the earlier run's records up to the checkpoint, then its own
            self._history, tail.offset = history_before(self.run.record)
        return tail

    def _reload(self, mtime: int | None) -> tuple[bool, bool]:
        """Re-read run.json after its mtime changed: (read, the output folder moved)."""
        self.record_mtime = mtime
        try:
            run = load_run(self.run_dir)
        except MedtuiError as exc:  # a torn read cannot happen (atomic writes), a hand edit or a vanished folder can
            self.record_error = str(exc)
            return False, False
        self.record_error = ""
        moved = run.trainer_log != self.run.trainer_log
        self.run, self._reason = run, None
        if moved:
            self.trainer = self._trainer_tail()
        return True, moved

    def poll(self, record_mtime: int | None = None) -> RunDelta:
        """What changed since the last poll; ``record_mtime`` saves a stat when the caller has it."""
        changed, moved = self._fresh, False
        mtime = _mtime(self.run_dir / RUN_FILE) if record_mtime is None else record_mtime
        if mtime != self.record_mtime:
            read, moved = self._reload(mtime)
            changed = changed or read
        self._fresh = False
        status = self.run.status
        records = self.trainer.read_new()
        if self._history:
            records, self._history = self._history + records, []
        reset = self.trainer.reset or moved
        lines: list[str] = []
        for i, (tail, cut) in enumerate(self._logs):
            new = tail.read_new()
            if cut and new:
                new = new[1:]
                self._logs[i] = (tail, False)
            lines.extend(clean_line(ln) for ln in new)
        if status in FINAL and self._reason is None:
            self._reason = self.run.reason()  # failed, killed, stopped (what it saved); empty when succeeded
        # A queued Slurm job says what it waits for (Resources, BeginTime...) and when it may start.
        reason = self._reason if status in FINAL else (self.run.reason() if status == "pending" else "")
        return RunDelta(self.run.id, status, self.run.ended if status in FINAL else None, reason or "",
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
        start = self.record.get("job_started") or self.started  # a Slurm job counts from leaving the queue
        if start is None:
            return None
        end = self.ended if self.ended is not None else (now if self.status == "running" else None)
        return max(0.0, end - start) if end is not None else None

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
