"""TUI start-up benchmark: cold start to first rendered frame, RSS and idle CPU, in a real terminal.

medtui runs in a detached tmux pane (80x24) on a demo workspace: the clock starts when Enter reaches
the pane's waiting shell, which then execs the interpreter, and stops when the pane first shows
Home's lifecycle. Each run is a fresh interpreter (cold for Python; the OS file cache is warm,
as it is for any second start). Anchors measured in the same run, interleaved with medtui's runs:
``python -c pass`` (the interpreter's own start), a bare Textual app (a Static and a Footer) to its
first frame in the same kind of pane, the imports ``medtui.tui.app`` against ``textual.app`` plus
the widgets medtui uses, and ``llamafactory-cli webui`` first answering HTTP 200 when it can start
within the time limit (``--no-webui`` skips it).

    PYTHONPATH=. python bench/bench_startup.py [--runs 5] [--workspace DIR] [--no-webui]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
MARKER = "PT Pre-Training"
NOTES_ANCHOR = (20.1, 975.0)  # docs notes: webui first HTTP 200 after 20.1 s, RSS about 975 MB


def tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 1e6


BARE_APP = """
from textual.app import App
from textual.widgets import Footer, Static
class Bare(App):
    def compose(self):
        yield Static("BARE TEXTUAL READY")
        yield Footer()
Bare().run()
"""
BARE_MARKER = "BARE TEXTUAL READY"
TEXTUAL_IMPORTS = "import textual.app, textual.widgets, textual.containers, textual.screen"


def seconds_of(argv: list[str]) -> float:
    """Wall time of a fresh interpreter running ``argv`` to its exit."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return time.perf_counter() - start


def tui_once(ws: Path | None, tmux: str, idle_seconds: float) -> dict[str, float]:
    """medtui on ``ws`` (or, with ``ws=None``, the bare Textual app) to its first frame in tmux.

    The pane is open first, with a shell waiting for Enter that then ``exec``s the interpreter, so
    the clock covers what a user typing ``medtui`` waits for: one interpreter's start to the first
    frame (not the tmux server's start, nor a launcher's)."""
    sock, session = f"medtui-bench-{os.getpid()}", "bench"
    config = Path(tempfile.mkdtemp())
    argv = ([sys.executable, "-m", "medtui", "--workspace", str(ws)] if ws is not None
            else [sys.executable, "-c", BARE_APP])
    marker = MARKER if ws is not None else BARE_MARKER
    env_args = [f"-ePYTHONPATH={ROOT}", f"-eXDG_CONFIG_HOME={config}", "-eTERM=xterm-256color"]
    opened = subprocess.run([tmux, "-L", sock, "new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", session,
                             "-x", "80", "-y", "24", *env_args, "--", "sh", "-c", 'read _ && exec "$0" "$@"', *argv],
                            check=True, capture_output=True, text=True)
    pid = int(opened.stdout.strip())
    time.sleep(0.3)  # the pane and its shell are up
    try:
        start = time.perf_counter()
        subprocess.run([tmux, "-L", sock, "send-keys", "-t", session, "Enter"], check=True)
        deadline = start + 30
        while True:
            screen = subprocess.run([tmux, "-L", sock, "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            if marker in screen:
                first_frame = time.perf_counter() - start
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{marker!r} did not appear within 30 s:\n{screen}")
            time.sleep(0.01)
        proc = psutil.Process(pid)
        rss_first = proc.memory_info().rss / 1e6
        cpu_before = sum(proc.cpu_times()[:2])
        time.sleep(idle_seconds)
        idle_cpu = (sum(proc.cpu_times()[:2]) - cpu_before) / idle_seconds * 100 if idle_seconds else 0.0
        rss_idle = proc.memory_info().rss / 1e6
        subprocess.run([tmux, "-L", sock, "send-keys", "-t", session, "C-q"])
        proc.wait(timeout=15)
    finally:
        subprocess.run([tmux, "-L", sock, "kill-server"], capture_output=True)
        shutil.rmtree(config, ignore_errors=True)
    return {"first_frame_s": first_frame, "rss_mb": rss_first, "rss_idle_mb": rss_idle, "idle_cpu_pct": idle_cpu}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webui_once(limit: float) -> dict[str, float] | None:
    cli = shutil.which("llamafactory-cli") or str(Path(sys.executable).with_name("llamafactory-cli"))
    if not Path(cli).exists() and not shutil.which(cli):
        return None
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    with tempfile.TemporaryDirectory() as cwd:
        start = time.perf_counter()
        proc = subprocess.Popen([cli, "webui"], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            while time.perf_counter() - start < limit:
                if proc.poll() is not None:
                    return None
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                        if resp.status == 200:
                            took = time.perf_counter() - start
                            return {"first_200_s": took, "rss_mb": tree_rss_mb(psutil.Process(proc.pid))}
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    pass
                time.sleep(0.25)
            return None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workspace", help="demo workspace to open (default: a fresh one in a temp folder)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measurement on Home")
    parser.add_argument("--no-webui", action="store_true", help="skip the llamafactory-cli webui anchor")
    parser.add_argument("--webui-limit", type=float, default=60.0)
    args = parser.parse_args()
    tmux = shutil.which("tmux")
    if tmux is None:
        print("tmux is not installed; this benchmark needs a real terminal pane", file=sys.stderr)
        return 2
    tmp = None
    if args.workspace:
        ws = Path(args.workspace).resolve()
    else:
        from medtui.core.demo import init_demo

        tmp = tempfile.mkdtemp(prefix="medtui-bench-")
        ws = init_demo(Path(tmp) / "ws").root
    results, bare, python_pass, medtui_import, textual_import = [], [], [], [], []
    try:
        for _ in range(args.runs):  # interleaved, so a change in the machine's load hits both alike
            python_pass.append(seconds_of([sys.executable, "-c", "pass"]))
            textual_import.append(seconds_of([sys.executable, "-c", TEXTUAL_IMPORTS]))
            medtui_import.append(seconds_of([sys.executable, "-c", "import medtui.tui.app"]))
            bare.append(tui_once(None, tmux, 0.0)["first_frame_s"])
            results.append(tui_once(ws, tmux, args.idle))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    med = statistics.median
    first = [r["first_frame_s"] for r in results]
    rss = [r["rss_mb"] for r in results]
    idle = [r["idle_cpu_pct"] for r in results]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}")
    print(f"medtui first frame (tmux 80x24, {args.runs} runs): median {statistics.median(first):.2f} s "
          f"(min {min(first):.2f}, max {max(first):.2f})")
    print(f"medtui RSS at first frame: median {statistics.median(rss):.0f} MB; "
          f"after {args.idle:g} s idle {statistics.median(r['rss_idle_mb'] for r in results):.0f} MB")
    print(f"medtui idle CPU on Home: median {statistics.median(idle):.1f}% of a core")
    print(f"anchor python -c pass: median {med(python_pass):.3f} s; "
          f"medtui first frame = {med(first) / med(python_pass):.1f}x that")
    print(f"anchor bare Textual app first frame (tmux 80x24): median {med(bare):.2f} s; "
          f"medtui first frame = {med(first) / med(bare):.2f}x that")
    print(f"import medtui.tui.app: median {med(medtui_import):.3f} s; {TEXTUAL_IMPORTS}: "
          f"median {med(textual_import):.3f} s (ratio {med(medtui_import) / med(textual_import):.2f}x; "
          f"both include the interpreter's start)")
    webui = None if args.no_webui else webui_once(args.webui_limit)
    if webui:
        anchor_s, anchor_mb, label = webui["first_200_s"], webui["rss_mb"], "measured in this run"
    else:
        anchor_s, anchor_mb = NOTES_ANCHOR
        label = "from the notes (not measured in this run" + (": skipped)" if args.no_webui else ": did not serve in time)")
    print(f"llamafactory-cli webui first HTTP 200: {anchor_s:.1f} s, RSS {anchor_mb:.0f} MB ({label})")
    print(f"ratio start-up: webui/medtui = {anchor_s / statistics.median(first):.0f}x; "
          f"RSS: webui/medtui = {anchor_mb / statistics.median(rss):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
