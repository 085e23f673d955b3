"""Running the demo pipeline the way a user on SSH would: ``medtui pipeline demo --detach``, the
starting process SIGKILLed (the session drops) and a TUI opened and quit in a real terminal (tmux at
80x24) while the chain runs. The ``trained_ws`` fixture builds its workspace this way, and
tests/e2e/test_pipeline_detached_e2e.py checks what :data:`FACTS` recorded, so the slow demo
pipeline runs once per session for both."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import terminal_sigint

ROOT = Path(__file__).resolve().parents[1]
TMUX = shutil.which("tmux")
#: What happened while the trained workspace was made (filled by :func:`run_detached_demo`).
FACTS: dict = {}


def wait_until(predicate, timeout=300.0, every=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "medtui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), preexec_fn=terminal_sigint)


def alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def open_and_quit_the_tui(ws, tmp_path: Path, expect: str = "PT Pre-Training") -> str:
    """medtui in a real terminal (tmux at 80x24): wait for Home, quit with ctrl+q; the screen it showed."""
    socket, session = f"medtui-e2e-{os.getpid()}", "e2e"
    env = {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color"}
    pid_file = tmp_path / "tui.pid"
    launcher = (f"import os,sys; open({str(pid_file)!r},'w').write(str(os.getpid())); "
                f"os.execv(sys.executable, [sys.executable, '-m', 'medtui', '--workspace', {str(ws.root)!r}])")

    def tmux(*args):
        return subprocess.run([TMUX, "-L", socket, *args], capture_output=True, text=True, timeout=30)

    try:
        assert tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                    *[f"-e{k}={v}" for k, v in env.items()], "--", sys.executable, "-c", launcher).returncode == 0
        screen = wait_until(lambda: (lambda out: out if expect in out else None)(
            tmux("capture-pane", "-p", "-t", session).stdout), timeout=60, every=0.3)
        tmux("send-keys", "-t", session, "C-q")
        pid = int(pid_file.read_text())
        wait_until(lambda: not alive(pid), timeout=30, every=0.2)
        return screen
    finally:
        tmux("kill-server")


def run_detached_demo(ws, tmp_path: Path, timeout: float = 1800) -> dict:
    """Start the demo pipeline detached, kill its starter, open and quit a TUI (when tmux exists),
    wait for the chain to end; what was seen goes to :data:`FACTS` (and is returned)."""
    from medtui.core.runs.records import list_runs, load_run

    def chain():
        return next((r for r in list_runs(ws.runs_dir) if r.kind == "pipeline"), None)

    starter = popen("pipeline", "demo", "--detach", "--workspace", str(ws.root))
    # the starter returns once the chain's supervisor has written its pid (a few tenths of a second
    # after the record appears): look often, so the kill lands while it is still starting the chain
    pipe = wait_until(chain, timeout=120, every=0.01)
    starter.send_signal(signal.SIGKILL)  # the SSH session drops while medtui is starting the chain
    starter.wait()
    FACTS.update(pipeline_id=pipe.id, starter_killed=starter.returncode == -signal.SIGKILL,
                 running_after_starter_died=load_run(pipe.run_dir).is_running, tui_screen=None)
    if TMUX is not None:
        FACTS["tui_screen"] = open_and_quit_the_tui(ws, tmp_path)
        FACTS["running_after_tui_quit"] = load_run(pipe.run_dir).is_running  # quitting cancels nothing
    final = wait_until(lambda: (lambda r: r if not r.is_running else None)(load_run(pipe.run_dir)),
                       timeout=timeout, every=2.0)
    FACTS.update(status=final.status, reason=final.reason())
    return FACTS
