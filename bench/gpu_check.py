"""Proof on a GPU: real memory and speed of medtui runs against ``medtui estimate``, in one JSON report.

Usage: ``python bench/gpu_check.py [--out gpu_check.json] [--steps 30]`` on a machine with one
NVIDIA GPU (about 8 minutes), or ``python bench/gpu_check.py --cpu`` (a smoke run of the same
code path on a tiny model; the tests run it).

What it does, offline (no hub is reached):

1. writes a Qwen2-0.5B-shaped ``config.json`` locally and builds a randomly initialised model
   from it (the demo tokenizer; the vocabulary stays Qwen2's 151,936 so the logits are real size),
   plus a synthetic dataset whose examples fill ``cutoff_len``;
2. records what ``medtui doctor --json`` and the NVML gauges (``core/env/gpu.py``) show;
3. trains SFT with LoRA, full and QLoRA 4-bit (when bitsandbytes imports) in bf16 under medtui
   (``medtui train --detach``), with ``RECORD_VRAM=1`` so llamafactory logs torch's peak
   allocated/reserved memory, while it samples NVML's used memory; each run is set against its
   ``medtui estimate --json``;
4. runs the LoRA YAML once more directly with ``llamafactory-cli train`` and compares steps/s
   (``train_runtime``, model loading excluded).

The report (``--out``) has one entry per run: estimate (bytes and breakdown), measured peaks
(torch allocated and reserved, NVML used), their ratios, steps/s; plus the doctor's checks, NVML
samples, the overhead ratio, versions, timings and whether a GPU was used.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Qwen2-0.5B's published config.json fields that matter (written locally: no hub).
QWEN2_05B = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
             "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
             "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 32768,
             "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": True,
             "hidden_act": "silu", "torch_dtype": "bfloat16", "use_sliding_window": False}
#: The --cpu smoke shape: same family, tiny.
TINY = dict(QWEN2_05B, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=2048, torch_dtype="float32")

BUILD_MODEL = r"""
import json, sys, torch
from pathlib import Path
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM
tok_src, dst, cfg_path = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
fields = json.loads(cfg_path.read_text())
tok = AutoTokenizer.from_pretrained(tok_src)
tok.save_pretrained(dst)
fields.update(bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
fields.pop("architectures", None); fields.pop("model_type", None)
dtype = getattr(torch, fields.get("torch_dtype", "float32"))
torch.manual_seed(0)
model = Qwen2ForCausalLM(Qwen2Config(**fields)).to(dtype)
model.save_pretrained(dst, safe_serialization=True)
print(json.dumps({"parameters": sum(p.numel() for p in model.parameters())}))
"""

WORDS = ("patient fever cough dose tablet symptom clinic nurse doctor blood pressure heart rate lung "
         "kidney liver scan therapy pain relief infection vaccine allergy diet sleep exercise").split()


def medtui(*args: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **(env or {}))
    return subprocess.run([sys.executable, "-m", "medtui", *args], capture_output=True, text=True, timeout=timeout,
                          env=full)


def write_dataset(ws, records: int, words: int) -> str:
    """Alpaca records long enough that every example is cut at cutoff_len (so the peak is real)."""
    import random

    rng = random.Random(0)
    data = [{"instruction": "Summarise the note.", "input": "",
             "output": " ".join(rng.choice(WORDS) for _ in range(words))} for _ in range(records)]
    (ws.data_dir / "gpu_check.json").write_text(json.dumps(data))
    info_path = ws.data_dir / "dataset_info.json"
    info = json.loads(info_path.read_text())
    info["gpu_check"] = {"file_name": "gpu_check.json"}
    info_path.write_text(json.dumps(info, indent=2))
    return "gpu_check"


class NvmlSampler(threading.Thread):
    """Polls NVML (used memory, utilisation, power, temperature) until stopped; keeps the maxima."""

    def __init__(self, every: float = 0.25):
        super().__init__(daemon=True)
        self.every, self.samples, self._stop = every, [], threading.Event()

    def run(self) -> None:
        from medtui.core.env.gpu import snapshot

        while not self._stop.is_set():
            snap = snapshot()
            if snap.gpus:
                g = snap.gpus[0]
                self.samples.append({"t": time.time(), "used": g.memory_used, "util": g.utilization,
                                     "power_w": g.power_w, "temp": g.temperature})
            self._stop.wait(self.every)

    def stop(self) -> dict:
        self._stop.set()
        self.join(5)
        if not self.samples:
            return {"samples": 0}
        used = [s["used"] for s in self.samples]
        util = [s["util"] for s in self.samples if s["util"] is not None]
        power = [s["power_w"] for s in self.samples if s["power_w"] is not None]
        return {"samples": len(self.samples), "used_max": max(used), "used_min": min(used),
                "util_max": max(util) if util else None, "util_mean": sum(util) / len(util) if util else None,
                "power_max_w": max(power) if power else None,
                "temp_max": max((s["temp"] for s in self.samples if s["temp"] is not None), default=None)}


def last_vram(trainer_log: Path) -> tuple[float | None, float | None]:
    """The last vram_allocated / vram_reserved (GiB, peaks so far) logged with RECORD_VRAM=1."""
    alloc = reserved = None
    try:
        for line in trainer_log.read_text().splitlines():
            rec = json.loads(line)
            alloc = rec.get("vram_allocated", alloc)
            reserved = rec.get("vram_reserved", reserved)
    except (OSError, ValueError):
        pass
    return alloc, reserved


def steps_per_second(output_dir: Path, steps: int) -> float | None:
    try:
        return steps / float(json.loads((output_dir / "all_results.json").read_text())["train_runtime"])
    except (OSError, ValueError, KeyError, ZeroDivisionError):
        return None


def run_under_medtui(ws, yaml_path: Path, gpu: bool, timeout: float) -> dict:
    from medtui.core.runs.records import list_runs, load_run

    before = {r.id for r in list_runs(ws.runs_dir)}
    sampler = NvmlSampler() if gpu else None
    if sampler:
        sampler.start()
    t0 = time.time()
    proc = medtui("train", str(yaml_path), "--detach", "-w", str(ws.root), "--set", "memory_check=false")
    if proc.returncode != 0:
        if sampler:
            sampler.stop()
        return {"status": "refused", "error": (proc.stderr or proc.stdout)[-1500:]}
    run = next(r for r in list_runs(ws.runs_dir) if r.id not in before)
    while load_run(run.run_dir).is_running and time.time() - t0 < timeout:
        time.sleep(0.5)
    final = load_run(run.run_dir)
    out = {"run_id": run.id, "status": final.status, "seconds": round(time.time() - t0, 1)}
    if final.is_running:
        medtui("stop", run.id, "--kill", "-w", str(ws.root))
        out["status"] = "timed out"
    if final.status == "failed":
        out["error"] = final.reason()
    out["nvml"] = sampler.stop() if sampler else None
    out["output_dir"] = str(final.output_dir)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", action="store_true", help="smoke mode: tiny model on the CPU, no GPU needed")
    parser.add_argument("--out", default="gpu_check.json", help="report file (default gpu_check.json)")
    parser.add_argument("--steps", type=int, default=None, help="training steps per run (default 30; --cpu 3)")
    parser.add_argument("--cutoff", type=int, default=None, help="cutoff_len (default 1024; --cpu 32)")
    parser.add_argument("--batch", type=int, default=None, help="per-device batch (default 4; --cpu 1)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole check (default 480)")
    parser.add_argument("--methods", default="lora,full,qlora", help="comma separated from lora,full,qlora")
    parser.add_argument("--keep", metavar="DIR", help="build the workspace here and keep it")
    args = parser.parse_args()
    gpu = not args.cpu
    steps = args.steps or (3 if args.cpu else 30)
    cutoff = args.cutoff or (32 if args.cpu else 1024)
    batch = args.batch or (1 if args.cpu else 4)
    started = time.time()
    deadline = started + args.budget

    import yaml

    from medtui.core.demo import init_demo
    from medtui.core.env.gpu import snapshot
    from medtui.core.runs.runner import package_versions

    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "mode": "cpu-smoke" if args.cpu else "gpu",
                    "versions": package_versions(), "steps": steps, "cutoff_len": cutoff, "batch": batch,
                    "runs": []}
    snap = snapshot()
    report["gpu"] = [{"name": g.name, "memory_total": g.memory_total, "memory_used": g.memory_used,
                      "compute_capability": g.compute_capability, "driver": snap.driver, "cuda": snap.cuda}
                     for g in snap.gpus]
    report["gpu_used"] = bool(gpu and snap.gpus)
    if gpu and not snap.gpus:
        report["error"] = f"no GPU visible ({snap.reason}); use --cpu for the smoke mode"
        Path(args.out).write_text(json.dumps(report, indent=2))
        print(report["error"], file=sys.stderr)
        return 2

    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="medtui-gpucheck-")
    base = Path(args.keep) if args.keep else Path(tmp.name)
    try:
        ws = init_demo(base / "ws", say=lambda _m: None)
        model = ws.models_dir / ("qwen2-0.5b-random" if gpu else "qwen2-tiny-random")
        model.mkdir(parents=True, exist_ok=True)
        cfg_path = base / "qwen2-config.json"
        cfg_path.write_text(json.dumps(QWEN2_05B if gpu else TINY, indent=2))
        t = time.time()
        built = subprocess.run([sys.executable, "-c", BUILD_MODEL, str(ws.models_dir / "workflow-demo-tiny-qwen2"),
                                str(model), str(cfg_path)], capture_output=True, text=True)
        if built.returncode != 0:
            raise SystemExit(built.stderr[-2000:])
        report["model"] = {"shape": "Qwen2-0.5B" if gpu else "tiny Qwen2", "config": QWEN2_05B if gpu else TINY,
                           "parameters": json.loads(built.stdout.strip().splitlines()[-1])["parameters"],
                           "build_seconds": round(time.time() - t, 1)}
        dataset = write_dataset(ws, records=max(steps * batch, 8), words=cutoff * 2)
        (ws.state_dir).mkdir(parents=True, exist_ok=True)
        (ws.state_dir / "run-env.json").write_text(json.dumps({"RECORD_VRAM": "1"}))

        doctor = medtui("doctor", "--json", "-w", str(ws.root), timeout=180)
        try:
            report["doctor"] = json.loads(doctor.stdout)
        except ValueError:
            report["doctor"] = {"exit_code": doctor.returncode, "stdout": doctor.stdout[-3000:],
                                "stderr": doctor.stderr[-1000:]}
        report["nvml_before"] = report["gpu"]

        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        if "qlora" in methods and (not gpu or importlib.util.find_spec("bitsandbytes") is None):
            report["qlora_skipped"] = "bitsandbytes is not installed" if gpu else "QLoRA needs a GPU"
            methods.remove("qlora")
        common = {"stage": "sft", "do_train": True, "model_name_or_path": str(model), "dataset": dataset,
                  "dataset_dir": str(ws.data_dir), "template": "default",
                  "cutoff_len": cutoff, "per_device_train_batch_size": batch, "gradient_accumulation_steps": 1,
                  "max_steps": steps, "logging_steps": max(1, steps // 6), "save_steps": 100000,
                  "learning_rate": 1e-4, "preprocessing_num_workers": 1, "overwrite_output_dir": True,
                  "report_to": "none", "bf16": gpu, "plot_loss": False}
        per_method = {"lora": {"finetuning_type": "lora", "lora_rank": 8, "lora_target": "all"},
                      "full": {"finetuning_type": "full"},
                      "qlora": {"finetuning_type": "lora", "lora_rank": 8, "lora_target": "all",
                                "quantization_bit": 4}}
        lora_yaml = None
        for method in methods:
            remaining = deadline - time.time()
            if remaining < 60:
                report["runs"].append({"method": method, "status": "skipped: time budget"})
                continue
            cfg = {**common, **per_method[method], "output_dir": str(ws.saves_dir / f"check-{method}")}
            yaml_path = base / f"{method}.yaml"
            yaml_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            if method == "lora":
                lora_yaml = cfg
            est_proc = medtui("estimate", str(yaml_path), "--json", "-w", str(ws.root))
            try:
                estimate = json.loads(est_proc.stdout)
            except ValueError:
                estimate = {"error": est_proc.stderr[-1000:]}
            entry = {"method": method, "estimate": estimate}
            entry.update(run_under_medtui(ws, yaml_path, gpu, timeout=min(remaining - 30, 300)))
            out_dir = Path(entry.get("output_dir", ""))
            alloc, reserved = last_vram(out_dir / "trainer_log.jsonl")
            entry["torch_peak_allocated_gib"], entry["torch_peak_reserved_gib"] = alloc, reserved
            entry["steps_per_second"] = steps_per_second(out_dir, steps)
            est = estimate.get("per_gpu_bytes")
            nvml = (entry.get("nvml") or {}).get("used_max")
            if est and nvml:
                baseline = snap.gpus[0].memory_used if snap.gpus else 0
                entry["nvml_peak_used_bytes"] = nvml - baseline
                entry["estimate_over_nvml"] = round(est / max(nvml - baseline, 1), 3)
            if est and reserved:
                entry["estimate_over_torch_reserved"] = round(est / (reserved * 2 ** 30), 3)
            report["runs"].append(entry)
            print(f"{method}: {entry['status']}, estimate {est} B, torch reserved {reserved} GiB, "
                  f"NVML used {nvml}, {entry['steps_per_second']} steps/s", flush=True)

        if lora_yaml and deadline - time.time() > 60:
            from medtui.core.stages.builder import llamafactory_cli

            direct = dict(lora_yaml, output_dir=str(ws.saves_dir / "check-lora-direct"))
            yaml_path = base / "lora-direct.yaml"
            yaml_path.write_text(yaml.safe_dump(direct, sort_keys=False))
            env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMABOARD_")}
            with open(base / "direct.out", "wb") as so, open(base / "direct.err", "wb") as se:
                subprocess.run([llamafactory_cli(), "train", str(yaml_path)], stdout=so, stderr=se, env=env,
                               cwd=str(ws.root), timeout=max(60, deadline - time.time()), check=False)
            direct_sps = steps_per_second(Path(direct["output_dir"]), steps)
            if direct_sps is None:
                report["overhead_error"] = (base / "direct.err").read_text(errors="replace")[-1500:]
            medtui_sps = next((r.get("steps_per_second") for r in report["runs"] if r["method"] == "lora"), None)
            report["overhead"] = {"direct_steps_per_second": direct_sps, "medtui_steps_per_second": medtui_sps,
                                  "ratio": round(medtui_sps / direct_sps, 3) if direct_sps and medtui_sps else None}
        report["nvml_after"] = [{"name": g.name, "memory_used": g.memory_used, "utilization": g.utilization}
                                for g in snapshot().gpus]
    finally:
        report["seconds"] = round(time.time() - started, 1)
        Path(args.out).write_text(json.dumps(report, indent=2, default=str))
        if tmp is not None:
            tmp.cleanup()
    print(f"report: {args.out} ({report['seconds']} s)")
    failed = [r for r in report["runs"] if r.get("status") not in ("succeeded",) and "skipped" not in r["status"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
