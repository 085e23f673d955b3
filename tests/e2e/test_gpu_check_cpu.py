"""bench/gpu_check.py --cpu: the GPU proof's code path, end to end on a tiny model (no GPU here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_cpu_smoke_writes_a_complete_report(tmp_path):
    out = tmp_path / "report.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "bench/gpu_check.py", "--cpu", "--out", str(out), "--budget", "900"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert out.is_file(), proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert proc.returncode == 0, json.dumps(report, indent=1)[-3000:] + proc.stderr[-2000:]
    assert report["mode"] == "cpu-smoke" and report["gpu_used"] is False
    assert report["qlora_skipped"] == "QLoRA needs a GPU"
    runs = {r["method"]: r for r in report["runs"]}
    assert set(runs) == {"lora", "full"}
    for run in runs.values():
        assert run["status"] == "succeeded", run
        assert run["estimate"]["per_gpu_bytes"] > 0 and run["estimate"]["fits"] is None  # no GPU to fit
        assert run["steps_per_second"] and run["steps_per_second"] > 0
    assert runs["full"]["estimate"]["per_gpu_bytes"] > runs["lora"]["estimate"]["per_gpu_bytes"]
    assert report["overhead"]["ratio"] and report["overhead"]["direct_steps_per_second"] > 0
    assert isinstance(report["doctor"], list) and any(c.get("id") for c in report["doctor"])
    assert report["model"]["parameters"] > 0 and report["seconds"] < 900
