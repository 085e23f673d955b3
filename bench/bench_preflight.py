"""Pre-flight on a large dataset (sampled checks), and `medtui train --dry-run` on the demo workspace.

Targets: pre-flight < 1 s on a 300 MB dataset; `train --dry-run` < 0.5 s on the demo workspace.
Anchors in the same run: reading the 300 MB file once (raw bytes), and `python -c pass`.
Run from the repo root:  python bench/bench_preflight.py [--mb 300] [--repeat 5]
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
from medtui.core.data.registry import DatasetRegistry  # noqa: E402
from medtui.core.demo import init_demo  # noqa: E402
from medtui.core.stages import preflight  # noqa: E402
from medtui.core.stages.builder import build_plan  # noqa: E402

CONFIG = """stage: sft
finetuning_type: lora
model_name_or_path: models/workflow-demo-tiny-qwen2
dataset: demo_sft_train_data
template: default
output_dir: saves/bench
"""


def big_dataset(path: Path, mb: int) -> int:
    """A JSON array of alpaca records, about ``mb`` MB, mixed Chinese and ASCII text."""
    text = "患者头痛三天,伴有低热,应当如何处理?" * 4 + " please answer briefly. " * 4
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[\n")
        while fh.tell() < mb * 1_000_000:
            for _ in range(1000):
                rec = {"instruction": f"{n} {text}", "input": "", "output": text[::-1]}
                fh.write(("," if n else "") + json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
        fh.write("]\n")
    return n


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="also time one full validation pass (every record)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = init_demo(Path(tmp) / "ws")
        big = ws.data_dir / "big.json"
        t0 = time.perf_counter()
        n = big_dataset(big, args.mb)
        print(f"wrote {big.stat().st_size / 1e6:.0f} MB, {n} records in {time.perf_counter() - t0:.1f} s")
        DatasetRegistry(ws.registry_path).add("big", {"file_name": "big.json", "columns": {
            "prompt": "instruction", "query": "input", "response": "output"}})
        env = preflight.Environment(bf16_support=lambda: (True, ""))
        plan = build_plan({"stage": "sft", "model_name_or_path": "models/workflow-demo-tiny-qwen2", "dataset": "big",
                           "template": "default", "output_dir": "saves/big", "finetuning_type": "lora"}, ws)
        problems = preflight.check(plan, ws, env)
        assert not preflight.errors(problems), problems
        ours = median_time(lambda: preflight.check(plan, ws, env), args.repeat)

        def read_all():
            with open(big, "rb") as fh:
                while fh.read(16 << 20):
                    pass

        anchor = median_time(read_all, args.repeat)
        print(f"pre-flight, {args.mb} MB dataset (median of {args.repeat}): {ours:.3f} s   target < 1 s")
        print(f"anchor: read the file once (median of {args.repeat}): {anchor:.3f} s   ratio {ours / anchor:.2f}")
        if args.full:
            from medtui.core.data.validation import validate_dataset

            entry = {"file_name": "big.json", "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
            full = median_time(lambda: validate_dataset(big, entry, "sft"), 1)
            print(f"for comparison, validating every record (medtui data validate): {full:.1f} s "
                  f"({full / ours:.0f}x the sampled pre-flight)")

        cfg = Path(tmp) / "sft.yaml"
        cfg.write_text(CONFIG)
        dry = [sys.executable, "-m", "medtui", "train", str(cfg), "--dry-run", "--workspace", str(ws.root)]
        # an installed medtui has its bytecode cached; a dev shell with PYTHONDONTWRITEBYTECODE would time the compiler
        child_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(dry, capture_output=True, cwd=ROOT, check=True, env=child_env)  # warm caches

        def run(argv):
            return lambda: subprocess.run(argv, capture_output=True, cwd=ROOT, check=True, env=child_env)

        dry_t = median_time(run(dry), args.repeat)
        bare = median_time(run([sys.executable, "-c", "pass"]), args.repeat)
        print(f"medtui train --dry-run, demo workspace (median of {args.repeat}): {dry_t:.3f} s   target < 0.5 s")
        print(f"anchor: python -c pass (median of {args.repeat}): {bare:.3f} s   ratio {dry_t / bare:.1f}")


if __name__ == "__main__":
    main()
