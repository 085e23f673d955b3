"""Time the demo pipeline's PPO stage (medtui's engine on TRL's PPOTrainer) on the tiny demo model.

Target: the demo PPO run finishes in well under a minute on a 2-core CPU. Anchor: the demo RM
stage (``llamafactory-cli train --stage rm`` on the same model), measured in the same run.

    python bench/bench_ppo_demo.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from medtui.core.demo import init_demo  # noqa: E402
from medtui.core.runs.records import list_runs  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = init_demo(Path(tmp) / "ws")
        env = dict(os.environ, PYTHONPATH=str(ROOT), TQDM_DISABLE="1")
        proc = subprocess.run([sys.executable, "-m", "medtui", "pipeline", "demo", "--workspace", str(ws.root),
                               "--only", "pt,sft,rm,ppo"], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            sys.exit(f"pipeline failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        runs = {r.stage: r for r in list_runs(ws.runs_dir)}
        ppo, rm = runs["ppo"], runs["rm"]
        ppo_wall, rm_wall = ppo.ended - ppo.started, rm.ended - rm.started
        results = json.loads((ppo.output_dir / "all_results.json").read_text())
        steps, train_s = results["train_steps"], results["train_runtime"]
        print(f"demo PPO run (start to end, imports and model loading included): {ppo_wall:.1f} s")
        print(f"  PPO training loop: {train_s:.1f} s for {steps} PPO steps ({train_s / steps:.2f} s/step)")
        print(f"  load and save around it: {ppo_wall - train_s:.1f} s")
        print(f"anchor, demo RM run (llamafactory-cli): {rm_wall:.1f} s; PPO/RM ratio {ppo_wall / rm_wall:.2f}")
        print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
