"""Helpers shared by the TUI tests: wait_until, type_into, fake run folders, a fixed gauge sampler, tmux.

Fake runs (synthetic trainer_log.jsonl, run.json and logs with fixed timestamps) are only for
tests of how runs are *shown* (snapshots, table contents, incremental reading); tests that claim
a run works start real llamafactory runs instead.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

from medtui.core.env.gpu import GpuInfo, GpuSnapshot
from medtui.core.env.sysstats import GIB, DiskInfo, SysStats
from medtui.core.runs.records import write_record
from medtui.core.workspace import Workspace

T0 = 1_790_000_000.0  # a fixed "now" for clocks injected into screens


async def wait_until(pilot, predicate, timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``predicate`` with ``pilot.pause`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await pilot.pause(0.05)
    await pilot.pause()


async def type_into(pilot, widget, text: str) -> None:
    """Replace an Input's text by typing, as a user would."""
    widget.focus()
    await pilot.pause()
    await pilot.press("end", "ctrl+u")
    if text:
        await pilot.press(*list(text))
    await asyncio.sleep(0)
    await pilot.pause()


NO_GPU = GpuSnapshot(reason="no GPU / NVML not available (NVML Shared Library Not Found)")
TWO_GPUS = GpuSnapshot(gpus=[
    GpuInfo(0, "NVIDIA H100 80GB HBM3", "GPU-0000", 80 * GIB, 60 * GIB, 87, 71, 350.0, 700.0, (9, 0)),
    GpuInfo(1, "NVIDIA H100 80GB HBM3", "GPU-1111", 80 * GIB, 2 * GIB, 3, 35, None, None, (9, 0)),
])


class FixedSampler:
    """Stands in for core.sysstats.Sampler in display snapshots only: always the same values."""

    def __init__(self, ws: Workspace, gpu: GpuSnapshot = NO_GPU, free_gb: float = 120.0):
        self.stats = SysStats(cpu_percent=37.5, cpu_count=2, ram_used=6 * GIB, ram_total=24 * GIB,
                              ram_percent=25.0,
                              disk=DiskInfo(ws.saves_dir, ws.saves_dir, int(free_gb * GIB), 500 * GIB, 10 * GIB),
                              gpu=gpu)

    def sample(self) -> SysStats:
        return self.stats


def trainer_lines(steps: int, total: int, *, stage: str = "sft", eval_every: int = 0, seconds_per_step: float = 2.0,
                  loss0: float = 2.5) -> list[dict]:
    lines = []
    for step in range(1, steps + 1):
        rec = {
            "current_steps": step,
            "total_steps": total,
            "loss": round(loss0 * math.exp(-step / 40) + 0.3 + 0.05 * math.sin(step), 4),
            "lr": round(1e-3 * 0.5 * (1 + math.cos(math.pi * step / total)), 8),
            "epoch": round(step / 25, 2),
            "percentage": round(100 * step / total, 2),
            "elapsed_time": _hms(step * seconds_per_step),
            "remaining_time": _hms((total - step) * seconds_per_step),
            "throughput": 512.0,
            "total_tokens": 256 * step,
        }
        if stage == "dpo":
            rec["accuracy"] = round(min(1.0, 0.4 + step / 100), 3)
        if stage == "ppo":
            rec["reward"] = round(math.log1p(step) / 3, 4)
        lines.append(rec)
        if eval_every and step % eval_every == 0:
            lines.append({"current_steps": step, "total_steps": total,
                          "eval_loss": round(loss0 * math.exp(-step / 45) + 0.4, 4),
                          "percentage": round(100 * step / total, 2), "elapsed_time": _hms(step * seconds_per_step),
                          "remaining_time": _hms((total - step) * seconds_per_step)})
    return lines


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def make_run(ws: Workspace, run_id: str, *, stage: str = "sft", status: str = "succeeded", steps: int = 60,
             total: int = 100, started: float = T0 - 3600, duration: float = 600.0, eval_every: int = 0,
             output: str | None = None, log_lines: int = 12, error: str | None = None) -> Path:
    """A run folder as the supervisor leaves it. ``status='running'`` ties it to this test process."""
    ws.ensure_layout()
    run_dir = ws.runs_dir / run_id
    run_dir.mkdir(parents=True)
    output_dir = ws.saves_dir / (output or f"demo/{stage}-{run_id[-4:]}")
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "id": run_id, "stage": stage, "kind": "train", "status": status,
        "argv": ["llamafactory-cli", "train", str(run_dir / "config.yaml")], "env": {},
        "cwd": str(ws.root), "output_dir": str(output_dir), "workspace": str(ws.root),
        "started": started, "ended": None if status == "running" else started + duration,
        "exit_code": None if status == "running" else (0 if status == "succeeded" else 1),
        "pid": None, "versions": {},
    }
    if status == "running":
        me = psutil.Process()
        record.update(pid=os.getpid(), pid_create_time=me.create_time())
    if error:
        record["error"] = error
    write_record(run_dir, record)
    with open(output_dir / "trainer_log.jsonl", "w") as fh:
        for rec in trainer_lines(steps, total, stage=stage, eval_every=eval_every):
            fh.write(json.dumps(rec) + "\n")
    (run_dir / "stdout.log").write_text("".join(f"[INFO] step {i}: training\n" for i in range(1, log_lines + 1)))
    (run_dir / "stderr.log").write_text("")
    return run_dir


TMUX = shutil.which("tmux")


class Terminal:
    """medtui in a detached tmux pane (its own server socket), at 80x24."""

    def __init__(self, ws_root: Path, tmp: Path, env: dict[str, str] | None = None) -> None:
        self.socket = f"medtui-shell-{os.getpid()}-{time.monotonic_ns()}"
        full_env = {"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "XDG_CONFIG_HOME": str(tmp / "config"), "TERM": "xterm-256color",
                    **(env or {})}
        command = [sys.executable, "-m", "medtui", "--workspace", str(ws_root)]
        self._tmux("new-session", "-d", "-s", "t", "-x", "80", "-y", "24", "-c", str(tmp),
                   *[f"-e{k}={v}" for k, v in full_env.items()], "--", *command)

    def _tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=30)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t").stdout

    def alive(self) -> bool:
        return self._tmux("has-session", "-t", "t").returncode == 0

    def keys(self, *keys: str, pause: float = 0.4) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", "t", key)
            time.sleep(pause)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", text)
        time.sleep(0.3)

    def wait_for(self, *texts: str, timeout: float = 40.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{texts!r} did not appear; the pane shows:\n{screen}")

    def close(self) -> None:
        self._tmux("kill-server")


def real_app(ws: Workspace, tmp_path: Path, start: str = "home", *, lang: str = "en", screens: dict | None = None):
    """The real MedtuiApp on ``ws``, opened on ``start``; ``screens`` injects clocks and fakes by screen name."""
    from medtui.tui.app import MedtuiApp

    return MedtuiApp(ws, lang=lang, settings_path=tmp_path / "config" / "medtui" / "config.json", start=start,
                     screens=screens)
