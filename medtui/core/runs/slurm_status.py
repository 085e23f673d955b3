"""The state of a run that is a Slurm job, read by whoever looks at the run.

No medtui process watches a Slurm job. A reader asks Slurm (``scontrol show job``; ``sacct``
once scontrol has forgotten the job and accounting is on), and then the run's own
``slurm-exit.json`` (written by the job script). The first reader that sees the job ended writes
the final state into ``run.json``, so it survives Slurm forgetting the job. Slurm's answers are
cached for a moment per job: many screens and rows may ask at once.
"""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from medtui.core import notify
from medtui.core.filelock import lock_exclusive
from medtui.core.runs.diagnosis import diagnose_run
from medtui.core.runs.recordfile import FINAL, last_error_line, read_record, write_record
from medtui.core.runs.states import ACTIVE, requested_end, stop_mode
from medtui.core.slurm import commands
from medtui.core.slurm.commands import JobInfo
from medtui.core.slurm.script import EXIT_FILE

CACHE_SECONDS = 2.0
RECORD_LOCK = ".record.lock"
LOCK_TIMEOUT = 10.0  # seconds
PENDING_STATES = ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
                  "SUSPENDED", "STOPPED", "SPECIAL_EXIT")
RUNNING_STATES = ("RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING")
ACTIVE_STATES = PENDING_STATES + RUNNING_STATES

_cache: dict[str, tuple[float, JobInfo | None]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class SlurmStatus:
    """medtui's status of a Slurm run, why (pending reason, failure) and the record as it now is."""

    status: str  # one of medtui.core.runs.states.STATUSES
    reason: str
    record: dict[str, Any]


def job(job_id: str, *, fresh: bool = False) -> JobInfo | None:
    """Slurm's view of a job (scontrol, then sacct), or None when Slurm no longer knows it."""
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(job_id)
        if hit and not fresh and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    info = commands.show_job(job_id)
    if info is None:
        info = commands.accounting_job(job_id)
    with _cache_lock:
        _cache[job_id] = (time.monotonic(), info)
    return info


def exit_record(run_dir: Path) -> dict[str, Any] | None:
    """What the job script wrote when it ended (``slurm-exit.json``), if it did."""
    try:
        data = json.loads((run_dir / EXIT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else ""


def map_state(info: JobInfo, stop_requested: bool, *, now: float | None = None) -> tuple[str, str]:
    """medtui's status and a one-line reason for Slurm's view of a job."""
    state = info.state
    if state in PENDING_STATES:
        reason = f"Slurm: {state}"
        if info.reason and info.reason != "None":
            reason += f" ({info.reason})"
        if info.start_time and info.start_time > (now if now is not None else time.time()):
            reason += f", expected start {_when(info.start_time)}"
        return "pending", reason
    if state in RUNNING_STATES:
        return "running", ""
    if stop_requested and state in ("COMPLETED", "CANCELLED", "FAILED"):
        return "stopped", ""
    if state == "COMPLETED":
        return "succeeded", ""
    if state == "CANCELLED":
        return "stopped", "cancelled in Slurm (scancel)"
    detail = [f"exit code {info.exit_code}"] if info.exit_code else []
    if info.signal:
        detail.append(f"signal {info.signal}")
    return "failed", f"Slurm: {state}" + (f" ({', '.join(detail)})" if detail else "")


def _update(run_dir: Path, changes: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Apply ``changes`` to run.json unless the run has already ended: (the record, whether this
    call wrote it). Read, check and write happen under the run's record lock, so readers that see
    the job move or end at once neither undo each other's end nor both finalise it."""
    with _record_lock(run_dir):
        record = read_record(run_dir)
        if record.get("status") in FINAL:
            return record, False  # someone else finalised it first
        record.update(changes)
        write_record(run_dir, record)
        return record, True


@contextmanager
def _record_lock(run_dir: Path) -> Iterator[None]:
    """An exclusive lock on the run's record (``.record.lock``); where it cannot be had within
    :data:`LOCK_TIMEOUT` (a read-only folder, a filesystem without locks, a stopped holder), the
    reader goes on without it."""
    try:
        fd = os.open(run_dir / RECORD_LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:
        yield
        return
    try:
        try:
            lock_exclusive(fd, LOCK_TIMEOUT)
        except OSError:  # TimeoutError included
            pass
        yield
    finally:
        os.close(fd)


def _after_end(run_dir: Path, record: dict[str, Any], exit_code: Any) -> dict[str, Any]:
    """What a local run's supervisor does when it ends: the diagnosis of a failure, then the
    notifications (open TUIs, the user's hook), once. Reading a run must never fail because of it."""
    try:
        if record.get("status") == "failed" and not record.get("diagnosis"):
            found = diagnose_run(run_dir, record, exit_code if isinstance(exit_code, int) else None)
            if found:
                record["diagnosis"] = found
        record["notified"] = notify.run_ended(record)
        write_record(run_dir, record)
    except Exception:  # noqa: BLE001 - a broken hook or log must not break the Runs list
        pass
    return record


def _final(run_dir: Path, status: str, reason: str, *, exit_code: Any, ended: Any,
           slurm_state: str | None) -> dict[str, Any]:
    changes: dict[str, Any] = {"status": status, "ended": ended or time.time(), "exit_code": exit_code}
    if slurm_state:
        changes["slurm_state"] = slurm_state
    if status == "stopped":  # ended after medtui stop: killed, or stopped with what it saved (runs.states)
        mode = stop_mode(run_dir)
        if mode is not None:
            record = read_record(run_dir)
            out = record.get("output_dir")
            started = record.get("started")
            changes.update(requested_end(mode, kind=str(record.get("kind") or "train"),
                                         output_dir=Path(out) if isinstance(out, str) and out else run_dir,
                                         started=started if isinstance(started, (int, float)) else None))
    if status == "failed":
        line = last_error_line(run_dir / "stderr.log")
        reason = reason or "the Slurm job failed"
        changes["error"] = f"{line} ({reason})" if line and exit_code not in (None, 0) else reason
    record, wrote = _update(run_dir, changes)  # many readers may see the end at once: one finalises
    return _after_end(run_dir, record, exit_code) if wrote else record


def _progress(run_dir: Path, record: dict[str, Any], info: JobInfo) -> dict[str, Any]:
    """Remember the state, nodes and real start time as the job moves (Slurm forgets them later)."""
    changes: dict[str, Any] = {}
    if info.state != record.get("slurm_state"):
        changes["slurm_state"] = info.state
    if info.state in RUNNING_STATES:
        if info.nodes and info.nodes != record.get("nodes"):
            changes["nodes"] = info.nodes
        if info.start_time and not record.get("job_started"):
            changes["job_started"] = info.start_time
    return _update(run_dir, changes)[0] if changes else record


def status(run_dir: Path, record: dict[str, Any], *, fresh: bool = False) -> SlurmStatus:
    """The status of the Slurm run in ``run_dir``; writes run.json when the job has moved or ended."""
    if record.get("status") in FINAL:
        return SlurmStatus(record["status"], str(record.get("error") or ""), record)
    job_id = str(record.get("job_id") or "")
    if not job_id:
        return SlurmStatus("failed", "the run has no Slurm job id", record)
    stop_requested = stop_mode(run_dir) is not None
    try:
        info = job(job_id, fresh=fresh)
    except commands.SlurmUnavailable as exc:
        last = "running" if record.get("slurm_state") in RUNNING_STATES else "pending"
        return SlurmStatus(last, f"Slurm is not answering ({exc}); showing the last known state", record)
    if info is not None:
        state, reason = map_state(info, stop_requested)
        if state in ACTIVE:
            return SlurmStatus(state, reason, _progress(run_dir, record, info))
        done = exit_record(run_dir) or {}
        code = done.get("exit_code", info.exit_code)
        record = _final(run_dir, state, reason, exit_code=code, ended=info.end_time or done.get("ended"),
                        slurm_state=info.state)
        return SlurmStatus(record.get("status", state), reason, record)
    done = exit_record(run_dir)
    if done is not None:
        code = done.get("exit_code")
        state = "stopped" if stop_requested else ("succeeded" if code == 0 else "failed")
        reason = f"the job script ended with exit code {code}" if state == "failed" else ""
        record = _final(run_dir, state, reason, exit_code=code, ended=done.get("ended"), slurm_state=None)
        return SlurmStatus(record.get("status", state), reason, record)
    state = "stopped" if stop_requested else "failed"
    reason = "" if state == "stopped" else (
        f"Slurm no longer knows job {job_id} and the job left no exit record (last seen "
        f"{record.get('slurm_state') or 'PENDING'}; it was cancelled, timed out or its node failed)")
    record = _final(run_dir, state, reason, exit_code=None, ended=None, slurm_state=record.get("slurm_state"))
    return SlurmStatus(record.get("status", state), reason, record)
