"""Idle cost of the Monitor screen while a run's trainer_log keeps growing.

Usage: ``python bench/bench_monitor_idle.py [--seconds 20] [--lines 5000] [--size 120x40]``

It builds a scratch workspace with one run whose ``trainer_log.jsonl`` starts with ``--lines``
records and a writer process that appends one record (and two stdout lines) per second, as a
trainer with ``logging_steps`` of about a second does. The medtui Monitor screen runs in a child
process on a real pseudo-terminal (Textual's Linux driver, output drained), and the child's CPU
time is measured with psutil over ``--seconds`` after a warm-up. Targets: <= 3 % of one core,
RSS <= 150 MB (LlamaBoard's web UI holds about 1 GB).

Anchor measured in the same run: the cost of one poll of the trainer_log, LlamaBoard-style
(re-read and parse the whole file, as its monitor does every 2 s) against medtui's incremental
poll (``RunWatch.poll``: a few stat calls, then only the appended bytes).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUN_ID = "20261127-120000-sft-bench"

WRITER = r"""
import json, sys, time
log, out, step, total = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
while True:
    step += 1
    rec = {"current_steps": step, "total_steps": total, "loss": 1.0 + 1.0 / step, "lr": 1e-4,
           "epoch": step / 100, "percentage": 100.0 * step / total, "elapsed_time": "0:10:00",
           "remaining_time": "1:00:00", "throughput": 500.0, "total_tokens": 256 * step}
    with open(log, "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    with open(out, "a") as fh:
        fh.write(f"[INFO] step {step}: loss {rec['loss']:.4f}\n[INFO] tokens {rec['total_tokens']}\n")
    time.sleep(1.0)
"""


def make_workspace(root: Path, lines: int, total: int) -> tuple[Path, Path]:
    from medtui.core.runs.records import write_record
    from medtui.core.workspace import Workspace

    ws = Workspace.open(root)
    ws.ensure_layout()
    run_dir = ws.runs_dir / RUN_ID
    run_dir.mkdir()
    out_dir = ws.saves_dir / "bench" / "sft"
    out_dir.mkdir(parents=True)
    with open(out_dir / "trainer_log.jsonl", "w") as fh:
        for step in range(1, lines + 1):
            fh.write(json.dumps({"current_steps": step, "total_steps": total, "loss": 1.0 + 1.0 / step,
                                 "lr": 1e-4, "epoch": step / 100, "percentage": 100.0 * step / total,
                                 "elapsed_time": "0:10:00", "remaining_time": "1:00:00",
                                 "throughput": 500.0, "total_tokens": 256 * step}) + "\n")
    (run_dir / "stdout.log").write_text("".join(f"[INFO] step {i}\n" for i in range(1, 2001)))
    (run_dir / "stderr.log").write_text("")
    record = {"id": RUN_ID, "stage": "sft", "kind": "train", "status": "running", "argv": [], "env": {},
              "cwd": str(ws.root), "output_dir": str(out_dir), "workspace": str(ws.root),
              "started": time.time(), "ended": None, "exit_code": None, "pid": None}
    write_record(run_dir, record)
    return run_dir, out_dir / "trainer_log.jsonl"


def attach_writer(run_dir: Path, trainer_log: Path, start: int, total: int) -> subprocess.Popen:
    import psutil

    from medtui.core.runs.records import read_record, write_record

    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(trainer_log), str(run_dir / "stdout.log"),
                               str(start), str(total)], start_new_session=True)
    record = read_record(run_dir)
    record.update(pid=writer.pid, pid_create_time=psutil.Process(writer.pid).create_time())
    write_record(run_dir, record)  # the writer plays the run's process: status reads "running"
    return writer


def child(ws_root: str, screen_args: dict) -> None:
    """Run the Monitor screen in this (pseudo-terminal) process until ctrl+q."""
    from textual.app import App
    from textual.binding import Binding

    from medtui.core.workspace import Workspace
    from medtui.tui.screens.runs.monitor import MonitorScreen

    ws = Workspace.open(ws_root)

    class Host(App):
        BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="quit")]

        def on_mount(self) -> None:
            self.push_screen(MonitorScreen(ws, RUN_ID, **screen_args))

    Host().run()


def spawn_app(ws_root: Path, cols: int, rows: int, screen_args: dict) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:  # child: size the terminal, then become the app
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor",
                   PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        os.execve(sys.executable, [sys.executable, __file__, "--child", str(ws_root),
                                   "--screen-args", json.dumps(screen_args)], env)
    drained = [0]

    def drain() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            drained[0] += len(data)

    threading.Thread(target=drain, daemon=True).start()
    return pid, fd


def poll_costs(trainer_log: Path, run_dir: Path, repeat: int = 20) -> tuple[float, float, float]:
    """Seconds per poll that finds one new record: LlamaBoard-style full re-read and parse,
    medtui's JsonlTail, and a whole RunWatch.poll (run.json stat, process check, logs)."""
    from medtui.core.runs.follow import JsonlTail, RunWatch

    line = trainer_log.read_text().splitlines()[-1] + "\n"
    full = tail_cost = 0.0
    tail = JsonlTail(trainer_log)
    tail.read_new()
    for _ in range(repeat):
        with open(trainer_log, "a") as fh:
            fh.write(line)
        t = time.perf_counter()
        with open(trainer_log, encoding="utf-8") as fh:
            records = [json.loads(ln) for ln in fh if ln.strip()]
        full += time.perf_counter() - t
        t = time.perf_counter()
        new = tail.read_new()
        tail_cost += time.perf_counter() - t
        assert len(new) == 1 and records
    watch = RunWatch(run_dir)
    watch.poll()  # the first poll reads the history once
    t = time.perf_counter()
    for _ in range(repeat):
        watch.poll()
    return full / repeat, tail_cost / repeat, (time.perf_counter() - t) / repeat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--lines", type=int, default=5000, help="trainer_log records before the writer starts")
    parser.add_argument("--size", default="120x40")
    parser.add_argument("--poll", type=float, default=None, help="MonitorScreen poll_interval (default: its own)")
    parser.add_argument("--redraw", type=float, default=None, help="MonitorScreen redraw_interval")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--screen-args", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, json.loads(args.screen_args))
        return 0
    screen_args = {k: v for k, v in (("poll_interval", args.poll), ("redraw_interval", args.redraw)) if v}

    import psutil

    cols, rows = (int(v) for v in args.size.split("x"))
    total = args.lines + 100_000
    with tempfile.TemporaryDirectory(prefix="medtui-bench-") as tmp:
        run_dir, trainer_log = make_workspace(Path(tmp) / "ws", args.lines, total)
        writer = attach_writer(run_dir, trainer_log, args.lines, total)
        pid, fd = spawn_app(Path(tmp) / "ws", cols, rows, screen_args)
        try:
            app = psutil.Process(pid)
            time.sleep(args.warmup)
            if not app.is_running() or app.status() == psutil.STATUS_ZOMBIE:
                print("the app exited during warm-up", file=sys.stderr)
                return 1
            c0, t0 = app.cpu_times(), time.monotonic()
            lines0 = sum(1 for _ in open(trainer_log))
            time.sleep(args.seconds)
            c1, t1 = app.cpu_times(), time.monotonic()
            lines1 = sum(1 for _ in open(trainer_log))
            rss = app.memory_info().rss
            threads = app.num_threads()
        finally:
            try:
                os.write(fd, b"\x11")  # ctrl+q
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
                    time.sleep(0.1)
            except (OSError, ChildProcessError):
                pass
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (OSError, ChildProcessError):
                pass
            writer.kill()
            writer.wait()
        cpu = (c1.user + c1.system) - (c0.user + c0.system)
        share = 100.0 * cpu / (t1 - t0)
        full, tail, poll = poll_costs(trainer_log, run_dir)

    n = lines1
    print(f"Monitor idle cost: {cols}x{rows} pty, trainer_log {lines0}->{lines1} lines "
          f"(+{lines1 - lines0} in {t1 - t0:.1f} s), {threads} threads, screen {screen_args or 'defaults'}")
    print(f"  app CPU        {share:5.2f} % of one core   (target <= 3 %)   {'OK' if share <= 3 else 'OVER'}")
    print(f"  app RSS        {rss / 2**20:5.1f} MB             (target <= 150 MB; web UI ~1 GB: "
          f"{1024 / (rss / 2**20):.1f}x less)   {'OK' if rss <= 150 * 2**20 else 'OVER'}")
    print(f"  reading a {n}-line trainer_log that grew by one record: full re-read (LlamaBoard) "
          f"{full * 1e3:.2f} ms, incremental JsonlTail (medtui) {tail * 1e3:.3f} ms -> {full / tail:,.0f}x less")
    print(f"  a whole medtui poll (run.json stat, process check, trainer_log, stdout/stderr): {poll * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
