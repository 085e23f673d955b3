"""``run.json``: reading and writing one run's record (the bottom of the runs package)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from medtui.core.atomic import atomic_write_text
from medtui.core.errors import MedtuiError

RUN_FILE = "run.json"
STOP_MARKER = "stop_requested"
FINAL = ("succeeded", "failed", "stopped")


def write_record(run_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_text(run_dir / RUN_FILE, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def read_record(run_dir: Path) -> dict[str, Any]:
    """The record in ``run_dir``; MedtuiError when it is missing, not JSON, or lacks what every view needs."""
    try:
        record = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MedtuiError(f"no run record in {run_dir}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MedtuiError(f"{run_dir / RUN_FILE}: unreadable run record ({exc})") from None
    problem = _record_problem(record)
    if problem:
        raise MedtuiError(f"{run_dir / RUN_FILE}: unreadable run record ({problem})")
    return record


def _record_problem(record: Any) -> str:
    if not isinstance(record, dict):
        return "not a JSON object"
    for key in ("id", "output_dir"):
        if not isinstance(record.get(key), str) or not record[key]:
            return f"no {key}"
    for key in ("started", "ended"):
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{key} is not a time"
    return ""


def last_error_line(path: Path, max_bytes: int = 65536) -> str:
    """The most telling line near the end of a log: the last ``...Error: ...`` line, else the last line."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception")) or head.endswith("Interrupt"):
            return line
    return lines[-1] if lines else ""
