"""Run records: ``.medtui/runs/<id>/run.json`` and how a fresh process reads a run's status.

A run folder holds ``run.json``, ``config.yaml``, ``stdout.log`` and ``stderr.log``. The
supervisor (:mod:`medtui.core.runs.supervisor`) writes the final status (the states are in
:mod:`medtui.core.runs.states`); a ``stop_requested`` marker file records that the user asked to
stop, and how, without racing the supervisor's writes. ``kind`` says what the run is: train,
predict, export or pipeline.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medtui.core.errors import MedtuiError
from medtui.core.runs.plan import kind_of
from medtui.core.runs.recordfile import RUN_FILE, last_error_line, read_record
from medtui.core.runs.recordfile import write_record as write_record  # re-exported for the runner
from medtui.core.runs.states import ACTIVE, FINAL, STATUSES, STOP_MARKER, VANISHED, error_line, stop_mode

__all__ = ["ACTIVE", "FINAL", "STATUSES", "STOP_MARKER", "RUN_FILE", "Run", "load_run", "list_runs", "scan_runs",
           "find_run", "read_record", "write_record", "clean_record", "last_error_line"]

STARTING_GRACE = 15.0
#: What a run is (``run.json`` ``kind``; :attr:`Run.kind`). ``latest:KIND`` accepts these besides stage names.
RUN_KINDS = ("train", "predict", "evaluate", "benchmark", "export", "pipeline")
#: Run kinds whose output folder holds results, not a model (they never feed chat or later stages).
RESULT_KINDS = ("predict", "evaluate", "benchmark")


#: Plausible bounds for what a fresh process reads from a record someone may have edited.
_MIN_TIME, _MAX_TIME = 0.0, 1e11  # up to the year 5138
_MAX_PID = 1 << 22  # Linux's pid_max ceiling


def _time(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if _MIN_TIME < value < _MAX_TIME else None


def _pid(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value < _MAX_PID else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value and "\x00" not in value else None


def clean_record(run_dir: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with every field medtui reads coerced to its type (bad values dropped, unknown keys kept).

    A record edited by hand or cut short never crashes a reader: a missing id is the folder's
    name, a time that is not a plausible number is unknown, a pid that is not one is absent.
    """
    record = dict(raw)
    record["id"] = _text(raw.get("id")) or run_dir.name
    record["stage"] = _text(raw.get("stage")) or "?"
    status = raw.get("status")
    record["status"] = status if status in STATUSES else "running"
    for key in ("started", "ended", "pid_create_time", "child_create_time"):
        record[key] = _time(raw.get(key))
    for key in ("pid", "child_pid"):
        record[key] = _pid(raw.get(key))
    code = raw.get("exit_code")
    record["exit_code"] = code if isinstance(code, int) and not isinstance(code, bool) and abs(code) < 1 << 16 else None
    record["output_dir"] = _text(raw.get("output_dir"))
    if not isinstance(raw.get("config"), dict):
        record["config"] = {}
    for key in ("error", "pipeline", "kind", "saved", "signal", "backend"):
        record[key] = _text(raw.get(key))
    job = raw.get("job_id")
    record["job_id"] = str(job) if isinstance(job, (str, int)) and not isinstance(job, bool) and job != "" else None
    return record


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
        return self.record.get("id") or self.run_dir.name

    @property
    def stage(self) -> str:
        return self.record.get("stage") or "?"

    @property
    def kind(self) -> str:
        """One of :data:`RUN_KINDS`; for records older than ``kind``, derived from stage and config
        (:func:`~medtui.core.runs.plan.kind_of`)."""
        kind = self.record.get("kind")
        if kind in RUN_KINDS:
            return kind
        return kind_of(self.stage, self.record.get("config") or {})

    @property
    def output_dir(self) -> Path:
        out = self.record.get("output_dir")
        return Path(out) if out else self.run_dir / "output"

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
        self.record = clean_record(self.run_dir, found.record)
        return found

    @property
    def status(self) -> str:
        """The recorded final state, else ``running`` while the supervisor (or the trainer) lives.

        With both gone and no end recorded, the supervisor vanished (a reboot, a kill, a disk too full
        to record): the run is ``failed``, or ``killed``/``stopped`` when the user had asked for that.
        A Slurm run's state comes from Slurm (:mod:`medtui.core.runs.slurm_status`): ``pending`` while queued.
        """
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
        return {"kill": "killed", "graceful": "stopped"}.get(stop_mode(self.run_dir) or "", "failed")

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

    @property
    def vanished(self) -> bool:
        """The run ended without its supervisor recording how (a local run; Slurm's end is read from Slurm)."""
        if self.backend == "slurm":
            return False
        return self.record.get("status") not in FINAL and self.status in FINAL

    def reason(self) -> str:
        """One line on how a finished run ended: the failure (exit code or signal and the error line),
        what a stopped run saved, or why a killed run saved nothing; empty while running or succeeded.
        A queued Slurm job's reason is what it waits for."""
        status = self.status
        if self.backend == "slurm" and status not in FINAL:
            return self.slurm_view().reason
        if status in ("running", "succeeded"):
            return ""
        if self.vanished:
            line = error_line(self.stderr_path)
            return VANISHED + (f"; last error: {line}" if line else "")
        if status == "stopped":
            return str(self.record.get("saved") or self.record.get("error") or "")
        if self.record.get("error"):
            return str(self.record["error"])
        if self.backend == "slurm":
            return self.slurm_view().reason
        code = self.exit_code
        return f"exit code {code}" if code is not None else ""


def load_run(run_dir: Path) -> Run:
    """The run in ``run_dir``; MedtuiError when its record cannot be read (see :func:`clean_record`)."""
    return Run(run_dir, clean_record(run_dir, read_record(run_dir)))


def scan_runs(runs_dir: Path) -> tuple[list[Run], list[tuple[str, str]]]:
    """Every readable run under ``runs_dir``, newest first, and (folder name, why) of each unreadable one.

    A folder without ``run.json`` is not a run (a start that failed before writing one, say) and
    is left out of both lists; a ``run.json`` that is broken is reported, never fatal.
    """
    runs: list[Run] = []
    broken: list[tuple[str, str]] = []
    try:
        children = sorted(runs_dir.iterdir())
    except OSError:
        return runs, broken
    for child in children:
        try:
            if not child.is_dir() or not os.path.lexists(child / RUN_FILE):
                continue
            runs.append(load_run(child))
        except MedtuiError as exc:
            broken.append((child.name, str(exc)))
        except OSError as exc:
            broken.append((child.name, f"cannot read it ({exc.strerror or exc})"))
    runs.sort(key=lambda r: (r.started or 0, r.id), reverse=True)
    return runs, broken


def list_runs(runs_dir: Path) -> list[Run]:
    """Every readable run under ``runs_dir``, newest first (unreadable records are skipped)."""
    return scan_runs(runs_dir)[0]


def find_run(runs_dir: Path, ref: str) -> Run:
    """Find a run by id, unique id prefix or suffix, a unique ``-``-separated part of its id (``sft``),
    ``latest``, or ``latest:STAGE`` (the newest run of a stage, or of a kind such as ``predict``).

    An empty ``ref`` is refused (an unset ``$RUN`` must never match every run); an ambiguous one
    lists the candidates.
    """
    ref = (ref or "").strip()
    if not ref:
        raise MedtuiError("empty run id; give a run id, a unique prefix, 'latest' or 'latest:STAGE' "
                          "(see `medtui runs`)")
    runs = list_runs(runs_dir)
    if not runs:
        raise MedtuiError(f"no run matches {ref!r}: there are no runs in {runs_dir.parent.parent} yet")
    head, sep, which = ref.partition(":")
    if head == "latest":
        if not sep:
            return runs[0]
        which = which.strip()
        picked = [r for r in runs if r.stage == which or r.kind == which]
        if picked:
            return picked[0]
        raise MedtuiError(f"no {which or '?'} run yet in this workspace; latest:STAGE takes a stage "
                          f"(pt, sft, rm, ppo, dpo, kto, eval, export) or a kind ({', '.join(RUN_KINDS)})")
    exact = [r for r in runs if r.id == ref]
    if exact:
        return exact[0]
    matches = [r for r in runs if r.id.startswith(ref) or r.id.endswith(ref) or ref in r.id.split("-")]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise MedtuiError(f"no run matches {ref!r} (see `medtui runs`)")
    shown = ", ".join(r.id for r in matches[:8]) + (f" and {len(matches) - 8} more" if len(matches) > 8 else "")
    hint = f"; for the newest use latest:{matches[0].stage}" if len({r.stage for r in matches}) == 1 else ""
    raise MedtuiError(f"ambiguous run id {ref!r}: it matches {len(matches)} runs: {shown}{hint}")
