"""Training speed under medtui against a direct ``llamafactory-cli train`` of the same YAML.

Usage: ``python bench/bench_train_overhead.py [--rounds 3] [--steps 150] [--variants direct,monitor]``

It builds a scratch demo workspace and a random Qwen2-shaped model big enough that one step
takes well over 50 ms on this CPU (``--hidden``/``--layers``), writes one user YAML, and runs it
in alternating rounds, one run per variant per round:

* ``direct``      ``llamafactory-cli train user.yaml`` (the anchor), output to files;
* ``direct-plan`` the YAML medtui generates from it (medtui's defaults added), run directly;
* ``medtui``      ``medtui train user.yaml --detach`` (supervisor, environment, log files);
* ``monitor``     the same with medtui's Monitor screen open on the run in a pseudo-terminal, as the
  app opens it (light refresh while a run trains on a machine without a GPU);
* ``monitor-normal`` / ``monitor-light`` the same with normal (1 s) or light refresh forced (key ``l``).

Each run is timed between its first and last ``trainer_log.jsonl`` records (model loading,
preprocessing and saving excluded): wall-clock steps/s, and the trainer process's CPU seconds
per step (user + system, all threads), which other people's jobs on a shared machine disturb far
less than wall time. It prints each run, the median per variant, each variant's ratio to
``direct`` within a round (median and spread), the Monitor's CPU use and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUILD_MODEL = r"""
import json, sys, torch
from pathlib import Path
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM
src, dst, hidden, layers = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tok = AutoTokenizer.from_pretrained(src)
tok.save_pretrained(dst)
torch.manual_seed(0)
cfg = Qwen2Config(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 3, num_hidden_layers=layers,
                  num_attention_heads=max(1, hidden // 64), num_key_value_heads=max(1, hidden // 128),
                  max_position_embeddings=1024, tie_word_embeddings=True, bos_token_id=tok.eos_token_id,
                  eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, torch_dtype="float32")
model = Qwen2ForCausalLM(cfg)
model.save_pretrained(dst, safe_serialization=True)
print(json.dumps({"parameters": sum(p.numel() for p in model.parameters())}))
"""

VARIANTS = ("direct", "direct-plan", "medtui", "monitor", "monitor-normal", "monitor-light")


def user_yaml(model: str, data_dir: str, steps: int, cutoff: int, batch: int) -> dict:
    """What a user would write: the essentials, no medtui defaults."""
    return {"stage": "sft", "do_train": True, "finetuning_type": "lora", "model_name_or_path": model,
            "dataset": "demo_sft_train_data", "dataset_dir": data_dir, "template": "default", "cutoff_len": cutoff,
            "per_device_train_batch_size": batch, "gradient_accumulation_steps": 1, "max_steps": steps,
            "logging_steps": 5, "save_steps": 100000, "learning_rate": 1e-4, "preprocessing_num_workers": 1,
            "report_to": "none", "overwrite_output_dir": True}


def plain_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMABOARD_", "PYTHONUNBUFFERED"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def watch_trainer(pid: int, trainer_log: Path, first_step: int, app=None) -> dict:
    """Poll a trainer until it exits: CPU seconds and wall seconds between the first record at or after
    ``first_step`` and the last record; the Monitor's CPU over the same span when ``app`` is given."""
    import psutil

    proc = psutil.Process(pid)
    start = end = None
    seen = 0
    while True:
        try:
            alive = proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
            cpu = proc.cpu_times()
            cpu_s = cpu.user + cpu.system + cpu.children_user + cpu.children_system
        except psutil.Error:
            alive = False
        step = _last_step(trainer_log)
        if alive and step is not None and step > seen:
            seen = step
            app_cpu = _cpu(app)
            mark = (step, cpu_s, time.monotonic(), app_cpu)
            if start is None and step >= first_step:
                start = mark
            elif start is not None:
                end = mark
        if not alive:
            break
        time.sleep(0.05)
    if start is None or end is None or end[0] <= start[0]:
        return {}
    steps = end[0] - start[0]
    out = {"steps": steps, "wall_per_step": (end[2] - start[2]) / steps, "cpu_per_step": (end[1] - start[1]) / steps}
    if app is not None and start[3] is not None and end[3] is not None:
        out["monitor_cpu_percent"] = 100.0 * (end[3] - start[3]) / (end[2] - start[2])
    return out


def _cpu(proc) -> float | None:
    if proc is None:
        return None
    try:
        c = proc.cpu_times()
        return c.user + c.system
    except Exception:
        return None


def _last_step(trainer_log: Path) -> int | None:
    try:
        with open(trainer_log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            lines = fh.read().splitlines()
        for line in reversed(lines):
            try:
                return int(json.loads(line)["current_steps"])
            except (ValueError, KeyError):
                continue
    except OSError:
        return None
    return None


def run_direct(yaml_path: Path, out: Path, log_dir: Path, first_step: int) -> dict:
    from medtui.core.stages.builder import llamafactory_cli

    with open(log_dir / "stdout.log", "wb") as so, open(log_dir / "stderr.log", "wb") as se:
        proc = subprocess.Popen([llamafactory_cli(), "train", str(yaml_path)], cwd=str(out.parent.parent),
                                stdout=so, stderr=se, stdin=subprocess.DEVNULL, env=plain_env())
        measured = watch_trainer(proc.pid, out / "trainer_log.jsonl", first_step)
        proc.wait()
    if not measured:
        print(f"direct run failed: {(log_dir / 'stderr.log').read_text()[-1500:]}", file=sys.stderr)
    return measured


def run_medtui(yaml_path: Path, ws_root: Path, first_step: int, monitor: bool, size: tuple[int, int],
               refresh: str = "auto") -> dict:
    """Start under medtui (detached), optionally with the Monitor open, and watch its trainer."""
    import psutil

    from medtui.core.runs.records import list_runs, load_run

    before = {r.id for r in list_runs(ws_root / ".medtui" / "runs")}
    proc = subprocess.run([sys.executable, "-m", "medtui", "train", str(yaml_path), "--detach", "-w", str(ws_root)],
                          capture_output=True, text=True, env=plain_env())
    if proc.returncode != 0:
        raise SystemExit(f"medtui train failed: {proc.stderr[-2000:]}")
    run = next(r for r in list_runs(ws_root / ".medtui" / "runs") if r.id not in before)
    app = psutil.Process(spawn_monitor(ws_root, run.id, size, refresh)) if monitor else None
    deadline = time.monotonic() + 30
    while not load_run(run.run_dir).record.get("child_pid") and time.monotonic() < deadline:
        time.sleep(0.05)
    record = load_run(run.run_dir).record
    measured = watch_trainer(int(record["child_pid"]), Path(record["output_dir"]) / "trainer_log.jsonl",
                             first_step, app)
    while load_run(run.run_dir).is_running:
        time.sleep(0.2)
    if app is not None:
        app.terminate()
        try:
            app.wait(5)
        except psutil.Error:
            app.kill()
    return measured


def child(ws_root: str, run_id: str, refresh: str = "auto") -> None:
    """The real medtui app, showing the run's Monitor (as a user would), until terminated."""
    import medtui.tui.app as app_module
    from medtui.core.workspace import Workspace
    from medtui.tui.app import MedtuiApp

    class BenchApp(MedtuiApp):
        CSS_PATH = str(Path(app_module.__file__).with_name(MedtuiApp.CSS_PATH))  # relative to medtui, not here

        def on_ready(self) -> None:
            self.open_run(run_id)
            self.set_timer(1.0, self._refresh_mode)  # after the Monitor has mounted

        def _refresh_mode(self) -> None:
            screen = self.screen
            if refresh != "auto" and getattr(screen, "light", None) is not None and \
                    screen.light != (refresh == "light"):
                screen.action_light(quiet=True)

    BenchApp(workspace=Workspace.open(ws_root)).run()


def spawn_monitor(ws_root: Path, run_id: str, size: tuple[int, int], refresh: str = "auto") -> int:
    """Start the app on a pseudo-terminal of ``size`` (output drained); returns its pid."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    cols, rows = size
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor",
                   PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        os.execve(sys.executable, [sys.executable, __file__, "--child", str(ws_root), run_id,
                                   "--refresh", refresh], env)

    def drain() -> None:
        while True:
            try:
                if not os.read(fd, 65536):
                    return
            except OSError:
                return

    threading.Thread(target=drain, daemon=True).start()
    return pid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--logging-steps", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--cutoff", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--variants", default="direct,monitor", help=f"comma separated, from {','.join(VARIANTS)}")
    parser.add_argument("--size", default="120x40", help="Monitor terminal size")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--refresh", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, refresh=args.refresh)
        return 0
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if "direct" not in variants or any(v not in VARIANTS for v in variants):
        parser.error(f"--variants must include direct and name only {', '.join(VARIANTS)}")
    size = tuple(int(v) for v in args.size.split("x"))

    import yaml

    from medtui.core.demo import init_demo
    from medtui.core.stages.builder import build_plan

    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="medtui-overhead-") as tmp:
        ws = init_demo(Path(tmp) / "ws", say=lambda _m: None)
        model = ws.models_dir / "bench-model"
        built = subprocess.run([sys.executable, "-c", BUILD_MODEL, str(ws.models_dir / "workflow-demo-tiny-qwen2"),
                                str(model), str(args.hidden), str(args.layers)], capture_output=True, text=True)
        if built.returncode != 0:
            raise SystemExit(built.stderr[-2000:])
        params = json.loads(built.stdout.strip().splitlines()[-1])["parameters"]
        print(f"model: Qwen2 shape, hidden {args.hidden}, {args.layers} layers, {params / 1e6:.1f}M parameters; "
              f"batch {args.batch} x {args.cutoff} tokens, {args.steps} steps; variants {', '.join(variants)}")
        for rnd in range(args.rounds):
            order = variants if rnd % 2 == 0 else list(reversed(variants))  # alternate who goes first
            for variant in order:
                out = ws.saves_dir / f"{variant}-{rnd}"
                cfg = dict(user_yaml(str(model), str(ws.data_dir), args.steps, args.cutoff, args.batch), output_dir=str(out),
                           logging_steps=args.logging_steps)
                yaml_path = Path(tmp) / f"{variant}-{rnd}.yaml"
                log_dir = Path(tmp) / f"{variant}-{rnd}-logs"
                log_dir.mkdir()
                if variant == "direct-plan":
                    cfg = build_plan(cfg, ws).yaml_config
                yaml_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
                load0 = os.getloadavg()[0]
                first = 2 * cfg.get("logging_steps", 5)
                if variant in ("direct", "direct-plan"):
                    measured = run_direct(yaml_path, out, log_dir, first)
                else:
                    measured = run_medtui(yaml_path, ws.root, first, variant.startswith("monitor"), size,
                                          refresh=variant.partition("-")[2] or "auto")
                load1 = os.getloadavg()[0]
                sps = 1.0 / measured["wall_per_step"] if measured else None
                cps = measured.get("cpu_per_step") if measured else None
                cpu = measured.get("monitor_cpu_percent") if measured else None
                results.append({"round": rnd, "variant": variant, "steps_per_second": sps,
                                "cpu_seconds_per_step": cps, "monitor_cpu_percent": cpu,
                                "load_before": load0, "load_after": load1})
                extra = f", Monitor CPU {cpu:.1f}% of a core" if cpu is not None else ""
                shown = f"{sps:.3f} steps/s, {cps:.3f} CPU s/step" if sps else "FAILED"
                print(f"round {rnd} {variant:<13} {shown} (load {load0:.1f} → {load1:.1f}){extra}", flush=True)
    print()
    base = {r["round"]: r for r in results if r["variant"] == "direct" and r["steps_per_second"]}
    for variant in variants:
        rows = [r for r in results if r["variant"] == variant and r["steps_per_second"]]
        if not rows:
            continue
        line = (f"{variant:<13} median {statistics.median(r['steps_per_second'] for r in rows):.3f} steps/s, "
                f"{statistics.median(r['cpu_seconds_per_step'] for r in rows):.3f} CPU s/step")
        if variant != "direct":
            wall = [r["steps_per_second"] / base[r["round"]]["steps_per_second"] for r in rows if r["round"] in base]
            cpu = [base[r["round"]]["cpu_seconds_per_step"] / r["cpu_seconds_per_step"] for r in rows
                   if r["round"] in base]
            if wall:
                line += (f"; speed ratio to direct, wall: median {statistics.median(wall):.3f} "
                         f"[{min(wall):.3f}-{max(wall):.3f}], CPU: median {statistics.median(cpu):.3f} "
                         f"[{min(cpu):.3f}-{max(cpu):.3f}] over {len(wall)} round(s)")
        cpus = [r["monitor_cpu_percent"] for r in rows if r["monitor_cpu_percent"] is not None]
        if cpus:
            line += f"; Monitor {statistics.median(cpus):.2f}% of a core"
        print(line)
    loads = [r["load_before"] for r in results] + [r["load_after"] for r in results]
    print(f"load average (1 min) during the runs: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
