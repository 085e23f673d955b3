"""Benchmarks for the doctor, downloads and model check: ``python bench/bench_envdl.py``.

Each figure is printed with its ratio to an anchor measured in the same run:
- SDK import: ``from modelscope import snapshot_download`` vs the light
  ``modelscope_hub.compat`` path, anchor ``python -c pass``;
- download: 64 MiB through medtui's worker (real SDK, progress events, sha256) from the loopback
  fake hub, anchor a plain urllib GET of the same bytes from the same server; plus a repeat
  run (nothing fetched, hashes re-checked);
- doctor: time to the first result and to the last (torch probe), anchor ``python -c 'import torch'``;
- model check of the demo model: safetensors header count (no torch) vs the full check with loading.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medtui.core.env import doctor  # noqa: E402
from medtui.core.hub import download  # noqa: E402
from medtui.core.workspace import Workspace  # noqa: E402
from tests.fakehub import FakeHub  # noqa: E402


def timed(argv: list[str], repeat: int = 3, env: dict | None = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env)
        best = min(best, time.perf_counter() - start)
    return best


def line(label: str, seconds: float, anchor: float, unit: str = "s") -> None:
    print(f"  {label:<58} {seconds:8.3f} {unit}   x{seconds / anchor:6.2f}")


def bench_imports() -> None:
    print("SDK import (best of 3), ratio to `python -c pass`:")
    anchor = timed([sys.executable, "-c", "pass"])
    line("python -c pass (anchor)", anchor, anchor)
    line("from modelscope import snapshot_download", timed([sys.executable, "-c", "from modelscope import snapshot_download"]), anchor)
    line("from modelscope_hub.compat.snapshot_download import ...",
         timed([sys.executable, "-c", "from modelscope_hub.compat.snapshot_download import snapshot_download"]), anchor)


def bench_download(tmp: Path) -> None:
    size = 64 * 1024 * 1024
    data = os.urandom(1024 * 1024) * 64
    hub = FakeHub()
    hub.add("models", "bench/Big", {"model.safetensors": data, "config.json": b"{}"})
    url = hub.start()
    try:
        start = time.perf_counter()
        with urllib.request.urlopen(f"{url}/api/v1/models/bench/Big/repo?Revision=master&FilePath=model.safetensors") as r:
            while r.read(1 << 20):
                pass
        anchor = time.perf_counter() - start
        print("Download of 64 MiB from the loopback fake hub, ratio to a plain urllib GET:")
        line("urllib GET (anchor)", anchor, anchor)
        ws = Workspace.open(tmp / "ws")
        ws.ensure_layout()
        env = download.worker_env(extra={"MODELSCOPE_CACHE": str(tmp / "c"), "MODELSCOPE_HOME": str(tmp / "h"),
                                         "MODELSCOPE_DOWNLOAD_INTRA_CLOUD": "false"})
        req = download.make_request(ws, "model", "bench/Big", endpoint=url)
        took = {}
        for label in ("medtui worker, fresh (SDK + sha256 + events)", "medtui worker, repeat (nothing fetched)"):
            start = time.perf_counter()
            state = download.run(req, env=env)
            took[label] = time.perf_counter() - start
            assert state.status == "done", state.message
            line(label, took[label], anchor)
        fresh = next(iter(took.values()))
        print(f"  throughput: urllib {size / 2**20 / anchor:.0f} MiB/s, medtui worker {size / 2**20 / fresh:.0f} MiB/s "
              "(including the worker's ~0.5 s start)")
    finally:
        hub.stop()


def bench_doctor(tmp: Path) -> None:
    print("Doctor, ratio to `python -c 'import torch'`:")
    anchor = timed([sys.executable, "-c", "import torch"], repeat=1)
    line("import torch (anchor)", anchor, anchor)
    ws = Workspace.open(tmp)
    start = time.perf_counter()
    first = None
    for _ in doctor.iter_checks(ws):
        first = first or time.perf_counter() - start
    total = time.perf_counter() - start
    line("first result on screen", first, anchor)
    line("all 15 checks (torch probe in a subprocess)", total, anchor)


def bench_modelcheck(tmp: Path) -> None:
    from medtui.core.demo import init_demo
    from medtui.core.hub.modelcheck import inspect

    ws = init_demo(tmp / "demo", say=lambda m: None)
    folder = ws.models_dir / "workflow-demo-tiny-qwen2"
    print("Model check of the demo model, ratio to the files-only check:")
    start = time.perf_counter()
    inspect(folder, load=False)
    anchor = time.perf_counter() - start
    line("files + safetensors headers (anchor)", anchor, anchor)
    start = time.perf_counter()
    report = inspect(folder)
    line("with config + tokenizer loaded in a subprocess", time.perf_counter() - start, anchor)
    assert report.status == "ok", report.problems


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        bench_imports()
        bench_download(Path(tmp))
        bench_doctor(Path(tmp))
        if "--no-model" not in sys.argv:
            bench_modelcheck(Path(tmp))
