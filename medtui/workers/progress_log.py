"""Progress of a medtui worker run in llamafactory's ``trainer_log.jsonl`` format."""

from __future__ import annotations

import json
import time
from pathlib import Path


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressLog:
    """Appends llamafactory-style progress records to trainer_log.jsonl."""

    def __init__(self, path: Path, total: int) -> None:
        self.path, self.total, self.start = path, total, time.time()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, done: int, subject: str | None = None) -> None:
        elapsed = time.time() - self.start
        remaining = elapsed / done * (self.total - done) if done else 0
        record = {"current_steps": done, "total_steps": self.total,
                  "percentage": round(done / self.total * 100, 2) if self.total else 100,
                  "elapsed_time": _clock(elapsed), "remaining_time": _clock(remaining)}
        if subject:
            record["subject"] = subject
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
