"""`medtui train --dry-run` (plan + pre-flight, no torch) against `llamafactory-cli version`.

Target: planning < 0.5 s. Run from the repo root:  python bench/bench_dry_run.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from medtui.core.demo import init_demo  # noqa: E402
from medtui.core.stages.builder import llamafactory_cli  # noqa: E402

CONFIG = """stage: sft
finetuning_type: lora
model_name_or_path: models/workflow-demo-tiny-qwen2
dataset: demo_sft_train_data
template: default
output_dir: saves/bench
"""


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0,):
        raise SystemExit(f"{argv} failed: {proc.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = init_demo(Path(tmp) / "ws")
        cfg = Path(tmp) / "sft.yaml"
        cfg.write_text(CONFIG)
        dry = [sys.executable, "-m", "medtui", "train", str(cfg), "--dry-run", "--workspace", str(ws.root)]
        timed(dry)  # warm the file cache
        ours = [timed(dry) for _ in range(args.repeat)]
        anchor = [timed([llamafactory_cli(), "version"]) for _ in range(max(2, args.repeat // 2))]
    m, a = statistics.median(ours), statistics.median(anchor)
    print(f"medtui train --dry-run (median of {len(ours)}): {m:.3f} s   target < 0.5 s")
    print(f"anchor: llamafactory-cli version (median of {len(anchor)}): {a:.3f} s")
    print(f"ratio: dry-run takes {m / a:.1%} of the anchor ({a / m:.0f}x faster)")


if __name__ == "__main__":
    main()
