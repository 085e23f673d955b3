"""Render benchmark: how long a record takes to appear "as the model sees it".

Builds the demo workspace in a temporary folder, then measures on the demo model:

* the anchor: ``python -c "import llamafactory.data"`` (what any template-aware tool pays first);
* a one-shot ``medtui data render``-style worker (``render_record``: start, imports, tokenizer, one record);
* a :class:`RenderSession`'s first record (the same cost, paid once per Datasets screen) and the mean of the
  next records (tokenizer loaded: what paging through records in the Render tab costs).

    python bench/bench_render.py [--records 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medtui.core.data.render import RenderSession, render_record, render_request  # noqa: E402
from medtui.core.demo import DEMO_MODEL, init_demo  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        ws = init_demo(Path(tmp) / "ws")
        model = str(ws.models_dir / DEMO_MODEL)

        def request(i: int) -> dict:
            return render_request(dataset="demo_sft_train_data", dataset_dir=ws.data_dir, model=model,
                                  template="qwen", index=i % 19, cutoff_len=64)

        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import llamafactory.data"], check=True, capture_output=True)
        anchor = time.perf_counter() - t

        t = time.perf_counter()
        render_record(request(0))
        one_shot = time.perf_counter() - t

        session = RenderSession()
        try:
            t = time.perf_counter()
            session.render(request(0))
            first = time.perf_counter() - t
            t = time.perf_counter()
            for i in range(1, args.records + 1):
                session.render(request(i))
            warm = (time.perf_counter() - t) / args.records
        finally:
            session.close()
    load = os.getloadavg()[0]
    print(f"load average {load:.1f}")
    print(f"anchor: import llamafactory.data        {anchor:7.2f} s  1.00")
    print(f"one-shot render (CLI)                   {one_shot:7.2f} s  {one_shot / anchor:.2f}")
    print(f"session: first record                   {first:7.2f} s  {first / anchor:.2f}")
    print(f"session: next records, mean of {args.records:<3}      {warm * 1000:7.1f} ms {warm / anchor:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
