"""Replay a 1,000,000-line trainer_log.jsonl, then read 10 new lines incrementally.

Targets: full replay < 1.5 s; 10 new lines < 5 ms. Anchor: LlamaBoard's way of refreshing
(re-reading and json-parsing every line of the file on each poll), measured in the same run.

    python bench/bench_log_replay.py [--lines 1000000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from medtui.core.runs.follow import RunReader  # noqa: E402


def record(step: int, total: int) -> str:
    return json.dumps({"current_steps": step, "total_steps": total, "loss": 2.5 / (1 + step * 1e-5),
                       "lr": 5e-5, "epoch": round(step / total * 3, 4), "percentage": round(step / total * 100, 2),
                       "elapsed_time": "1:02:03", "remaining_time": "0:12:34", "throughput": 1234.56,
                       "total_tokens": step * 512}) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trainer_log.jsonl"
        with open(path, "w") as fh:
            for start in range(1, args.lines + 1, 10000):
                fh.write("".join(record(s, args.lines) for s in range(start, min(start + 10000, args.lines + 1))))
        size = path.stat().st_size

        replays, fulls = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            reader = RunReader(path)
            reader.poll()
            replays.append(time.perf_counter() - t0)
        assert reader.progress.steps == args.lines and reader.progress.sampled
        for _ in range(2):
            t0 = time.perf_counter()
            full = RunReader(path)
            full.SAMPLE_ABOVE = size + 1  # force parsing every line
            full.poll()
            fulls.append(time.perf_counter() - t0)
        assert len(full.progress.series["loss"][1]) == args.lines

        t0 = time.perf_counter()
        with open(path) as fh:
            anchor = [json.loads(line) for line in fh]
        anchor_s = time.perf_counter() - t0
        assert len(anchor) == args.lines

        increments = []
        for i in range(50):
            with open(path, "a") as fh:
                fh.write("".join(record(args.lines + i * 10 + k, args.lines) for k in range(1, 11)))
            t0 = time.perf_counter()
            new = reader.poll()
            increments.append(time.perf_counter() - t0)
            assert len(new) == 10

        replay, full_s = min(replays), min(fulls)
        inc = statistics.median(increments)
        print(f"file: {args.lines:,} lines, {size / 1e6:.0f} MB")
        print(f"replay on open (tail parsed, history sampled; best of 3): {replay:.3f} s   target < 1.5 s")
        print(f"replay parsing every line (best of 2): {full_s:.3f} s")
        print(f"anchor: per-line json.loads of the whole file (LlamaBoard's refresh): {anchor_s:.3f} s "
              f"-> open is {anchor_s / replay:.0f}x faster, full parse {anchor_s / full_s:.2f}x")
        print(f"10 new lines incrementally (median of 50): {inc * 1000:.3f} ms   target < 5 ms "
              f"({anchor_s / inc:.0f}x less than a full re-read)")


if __name__ == "__main__":
    main()
