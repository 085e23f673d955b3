"""Dataset preview benchmark: medtui's streaming preview vs. LlamaBoard's ``json.load`` per page.

Generates a JSON array of medical-dialogue-like records (default 320 MB) in a temporary folder
(deleted afterwards unless --keep), then measures each case in a fresh subprocess: wall time of
the read (interpreter start and imports excluded) and the process's peak RSS.

    python bench/bench_preview.py [--size-mb 320] [--deep 500000] [--dir DIR] [--keep]

Cases: the anchor (``json.load`` of the whole file, then 2 records, which LlamaBoard repeats
on every page turn); medtui's first page; a deep page cold (no index yet); a nearby deep page
warm (same process, checkpoint index built); a deep page in a new process reusing the on-disk
index cache; and a full count (the background index pass).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = 5

WORDS = ["患者", "头痛", "发热", "咳嗽", "高血压", "糖尿病", "建议", "检查", "血常规", "服用", "每日", "两次",
         "医生", "症状", "持续", "三天", "布洛芬", "休息", "饮食", "清淡", "复诊", "mg", "CT", "B超", "。", ","]


def generate(path: Path, size_mb: int, seed: int = 0) -> int:
    """Write a JSON array of at least ``size_mb`` MB; returns the record count."""
    rng = random.Random(seed)
    target = size_mb * 1_000_000
    n = written = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[\n")
        while written < target:
            record = {"instruction": "".join(rng.choices(WORDS, k=rng.randint(6, 24))),
                      "input": "".join(rng.choices(WORDS, k=rng.randint(0, 20))),
                      "output": "".join(rng.choices(WORDS, k=rng.randint(30, 100))) + f" (#{n})"}
            text = ("" if n == 0 else ",\n") + "  " + json.dumps(record, ensure_ascii=False)
            fh.write(text)
            written += len(text.encode("utf-8"))
            n += 1
        fh.write("\n]\n")
    return n


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
case, path, deep, cache = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] or None
out = {}
if case == "anchor":
    t = time.perf_counter()
    with open(path, encoding="utf-8") as fh:
        records = json.load(fh)
    page = records[0:2]
    out["seconds"] = time.perf_counter() - t
    out["check"] = page[0]["output"][-6:]
else:
    from medtui.core.data.reader import DatasetReader
    t = time.perf_counter()
    reader = DatasetReader(path, cache)
    if case == "first":
        page = reader.page(0, 5)
    elif case == "count":
        out["records"] = reader.count()
        page = []
    else:
        page = reader.page(deep, 5)
    out["seconds"] = time.perf_counter() - t
    if case == "deep":
        t = time.perf_counter()
        warm = reader.page(deep - 1000, 5) + reader.page(deep + 37, 5)
        out["warm_seconds"] = (time.perf_counter() - t) / 2
        out["warm_check"] = warm[0][1]["output"][-10:]
    out["check"] = page[0][1]["output"][-10:] if page else ""
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out, ensure_ascii=False))
"""


def run(case: str, path: Path, deep: int, cache: Path | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), case, str(path), str(deep),
                           str(cache) if cache else ""], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"{case} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=320)
    parser.add_argument("--deep", type=int, default=500_000, help="record number of the deep page")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the file (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="medtui-bench-", dir=args.dir))
    path = folder / "big_dialogue.json"
    try:
        t = time.perf_counter()
        n = generate(path, args.size_mb)
        size = path.stat().st_size
        print(f"generated {size / 1e6:.0f} MB, {n} records in {time.perf_counter() - t:.1f} s: {path}")
        deep = min(args.deep, n - PAGE)
        anchor = run("anchor", path, deep)
        first = run("first", path, deep)
        deep_cold = run("deep", path, deep)
        count = run("count", path, deep, cache=folder / "index-cache")
        deep_cached = run("deep", path, deep, cache=folder / "index-cache")
        assert first["check"].endswith("(#0)"), first
        assert deep_cold["check"].endswith(f"(#{deep})") and deep_cached["check"] == deep_cold["check"]
        assert count["records"] == n

        rows = [
            ("json.load of the whole file, 2 records (LlamaBoard, every page turn)", anchor["seconds"],
             anchor["peak_rss_mb"]),
            ("medtui first page (5 records)", first["seconds"], first["peak_rss_mb"]),
            (f"medtui page at record {deep:,}, cold (no index yet)", deep_cold["seconds"], deep_cold["peak_rss_mb"]),
            (f"medtui page near record {deep:,}, warm (same process)", deep_cold["warm_seconds"], None),
            (f"medtui page at record {deep:,}, new process, cached index", deep_cached["seconds"],
             deep_cached["peak_rss_mb"]),
            (f"medtui full count / index pass ({n:,} records)", count["seconds"], count["peak_rss_mb"]),
        ]
        print("\n| case | time | peak RSS |\n| --- | ---: | ---: |")
        for label, seconds, rss in rows:
            shown = f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"
            print(f"| {label} | {shown} | {'-' if rss is None else f'{rss:.0f} MB'} |")
        ratio = anchor["seconds"] / first["seconds"]
        print(f"\nfirst page: {ratio:,.0f}x faster than json.load (target >= 20x), peak RSS "
              f"{first['peak_rss_mb']:.0f} MB vs {anchor['peak_rss_mb']:.0f} MB (target <= 250 MB)")
        print(f"deep page: cold {deep_cold['seconds']:.2f} s ({anchor['seconds'] / deep_cold['seconds']:.1f}x "
              f"json.load's speed, one streaming pass); warm {anchor['seconds'] / deep_cold['warm_seconds']:,.0f}x "
              f"faster; new process with the cached index {anchor['seconds'] / deep_cached['seconds']:,.0f}x faster")
        ok = ratio >= 20 and max(first["peak_rss_mb"], deep_cold["peak_rss_mb"], count["peak_rss_mb"]) <= 250
        print("targets met" if ok else "TARGETS MISSED")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
