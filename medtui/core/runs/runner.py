"""Start, stop and wait for runs. Runs live in their own session, so they outlive medtui.

``start`` writes the run folder, takes the output folder's machine-wide lock and spawns
:mod:`medtui.core.runs.supervisor` with ``start_new_session=True``. The supervisor is the leader of
the run's process group; it starts ``llamafactory-cli`` and records how it ended. ``stop`` is
graceful first (SIGABRT makes llamafactory save and stop after the current step), then
SIGTERM, then SIGKILL of the whole group.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
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
from medtui.core.runs.records import FINAL, Run, load_run, write_record
from medtui.core.runs.states import request_stop, saved_note
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


def lock_dir() -> Path:
    """Where output-folder locks live: one folder per machine, shared by every user and workspace.

    ``$MEDTUI_LOCK_DIR`` if set, else ``/run/lock/medtui`` (never aged out, unlike /tmp), else
    ``/tmp/medtui-locks``. The choice depends only on the machine, so every medtui agrees on it.
    """
    override = os.environ.get("MEDTUI_LOCK_DIR")
    if override:
        return Path(override)
    return Path("/run/lock/medtui") if Path("/run/lock").is_dir() else Path("/tmp/medtui-locks")


def _lock_path(output_dir: Path) -> Path:
    """The lock of an output folder, keyed by its real path: two workspaces naming one folder share it."""
    digest = hashlib.sha1(os.path.realpath(output_dir).encode()).hexdigest()[:20]
    return lock_dir() / f"{digest}.lock"


def _open_lock(path: Path) -> int:
    folder = path.parent
    try:
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            try:
                os.chmod(folder, 0o1777)  # every user locks here; the sticky bit keeps their files theirs
            except OSError:
                pass
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:
            return os.open(path, os.O_RDONLY)  # another user's lock file: flock works read-only too
        try:
            os.fchmod(fd, 0o666)
        except OSError:
            pass
        return fd
    except OSError as exc:
        raise MedtuiError(f"cannot take the output folder lock in {folder}: {exc.strerror or exc} "
                          f"(set MEDTUI_LOCK_DIR to a writable folder)") from None


def acquire_output_lock(ws: Workspace, output_dir: Path, run_id: str) -> int:
    """Take the output folder's lock; the fd is inherited by the run, so it is held while it lives.

    The lock is machine-wide (see :func:`lock_dir`), so no two runs write one folder, whichever
    workspaces they come from.
    """
    fd = _open_lock(_lock_path(output_dir))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 400, 0).decode("utf-8", "replace").strip()
        os.close(fd)
        raise MedtuiError(f"another run ({holder or 'unknown'}) is already writing to {output_dir}; "
                          f"stop it first or choose another output_dir") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{run_id} in {ws.root}".encode(), 0)
    except OSError:
        pass  # a read-only descriptor still holds the lock; the holder's name is a courtesy
    return fd


def output_locked(ws: Workspace | None, output_dir: Path) -> bool:
    """True while some run (of any workspace) holds ``output_dir``'s lock."""
    path = _lock_path(output_dir)
    if not path.exists():
        return False
    fd = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def start(plan: RunPlan, ws: Workspace, *, kind: str = "train", pipeline: str | None = None,
          extra: dict | None = None) -> Run:
    """Start ``plan`` detached and return its run. Raises MedtuiError if the output is locked.

    ``extra`` adds fields to ``run.json`` (a pipeline stage's name and identity, a resume's
    ``resumed_from``, say)."""
    lock_fd = acquire_output_lock(ws, plan.output_dir, plan.run_id)
    try:
        try:
            ws.ensure_layout()
        except OSError as exc:
            raise MedtuiError(f"cannot start the run: {_os_reason(exc)} (nothing was started)") from None
        _write_run_folder(plan, ws, kind, pipeline, extra or {})
        proc = _spawn_supervisor(plan, lock_fd)
    finally:
        os.close(lock_fd)
    # Reap the supervisor if this process outlives it, so it never lingers as a zombie.
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{plan.run_id}").start()
    _wait_for_pid(plan.run_dir, timeout=10.0)
    return load_run(plan.run_dir)


def _os_reason(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def _write_run_folder(plan: RunPlan, ws: Workspace, kind: str, pipeline: str | None, extra: dict) -> None:
    """The run folder with config and record; on failure (a full disk, say) nothing is left behind."""
    created = not plan.run_dir.exists()
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
            **extra,
        }
        write_record(plan.run_dir, record)
    except BaseException as exc:  # a full disk, or Ctrl-C half-way: leave no half-made run behind
        if created:
            shutil.rmtree(plan.run_dir, ignore_errors=True)
        if isinstance(exc, OSError):
            raise MedtuiError(f"cannot start the run: {_os_reason(exc)} (nothing was started)") from None
        raise


def _spawn_supervisor(plan: RunPlan, lock_fd: int) -> subprocess.Popen:
    try:
        with open(plan.run_dir / "supervisor.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "medtui.core.runs.supervisor", str(plan.run_dir), str(lock_fd)],
                cwd=str(plan.cwd),
                env=child_env(),  # the supervisor imports this very copy of medtui
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                pass_fds=(lock_fd,),
                start_new_session=True,
                close_fds=True,
            )
    except OSError as exc:
        shutil.rmtree(plan.run_dir, ignore_errors=True)
        raise MedtuiError(f"cannot start the run: {_os_reason(exc)} (nothing was started)") from None


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
    workers that left the group, but not the supervisor: it records how the trainer ended
    (stopped with what was saved, or killed). Only if it cannot does this record it instead.
    """
    say = on_phase or (lambda _msg: None)
    if not run.is_running:
        raise MedtuiError(f"run {run.id} is not running (status: {run.status})")
    pgid = run.record.get("pid")
    if not pgid:
        raise MedtuiError(f"run {run.id} has no recorded process yet; try again in a moment")
    request_stop(run.run_dir, "kill" if kill else "graceful")
    procs = [p for p in run_processes(pgid) if p.pid != pgid]
    escalated = kill
    if kill:
        say("SIGKILL sent to every process of the run")
        _signal_all(procs, signal.SIGKILL)
        _wait_gone(procs, 10.0)
    else:
        say(f"SIGABRT sent: the trainer saves and stops after the current step (waiting up to {grace:.0f}s)")
        _signal_all(procs, signal.SIGABRT)
        if not _wait_gone(procs, grace):
            escalated = True
            say(f"still running after {grace:.0f}s: sending SIGTERM")
            procs = [p for p in run_processes(pgid) if p.pid != pgid] or procs
            _signal_all(procs, signal.SIGTERM)
            if not _wait_gone(procs, term_grace):
                say("still running: sending SIGKILL")
                _signal_all(procs, signal.SIGKILL)
                _wait_gone(procs, 10.0)
    fresh = _wait_recorded(run.run_dir, 5.0)  # the supervisor writes it within milliseconds of the end
    if fresh.record.get("status") not in FINAL:
        say("the supervisor did not record the end: recording it here")
        _signal_all(run_processes(pgid), signal.SIGKILL)
        if escalated:
            end = {"status": "killed", "error": "killed; nothing saved since the last checkpoint"}
        else:
            end = {"status": "stopped", "saved": saved_note(fresh.kind, fresh.output_dir, fresh.started)}
        write_record(run.run_dir, dict(fresh.record, ended=time.time(), **end))
        fresh = load_run(run.run_dir)
    return fresh


def _wait_recorded(run_dir: Path, timeout: float) -> Run:
    """The run once its supervisor has recorded a final state (or has gone), or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        fresh = load_run(run_dir)
        if fresh.record.get("status") in FINAL or not fresh.is_running or time.monotonic() >= deadline:
            return fresh
        time.sleep(0.05)


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
