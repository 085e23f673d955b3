"""Start, stop and wait for runs. Runs live in their own session, so they outlive medtui.

``start`` writes the run folder, takes the output folder's lock and spawns
:mod:`medtui.core.runs.supervisor` with ``start_new_session=True``. The supervisor is the leader of
the run's process group; it starts ``llamafactory-cli`` and records how it ended. ``stop`` is
graceful first (SIGABRT makes llamafactory save and stop after the current step), then
SIGTERM, then SIGKILL of the whole group.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

from medtui.core.env.child import child_env
from medtui.core.errors import MedtuiError
from medtui.core.runs.plan import RunPlan
from medtui.core.runs.records import FINAL, STOP_MARKER, Run, load_run, write_record
from medtui.core.workspace import Workspace

VERSIONED = ("llamafactory", "torch", "transformers", "trl", "peft")


def package_versions() -> dict[str, str | None]:
    """Installed versions, read from metadata (nothing is imported)."""
    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _lock_path(ws: Workspace, output_dir: Path) -> Path:
    digest = hashlib.sha1(str(output_dir.resolve()).encode()).hexdigest()[:16]
    return ws.state_dir / "locks" / f"{digest}.lock"


def acquire_output_lock(ws: Workspace, output_dir: Path, run_id: str) -> int:
    """Take the output folder's lock; the fd is inherited by the run, so it is held while it lives."""
    path = _lock_path(ws, output_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        os.close(fd)
        raise MedtuiError(f"another run ({holder or 'unknown'}) is already writing to {output_dir}; "
                          f"stop it first or choose another output_dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, run_id.encode(), 0)
    return fd


def output_locked(ws: Workspace, output_dir: Path) -> bool:
    path = _lock_path(ws, output_dir)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def start(plan: RunPlan, ws: Workspace, *, kind: str = "train", pipeline: str | None = None,
          extra: dict | None = None) -> Run:
    """Start ``plan`` detached and return its run. Raises MedtuiError if the output is locked."""
    ws.ensure_layout()
    lock_fd = acquire_output_lock(ws, plan.output_dir, plan.run_id)
    try:
        plan.write_files()
        record = {
            "id": plan.run_id,
            "stage": plan.stage,
            "kind": kind,
            "status": "running",
            "argv": plan.argv,
            "env": plan.env,
            "cwd": str(plan.cwd),
            "yaml": str(plan.yaml_path),
            "output_dir": str(plan.output_dir),
            "workspace": str(ws.root),
            "pipeline": pipeline,
            "config": plan.yaml_config,
            "started": time.time(),
            "ended": None,
            "exit_code": None,
            "pid": None,
            "versions": package_versions(),
            "launch": plan.extras,  # medtui launch settings (DeepSpeed, memory_check), for resume
            **(extra or {}),
        }
        write_record(plan.run_dir, record)
        proc = subprocess.Popen(
            [sys.executable, "-m", "medtui.core.runs.supervisor", str(plan.run_dir), str(lock_fd)],
            cwd=str(plan.cwd),
            env=child_env(),  # the supervisor imports this very copy of medtui
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(plan.run_dir / "supervisor.log", "ab"),
            pass_fds=(lock_fd,),
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(lock_fd)
    # Reap the supervisor if this process outlives it, so it never lingers as a zombie.
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{plan.run_id}").start()
    _wait_for_pid(plan.run_dir, timeout=10.0)
    return load_run(plan.run_dir)


def _wait_for_pid(run_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = load_run(run_dir)
        if run.record.get("pid") or run.record.get("status") in FINAL:
            return
        time.sleep(0.02)


def _group_members(pgid: int) -> list:
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.info["pid"]) == pgid:
                found.append(proc)
        except (ProcessLookupError, psutil.Error, PermissionError):
            continue
    return found


def run_processes(pgid: int) -> list:
    """Every live process of a run, deepest first: its process group plus all descendants of the group's
    members. torchrun starts its workers in sessions of their own, so the group alone misses them."""
    import psutil

    members = _group_members(pgid)
    seen = {p.pid: p for p in members}
    for proc in members:
        try:
            for child in proc.children(recursive=True):
                seen.setdefault(child.pid, child)
        except psutil.Error:
            continue

    def depth(p) -> int:
        try:
            return len(p.parents())
        except psutil.Error:
            return 0

    return sorted(seen.values(), key=depth, reverse=True)


def _signal_all(procs: list, sig: int, *, skip: int | None = None) -> None:
    import psutil

    for proc in procs:
        if proc.pid == skip:
            continue
        try:
            proc.send_signal(sig)
        except (psutil.Error, PermissionError):
            pass


def _wait_gone(procs: list, timeout: float) -> bool:
    """Wait until every process has exited. Polls instead of waiting, so it never reaps a child
    whose exit status belongs to someone else (the app that started the run, say)."""
    import psutil

    def alive(p) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in procs if alive(p)]
        if not left or time.monotonic() >= deadline:
            return not left
        time.sleep(0.1)


def stop(run: Run, *, kill: bool = False, grace: float = 120.0, term_grace: float = 10.0,
         on_phase=None) -> Run:
    """Stop a run: SIGABRT (save and stop) → SIGTERM → SIGKILL; ``kill`` goes straight to SIGKILL.

    Signals reach every process of the run (children first, as LlamaBoard does), including torchrun
    workers that left the group. The supervisor ignores them and records how the trainer ended.
    """
    say = on_phase or (lambda _msg: None)
    if not run.is_running:
        raise MedtuiError(f"run {run.id} is not running (status: {run.status})")
    (run.run_dir / STOP_MARKER).write_text(str(time.time()))
    pgid = run.record.get("pid")
    if not pgid:
        raise MedtuiError(f"run {run.id} has no recorded process yet; try again in a moment")
    procs = run_processes(pgid)
    if kill:
        say("SIGKILL sent to every process of the run")
        _signal_all(procs, signal.SIGKILL)
        _wait_gone(procs, 10.0)
    else:
        say(f"SIGABRT sent: the trainer saves and stops after the current step (waiting up to {grace:.0f}s)")
        _signal_all(procs, signal.SIGABRT, skip=pgid)
        if not _wait_gone(procs, grace):
            say(f"still running after {grace:.0f}s: sending SIGTERM")
            procs = run_processes(pgid) or procs
            _signal_all(procs, signal.SIGTERM)
            if not _wait_gone(procs, term_grace):
                say("still running: sending SIGKILL")
                _signal_all(procs, signal.SIGKILL)
                _wait_gone(procs, 10.0)
    fresh = load_run(run.run_dir)
    if fresh.record.get("status") not in FINAL:
        record = dict(fresh.record, status="stopped", ended=time.time())
        write_record(run.run_dir, record)
        fresh = load_run(run.run_dir)
    return fresh


def wait(run: Run, *, poll: float = 0.5, timeout: float | None = None) -> Run:
    """Block until the run is no longer running and return its final state."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        fresh = load_run(run.run_dir)
        if not fresh.is_running:
            return fresh
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"run {run.id} still running after {timeout}s")
        time.sleep(poll)
