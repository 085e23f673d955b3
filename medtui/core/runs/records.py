"""Run records: ``.medtui/runs/<id>/run.json`` and how a fresh process reads a run's status.

A run folder holds ``run.json``, ``config.yaml``, ``stdout.log`` and ``stderr.log``. The
supervisor (:mod:`medtui.core.runs.supervisor`) writes the final status; a ``stop_requested`` marker
file records that the user asked to stop, without racing the supervisor's writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medtui.core.errors import MedtuiError
from medtui.core.runs.recordfile import FINAL, RUN_FILE, STOP_MARKER, last_error_line, read_record
from medtui.core.runs.recordfile import write_record as write_record  # re-exported for the runner

STATUSES = ("pending", "running", "succeeded", "failed", "stopped")
ACTIVE = ("pending", "running")
STARTING_GRACE = 15.0
#: Run kinds whose output folder holds results, not a model (they never feed chat or later stages).
RESULT_KINDS = ("predict", "evaluate", "benchmark")


def _process_alive(pid: int | None, create_time: float | None) -> bool:
    if not pid:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if create_time is not None and abs(proc.create_time() - create_time) > 1.0:
            return False  # the pid was reused by another process
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


@dataclass
class Run:
    """A run as a fresh process sees it."""

    run_dir: Path
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def stage(self) -> str:
        return self.record.get("stage", "?")

    @property
    def output_dir(self) -> Path:
        return Path(self.record["output_dir"])

    @property
    def stop_requested(self) -> bool:
        return (self.run_dir / STOP_MARKER).exists()

    @property
    def backend(self) -> str:
        """``local`` (a supervisor process on this machine) or ``slurm`` (a batch job)."""
        return self.record.get("backend") or "local"

    @property
    def job_id(self) -> str | None:
        """The Slurm job id of a Slurm run."""
        job = self.record.get("job_id")
        return str(job) if job else None

    def slurm_view(self):
        """Slurm's view of a Slurm run (status, reason); refreshes ``record`` when the job moved or ended."""
        from medtui.core.runs import slurm_status

        found = slurm_status.status(self.run_dir, self.record)
        self.record = found.record
        return found

    @property
    def status(self) -> str:
        if self.backend == "slurm":
            return self.slurm_view().status
        status = self.record.get("status", "running")
        if status in FINAL:
            return status
        if not self.record.get("pid") and time.time() - (self.started or 0) < STARTING_GRACE:
            return "running"  # the supervisor has not written its pid yet
        if _process_alive(self.record.get("pid"), self.record.get("pid_create_time")):
            return "running"
        if _process_alive(self.record.get("child_pid"), self.record.get("child_create_time")):
            return "running"
        return "stopped" if self.stop_requested else "failed"

    @property
    def is_running(self) -> bool:
        """Not finished yet: running, or (a Slurm job) waiting in the queue."""
        return self.status in ACTIVE

    @property
    def started(self) -> float | None:
        return self.record.get("started")

    @property
    def ended(self) -> float | None:
        if self.record.get("ended"):
            return self.record["ended"]
        if self.status in FINAL:
            for name in ("stdout.log", "stderr.log", RUN_FILE):
                p = self.run_dir / name
                if p.exists():
                    return p.stat().st_mtime
        return None

    @property
    def exit_code(self) -> int | None:
        return self.record.get("exit_code")

    @property
    def stdout_path(self) -> Path:
        return self.run_dir / "stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.run_dir / "stderr.log"

    @property
    def trainer_log(self) -> Path:
        return self.output_dir / "trainer_log.jsonl"

    def reason(self) -> str:
        """A one-line reason for a failure, taken from the end of stderr."""
        if self.record.get("error"):
            return str(self.record["error"])
        if self.backend == "slurm":
            return self.slurm_view().reason
        if self.status != "failed":
            return ""
        if not self.record.get("exit_code") and self.record.get("status") != "failed":
            return "the run's process vanished without recording an exit code"
        return last_error_line(self.stderr_path) or f"exit code {self.exit_code}"


def load_run(run_dir: Path) -> Run:
    return Run(run_dir, read_record(run_dir))


def list_runs(runs_dir: Path) -> list[Run]:
    """Every readable run under ``runs_dir``, newest first."""
    runs: list[Run] = []
    if not runs_dir.is_dir():
        return runs
    for child in runs_dir.iterdir():
        if (child / RUN_FILE).is_file():
            try:
                runs.append(load_run(child))
            except MedtuiError:
                continue
    runs.sort(key=lambda r: (r.started or 0, r.id), reverse=True)
    return runs


def find_run(runs_dir: Path, ref: str) -> Run:
    """Find a run by id, unique id prefix, or ``latest``."""
    runs = list_runs(runs_dir)
    if ref == "latest" and runs:
        return runs[0]
    exact = [r for r in runs if r.id == ref]
    if exact:
        return exact[0]
    matches = [r for r in runs if r.id.startswith(ref) or r.id.endswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise MedtuiError(f"no run matches {ref!r} (see `medtui runs`)")
    raise MedtuiError(f"{ref!r} matches {len(matches)} runs: " + ", ".join(r.id for r in matches[:5]))
