"""``run.json``: reading and writing one run's record (the bottom of the runs package).

The states a record can hold are in :mod:`medtui.core.runs.states`; :mod:`medtui.core.runs.records`
coerces what a reader gets (:func:`medtui.core.runs.records.clean_record`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medtui.core.atomic import atomic_write_text
from medtui.core.errors import MedtuiError
from medtui.core.runs.states import FINAL, STOP_MARKER, error_line

__all__ = ["FINAL", "RUN_FILE", "STOP_MARKER", "write_record", "read_record", "last_error_line"]

RUN_FILE = "run.json"


def write_record(run_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_text(run_dir / RUN_FILE, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def read_record(run_dir: Path) -> dict[str, Any]:
    """The raw ``run.json`` of ``run_dir``; MedtuiError (one line) when it is missing, unreadable, or lacks
    what every view needs (see :func:`_record_problem`); ``records.clean_record`` coerces the rest."""
    path = run_dir / RUN_FILE
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise MedtuiError(f"no run record in {run_dir}") from None
    except IsADirectoryError:
        raise MedtuiError(f"{path}: is a folder, not a run record") from None
    except OSError as exc:
        raise MedtuiError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise MedtuiError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MedtuiError(f"{path}: unreadable run record ({str(exc)[:120]})") from None
    problem = _record_problem(data)
    if problem:
        raise MedtuiError(f"{path}: unreadable run record ({problem})")
    return data


def _record_problem(record: Any) -> str:
    """What makes a record unusable by every view (then it is skipped and named, never fatal)."""
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
    """The most telling line near the end of a log (see :func:`medtui.core.runs.states.error_line`)."""
    return error_line(path, max_bytes)
