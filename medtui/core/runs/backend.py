"""Launch backends: where a run's processes live, behind one interface.

``local``: a supervisor process on this machine (:mod:`~medtui.core.runs.runner`). ``slurm``: a
batch job (:mod:`~medtui.core.runs.slurm_runner`, :mod:`~medtui.core.runs.slurm_status`). Each
backend can **start** a plan, tell a run's **status**, **stop** it (gracefully: save first, or
kill) and name its **logs**. Launch, the CLI, the Runs list, the Monitor, the lifecycle and
pipelines go through :func:`start`, :func:`status`, :func:`stop` and :func:`logs`; ``run.json``
records ``backend`` (and ``job_id`` for Slurm), so any process picks the right one for a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from medtui.core.errors import MedtuiError
from medtui.core.runs import runner, slurm_runner
from medtui.core.runs.records import FINAL, Run, list_runs
from medtui.core.runs.states import ACTIVE

if TYPE_CHECKING:
    from medtui.core.runs.plan import RunPlan

Phase = Callable[[str], None]


@dataclass(frozen=True)
class RunStatus:
    """A run's status, why (a failure, or what a queued job waits for), and where it runs."""

    status: str  # one of medtui.core.runs.states.STATUSES
    reason: str = ""
    where: str = ""  # "pid 1234" or "job 57 on node[1-2]"


@dataclass(frozen=True)
class RunLogs:
    """The files a run's output goes to; the same incremental readers follow them for every backend."""

    stdout: Path
    stderr: Path
    trainer_log: Path


class Backend(Protocol):
    name: str

    def start(self, plan: RunPlan, ws, *, kind: str, pipeline: str | None, options: Any = None,
              extra: dict[str, Any] | None = None) -> Run: ...

    def status(self, run: Run) -> RunStatus: ...

    def stop(self, run: Run, *, kill: bool = False, grace: float | None = None, on_phase: Phase | None = None) -> Run: ...

    def logs(self, run: Run) -> RunLogs: ...


def _slurm_writer(ws, output_dir: Path) -> Run | None:
    """A queued or running Slurm run of this workspace that writes to ``output_dir``.

    Local runs hold a lock file while they live; a Slurm job holds nothing on this machine, so its
    record is the lock."""
    target = Path(output_dir).resolve()
    for run in list_runs(ws.runs_dir):
        if run.backend == "slurm" and run.record.get("status") not in FINAL and \
                Path(run.record.get("output_dir", "")).resolve() == target and run.is_running:
            return run
    return None


def _refuse_busy_output(ws, output_dir: Path) -> None:
    busy = _slurm_writer(ws, output_dir)
    if busy is not None:
        raise MedtuiError(f"Slurm job {busy.job_id} (run {busy.id}) is already writing to {output_dir}; "
                          "stop it first or choose another output_dir")


def _logs(run: Run) -> RunLogs:
    return RunLogs(run.stdout_path, run.stderr_path, run.trainer_log)


class LocalBackend:
    """A supervisor process in its own session on this machine."""

    name = "local"

    def start(self, plan: RunPlan, ws, *, kind: str, pipeline: str | None, options: Any = None,
              extra: dict[str, Any] | None = None) -> Run:
        _refuse_busy_output(ws, plan.output_dir)
        return runner.start(plan, ws, kind=kind, pipeline=pipeline, extra=extra)

    def status(self, run: Run) -> RunStatus:
        status = run.status
        pid = run.record.get("pid")
        return RunStatus(status, run.reason(), f"pid {pid}" if pid and status == "running" else "")

    def stop(self, run: Run, *, kill: bool = False, grace: float | None = None, on_phase: Phase | None = None) -> Run:
        return runner.stop(run, kill=kill, grace=120.0 if grace is None else grace, on_phase=on_phase)

    def logs(self, run: Run) -> RunLogs:
        return _logs(run)


class SlurmBackend:
    """A Slurm batch job; ``options`` (:class:`~medtui.core.slurm.script.SlurmOptions`) says what to ask for."""

    name = "slurm"

    def start(self, plan: RunPlan, ws, *, kind: str, pipeline: str | None, options: Any = None,
              extra: dict[str, Any] | None = None) -> Run:
        if options is None:
            raise MedtuiError("a Slurm run needs its Slurm options")
        if runner.output_locked(ws, plan.output_dir):
            raise MedtuiError(f"a run on this machine is already writing to {plan.output_dir}; stop it first or "
                              "choose another output_dir")
        _refuse_busy_output(ws, plan.output_dir)
        return slurm_runner.submit(plan, ws, options, kind=kind, pipeline=pipeline, extra=extra)

    def status(self, run: Run) -> RunStatus:
        found = run.slurm_view()
        nodes = run.record.get("nodes")
        where = f"job {run.job_id}" + (f" on {nodes}" if nodes else "")
        return RunStatus(found.status, run.reason() if found.status == "failed" else found.reason, where)

    def stop(self, run: Run, *, kill: bool = False, grace: float | None = None, on_phase: Phase | None = None) -> Run:
        return slurm_runner.stop(run, kill=kill, grace=grace, on_phase=on_phase)

    def logs(self, run: Run) -> RunLogs:
        return _logs(run)


BACKENDS: dict[str, Backend] = {"local": LocalBackend(), "slurm": SlurmBackend()}


def get(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise MedtuiError(f"unknown launch backend {name!r} (known: {', '.join(BACKENDS)})") from None


def of(run: Run) -> Backend:
    """The backend that runs ``run`` (from its record)."""
    return get(run.backend)


def start(plan: RunPlan, ws, *, kind: str | None = None, pipeline: str | None = None, backend: str = "local",
          options: Any = None, extra: dict[str, Any] | None = None) -> Run:
    """Start ``plan`` on ``backend``; ``extra`` keys go into its run.json (a resume's ``resumed_from``...)."""
    return get(backend).start(plan, ws, kind=kind or plan.kind, pipeline=pipeline, options=options, extra=extra)


def status(run: Run) -> RunStatus:
    return of(run).status(run)


def stop(run: Run, *, kill: bool = False, grace: float | None = None, on_phase: Phase | None = None) -> Run:
    return of(run).stop(run, kill=kill, grace=grace, on_phase=on_phase)


def logs(run: Run) -> RunLogs:
    return of(run).logs(run)


def wait(run: Run, *, poll: float = 0.5, timeout: float | None = None) -> Run:
    """Block until the run has finished (queued and running both count as not finished)."""
    return runner.wait(run, poll=poll, timeout=timeout)


def queue_line(run: Run) -> str:
    """For a run that is not local and not finished (a Slurm job): its status, what it waits for and where
    it runs, e.g. ``pending: Slurm: PENDING (Resources) (job 57)``; empty otherwise. Followers print it
    when it changes."""
    if run.backend == "local":
        return ""
    found = status(run)
    if found.status not in ACTIVE:
        return ""
    return found.status + (f": {found.reason}" if found.reason else "") + (f" ({found.where})" if found.where else "")
