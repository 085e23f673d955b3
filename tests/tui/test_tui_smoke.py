"""The real terminal: medtui in tmux (start, navigate, quit), and the UI's import hygiene."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, copy_ws

TMUX = shutil.which("tmux") or ("/usr/bin/tmux" if Path("/usr/bin/tmux").exists() else None)
HEAVY = ("torch", "transformers", "llamafactory", "trl", "peft", "datasets")


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TMUX, "-L", socket, *args], capture_output=True, text=True, timeout=30)


def _wait_for_text(socket: str, session: str, *texts: str, timeout: float = 30.0) -> str:
    """The pane once it shows every one of ``texts`` (a frame can be captured half drawn)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux(socket, "capture-pane", "-p", "-t", session).stdout
        if all(text in screen for text in texts):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{texts!r} did not appear; the pane shows:\n{screen}")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed, so the real-terminal smoke test cannot run")
def test_medtui_in_tmux_starts_navigates_and_quits(demo_template, tmp_path):
    import psutil

    ws = copy_ws(demo_template, tmp_path / "my ws; 'quoted'")
    socket, session = f"medtui-smoke-{os.getpid()}", "smoke"
    env = {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color"}
    pid_file = tmp_path / "pid"
    # The pane runs medtui through a tiny Python launcher that records medtui's pid, then execs it.
    launcher = (f"import os,sys; open({str(pid_file)!r},'w').write(str(os.getpid())); "
                f"os.execv(sys.executable, [sys.executable, '-m', 'medtui', '--workspace', {str(ws.root)!r}])")
    command = [sys.executable, "-c", launcher]
    try:
        started = _tmux(socket, "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                        *[f"-e{k}={v}" for k, v in env.items()], "--", *command)
        assert started.returncode == 0, started.stderr
        screen = _wait_for_text(socket, session, "PT Pre-Training", "Export (merge LoRA)")
        assert "f5 Train" in screen
        pid = int(pid_file.read_text())
        proc = psutil.Process(pid)
        assert [c for c in proc.net_connections(kind="inet")] == []  # no network port, ever

        _tmux(socket, "send-keys", "-t", session, "F5")
        _wait_for_text(socket, session, "model_name_or_path", "Stage", "Method")
        _tmux(socket, "send-keys", "-t", session, "F1")
        _wait_for_text(socket, session, "PT Pre-Training")
        _tmux(socket, "send-keys", "-t", session, "C-q")
        proc.wait(timeout=15)
        assert not psutil.pid_exists(pid) or proc.status() == psutil.STATUS_ZOMBIE
    finally:
        _tmux(socket, "kill-server")
    assert json.loads((tmp_path / "config" / "medtui" / "config.json").read_text())["last_workspace"] == str(ws.root)


def test_the_ui_never_imports_heavy_libraries(demo_template, tmp_path):
    """Import the app and every screen, drive Home, Train, Preview and Load in a fresh interpreter."""
    ws = copy_ws(demo_template, tmp_path / "ws")
    script = f"""
import asyncio, importlib, json, pkgutil, sys
import medtui.tui
mods = ["medtui.tui.app"] + [m.name for m in pkgutil.walk_packages(medtui.tui.__path__, "medtui.tui.")]
for name in mods:
    importlib.import_module(name)
from medtui.core.workspace import Workspace
from medtui.tui.app import MedtuiApp
async def main():
    app = MedtuiApp(Workspace.open({str(ws.root)!r}), lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        app.screen.query_one("#node-sft").focus()
        await pilot.press("enter")
        for _ in range(200):
            await pilot.pause(0.05)
            if app.current_mode == "train" and app.screen.state.values.get("output_dir"):
                break
        await pilot.press("ctrl+g")
        await pilot.pause(0.5)
        await pilot.press("escape", "f9")
        await pilot.pause(0.5)
        await pilot.press("escape", "f2", "f3", "f4", "f6", "f7", "f8", "f1")
        await pilot.pause(0.5)
asyncio.run(main())
print(json.dumps({{"mods": mods, "heavy": sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})}}))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "medtui.tui.screens.home" in result["mods"] and "medtui.tui.screens.train.screen" in result["mods"]
    assert result["heavy"] == []
