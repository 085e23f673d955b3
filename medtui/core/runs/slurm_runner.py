"""Start and stop runs as Slurm batch jobs (their state is read by :mod:`medtui.core.runs.slurm_status`).

A Slurm run has the same folder as a local one (``run.json``, ``config.yaml``, ``stdout.log``,
``stderr.log``) plus ``job.sbatch`` and, once the job script ends, ``slurm-exit.json``.
``run.json`` has ``"backend": "slurm"`` and ``"job_id"``. No medtui process watches the job:
whoever reads the run asks Slurm (``scontrol show job``; ``sacct`` when Slurm has forgotten the
job and accounting is on; then the run's own ``slurm-exit.json``) and writes the final state
into ``run.json`` the first time it sees it, so it survives Slurm forgetting the job.
"""

from __future__ import annotations

import shutil
import time
from typing import Any, Callable

from medtui.core.atomic import atomic_write_text
from medtui.core.errors import MedtuiError
from medtui.core.runs import slurm_status
from medtui.core.runs.records import Run, load_run, write_record
from medtui.core.runs.states import ACTIVE, request_stop
from medtui.core.slurm import commands
from medtui.core.slurm.script import SCRIPT_NAME, SlurmOptions, render

NAME = "slurm"


def submit(plan, ws, options: SlurmOptions, *, kind: str = "train", pipeline: str | None = None,
           extra: dict[str, Any] | None = None) -> Run:
    """Write the run folder and ``job.sbatch``, submit it, and record the job. A refusal removes the
    new run folder and raises SlurmError with Slurm's reason."""
    ws.ensure_layout()
    fresh_dir = not plan.run_dir.exists()
    plan.write_files()
    script = plan.run_dir / SCRIPT_NAME
    atomic_write_text(script, render(plan, options))
    script.chmod(0o755)
    try:
        job_id = commands.submit(script, cwd=plan.cwd)
    except MedtuiError:
        if fresh_dir:
            shutil.rmtree(plan.run_dir, ignore_errors=True)
        raise
    from medtui.core.runs.runner import package_versions

    now = time.time()
    record = {
        "id": plan.run_id,
        "stage": plan.stage,
        "kind": kind,
        "status": "pending",
        "backend": NAME,
        "job_id": job_id,
        "slurm": {"script": SCRIPT_NAME, "options": options.to_json()},
        "argv": plan.argv,
        "env": plan.env,
        "cwd": str(plan.cwd),
        "yaml": str(plan.yaml_path),
        "output_dir": str(plan.output_dir),
        "workspace": str(ws.root),
        "pipeline": pipeline,
        "config": plan.yaml_config,
        "started": now,
        "submitted": now,
        "ended": None,
        "exit_code": None,
        "pid": None,
        "versions": package_versions(),
        "launch": plan.extras,  # launch_on and slurm_* too, so a resume goes back to Slurm
        **(extra or {}),
    }
    write_record(plan.run_dir, record)
    return load_run(plan.run_dir)


def _wait_job_end(job_id: str, timeout: float, poll: float = 0.5) -> bool:
    """Wait until Slurm reports the job ended (or forgot it); True if it did within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        info = slurm_status.job(job_id, fresh=True)
        if info is None or info.state not in slurm_status.ACTIVE_STATES:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def stop(run: Run, *, kill: bool = False, grace: float | None = None, term_grace: float = 60.0,
         on_phase: Callable[[str], None] | None = None) -> Run:
    """Graceful: SIGABRT to every process of the job's steps (the trainer saves and stops), then
    ``scancel`` after ``grace`` seconds. ``kill`` (or a job still pending) is ``scancel`` at once."""
    say = on_phase or (lambda _msg: None)
    status = slurm_status.status(run.run_dir, run.record, fresh=True).status
    if status not in ACTIVE:
        raise MedtuiError(f"run {run.id} is not running (status: {status})")
    job_id = str(run.record["job_id"])
    if grace is None:
        grace = float((run.record.get("slurm") or {}).get("options", {}).get("grace", 120.0))
    request_stop(run.run_dir, "kill" if kill else "graceful")
    if kill or status == "pending":
        say(f"scancel {job_id}" + (" (the job had not started)" if status == "pending" else ""))
        commands.cancel(job_id)
        _wait_job_end(job_id, term_grace)
    else:
        say(f"scancel --signal=ABRT {job_id}: the trainer saves and stops after the current step "
            f"(waiting up to {grace:.0f}s)")
        commands.cancel(job_id, signal="ABRT")
        if not _wait_job_end(job_id, grace):
            say(f"still running after {grace:.0f}s: scancel {job_id}")
            commands.cancel(job_id)
            _wait_job_end(job_id, term_grace)
    slurm_status.status(run.run_dir, load_run(run.run_dir).record, fresh=True)
    return load_run(run.run_dir)
